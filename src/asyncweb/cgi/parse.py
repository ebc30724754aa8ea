"""A Request outside any server, built synchronously: PEP 222's constructor,
`Request(environ=os.environ, stdin=sys.stdin, keep_blank_values=1,
strict_parsing=0)`, for code that holds a CGI or WSGI environ and a body
stream: a CGI script, a WSGI app, an `http.server` handler.

The same scope, exchange, decoders, limits and zero-copy spooling as every
other way in: the body is pulled from the stream by `one_request`'s rules
and the form parsed by `forms` with no event loop. Bad input raises the
`HTTPError` the App would answer with (400, 411, 413). It writes nothing
back: the response is the caller's.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Mapping
from urllib.parse import unquote_to_bytes

from .._config import Config, digest_name
from ..errors import BadRequest, HTTPError
from ..limits import Limits, MiB
from ..request import Request
from ..types import NO_EVENT_LOOP
from .host import environ_from_os
from .noloop import run_without_loop
from .one_request import PulledExchange, read_chunks
from .variables import GATEWAY_INTERFACE, InvalidLength, content_length, scope_from_environ

TYPE_CHECKING = False
if TYPE_CHECKING:
    from http.server import BaseHTTPRequestHandler
    from typing import Any, BinaryIO, TextIO

    from ..forms.uploads import TargetFunction


def parse_request(
    environ: Mapping[str, str] | None = None,
    stdin: BinaryIO | TextIO | None = None,
    *,
    keep_blank_values: bool = True,
    strict_parsing: bool = False,
    limits: Limits | None = None,
    upload_dir: str | None = None,
    spool_size: int = MiB,
    upload_target: TargetFunction | None = None,
    upload_digest: str | None = None,
    trust_proxy: bool = False,
) -> Request:
    """The request a CGI or WSGI environ and its body stream describe, its
    form read and parsed (uploads spooled as the App spools them).

    `environ` defaults to the process environment and `stdin` to binary
    stdin; a text stream is read through its binary buffer. Use the
    request as a context manager, or call `close()`, to delete its upload
    temp files. `keep_blank_values=False` leaves fields without a value
    out, as `cgi.FieldStorage` did by default.
    """
    if environ is None or environ is os.environ:
        environ = environ_from_os()  # as bytes decoded latin-1, whatever the locale
    source: Any = sys.stdin if stdin is None else stdin
    read: Callable[[int], bytes] = getattr(source, "buffer", source).read  # a text stream's bytes
    config = Config(
        strict_parsing=strict_parsing,
        trust_proxy=trust_proxy,
        limits=limits or Limits(),
        upload_dir=upload_dir,
        spool_size=spool_size,
        upload_target=upload_target,
        upload_digest=digest_name(upload_digest),
        keep_blank_values=keep_blank_values,
    )
    try:
        length = content_length(environ)
    except InvalidLength as exc:
        raise BadRequest(str(exc)) from None
    if length is None and "wsgi.input" in environ and not environ.get("wsgi.input_terminated"):
        # PEP 3333: reading past the body of unknown length may block forever.
        raise HTTPError(411, "a body of unknown length needs a server that sets wsgi.input_terminated")
    scope = scope_from_environ(environ)
    scheme = environ.get("wsgi.url_scheme")
    if scheme in ("http", "https"):
        scope["scheme"] = scheme
    scope["extensions"][NO_EVENT_LOOP] = {}
    exchange = PulledExchange(read_chunks(read, length), length, _discard)
    request = Request(scope, exchange.receive, config)
    if strict_parsing:
        request.query  # noqa: B018 - strict parsing refuses a bad query here, as the App does
    if request.has_form_body:
        run_without_loop(request.form())
    return request


def request_from_handler(handler: BaseHTTPRequestHandler, **options: object) -> Request:
    """`parse_request` inside an `http.server.BaseHTTPRequestHandler`'s
    `do_GET`/`do_POST`: the request line, headers and body of `handler`.
    http.server does not de-chunk: a chunked body is refused (411)."""
    path, _, query = handler.path.partition("?")
    address = handler.server.server_address
    host, port = (address[0], address[1]) if isinstance(address, tuple) else (str(address), 0)
    client = handler.client_address
    environ = {
        "GATEWAY_INTERFACE": GATEWAY_INTERFACE,
        "SERVER_PROTOCOL": handler.request_version,
        "REQUEST_METHOD": handler.command,
        "SCRIPT_NAME": "",
        "PATH_INFO": unquote_to_bytes(path).decode("latin-1"),
        "QUERY_STRING": query,
        "SERVER_NAME": str(host),
        "SERVER_PORT": str(port),
        "REMOTE_ADDR": str(client[0]),
        "REMOTE_PORT": str(client[1]),
    }
    for name, value in handler.headers.items():
        key = name.upper().replace("-", "_")
        if key in ("CONTENT_TYPE", "CONTENT_LENGTH"):
            environ[key] = value
        elif "_" not in name:
            environ["HTTP_" + key] = environ["HTTP_" + key] + ", " + value if "HTTP_" + key in environ else value
    if "HTTP_TRANSFER_ENCODING" in environ:
        raise HTTPError(411, "http.server passes a chunked body on as it is: send a Content-Length")
    return parse_request(environ, handler.rfile, **options)  # type: ignore[arg-type]


def _discard(data: bytes) -> None:
    """Nothing is answered through a parsed request's exchange."""
