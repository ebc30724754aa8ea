"""asyncweb: PEP 222's web library as a small async ASGI framework."""

from .app import App, Handler
from .errors import BadRequest, ClientDisconnect, HTTPError, PayloadTooLarge
from .forms.reader import FormData
from .forms.uploads import UploadFile
from .headers import Headers, MutableHeaders
from .limits import Limits
from .multidict import MultiDict
from .query import QueryError, QueryParser, build_query, parse_query
from .request import Request
from .response import Response
from .runner import run
from .templating import NoKeyErrors, PartialStringSubstitution

TYPE_CHECKING = False
if TYPE_CHECKING:
    from .cgi.parse import parse_request, request_from_handler
    from .cgi.wsgi import WSGIGateway
    from .filebody import FileBody

__version__ = "0.2.0.dev0"

# Imported on first use: an app served over ASGI needs none of them (nor
# a response with no file).
_LAZY = {
    "FileBody": "asyncweb.filebody",
    "parse_request": "asyncweb.cgi.parse",
    "request_from_handler": "asyncweb.cgi.parse",
    "WSGIGateway": "asyncweb.cgi.wsgi",
}


def __getattr__(name: str) -> object:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'asyncweb' has no attribute {name!r}")
    import importlib

    return getattr(importlib.import_module(module), name)


__all__ = [
    "App",
    "BadRequest",
    "ClientDisconnect",
    "FileBody",
    "FormData",
    "HTTPError",
    "Handler",
    "Headers",
    "Limits",
    "MultiDict",
    "MutableHeaders",
    "NoKeyErrors",
    "PartialStringSubstitution",
    "PayloadTooLarge",
    "QueryError",
    "QueryParser",
    "Request",
    "Response",
    "UploadFile",
    "WSGIGateway",
    "__version__",
    "build_query",
    "parse_query",
    "parse_request",
    "request_from_handler",
    "run",
]
