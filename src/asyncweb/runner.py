"""`asyncweb.run(app)`: PEP 222's `wrapper`, for a script's `__main__`.

It serves the app the way the process was started: as a CGI script, as a
FastCGI application handed a listening socket, or from a terminal in the
debugging mode. Each mode's module is imported only when it is the one.
"""

from __future__ import annotations

import os
import sys

from .types import ASGIApp

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import NoReturn


def run(app: ASGIApp, *, event_loop: bool | None = None) -> NoReturn:
    """Serve `app` (any ASGI application) and exit.

    - GATEWAY_INTERFACE set: one CGI request, from the environment and stdin;
      an asyncweb App runs with no event loop unless the process imported
      an async library, or `event_loop=True` (`cgi.host.respond`).
    - fd 0 a listening socket: FastCGI, as lighttpd or spawn-fcgi start it.
    - otherwise the debugging mode of `asyncweb call` with the script's
      arguments: `script.py [METHOD] [PATH] [name=value]... [Header:value]...`,
      fields also read from a non-terminal stdin as `name=value` lines.
    """
    if os.environ.get("GATEWAY_INTERFACE"):
        from .cgi.host import respond

        raise SystemExit(respond(app, event_loop=event_loop, outlive_the_host=True))
    from .fastcgi import is_listening_socket

    if is_listening_socket(0):
        import logging

        from .fastcgi import run_server

        logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
        run_server(app, "fd:0")
        raise SystemExit(0)
    from .cgi.call import call

    raise SystemExit(call(app, sys.argv[1:]))
