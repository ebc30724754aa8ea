"""ASGI type aliases shared by every module."""

from collections.abc import Awaitable, Callable, MutableMapping

# As in every module on the CGI path: not typing's TYPE_CHECKING, whose import and
# teardown every CGI process would pay for (benchmarks/cgi_startup.py).
TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any
    from typing import overload as overload
else:

    def overload(function: object) -> object:
        """typing.overload's place at run time: the definition after the
        overloads is the one that stays."""
        return function


Scope = MutableMapping[str, "Any"]
Message = MutableMapping[str, "Any"]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

# The scope extension of asyncweb's loop-free runner (`cgi.noloop`, for CGI):
# receive() and send() block and no event loop runs, so an app must neither
# start timers nor tasks. The host times reads out; nobody can disconnect.
NO_EVENT_LOOP = "asyncweb.no_event_loop"


# The scope extension of the CGI and FastCGI gateways: every variable the
# host sent (REMOTE_USER, DOCUMENT_ROOT, custom fastcgi_params...), which
# `Request.env` gives as it came.
CGI_ENVIRON = "asyncweb.cgi_environ"


def has_event_loop(scope: Scope) -> bool:
    return NO_EVENT_LOOP not in (scope.get("extensions") or ())


# The ASGI extension by which the server sends a file itself, given its
# absolute path: the app sends {"type": "http.response.pathsend", "path": ...}
# after http.response.start, and the response is complete.
PATHSEND = "http.response.pathsend"
