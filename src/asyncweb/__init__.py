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

__version__ = "0.1.0"

__all__ = [
    "App",
    "BadRequest",
    "ClientDisconnect",
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
    "__version__",
    "build_query",
    "parse_query",
    "run",
]
