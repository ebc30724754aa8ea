"""PEP 222's debugging mode: call an app in process, from the command line.

    asyncweb call MODULE:APP [METHOD] [PATH] [name=value]... [name=@file]... [Header:value]... [@file]

The request is built as a CGI host would describe it, the app runs in this
process (no server), and the response is printed as HTTP/1.1 text; the exit
status is 1 for a 4xx or 5xx answer. Fields go in the query for GET and
HEAD and in an urlencoded body for other methods; any `name=@file` makes
the body multipart/form-data (and the method POST, unless one is given).
With no field on the command line and a stdin that is not a terminal,
fields come from stdin, one `name=value` (or `name=@file`, or a bare
`name`) per line: the PEP's syntax. A bare `@file` sends that file as the
raw body (`@-`: stdin), e.g. JSON, typed by a `Content-Type:` item or else
by the file's extension.
"""

from __future__ import annotations

import asyncio
import contextlib
import io
import logging
import os
import re
import sys
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import TextIO
from urllib.parse import quote, unquote_to_bytes, urlsplit

from .._fieldsyntax import check_name, check_value, join_header_values
from .._importer import app_arguments, load_app
from ..query import build_query
from ..response import Response
from ..types import PATHSEND, ASGIApp
from .multipart_body import MultipartBody, file_chunks, file_type
from .one_request import PulledExchange, needs_event_loop, serve_request, serve_request_blocking
from .variables import GATEWAY_INTERFACE, scope_from_environ

USAGE = "[METHOD] [PATH] [name=value]... [name=@file]... [Header:value]... [@file]"
_METHOD = re.compile(r"[A-Z]+")
_URL = re.compile(r"https?://", re.IGNORECASE)
_QUERY_METHODS = frozenset({"GET", "HEAD"})


class UsageError(Exception):
    """The command line (or stdin) does not describe a request."""


@dataclass
class Call:
    """A request as the command line gives it."""

    method: str | None = None
    target: str = "/"
    fields: list[tuple[str, str | None]] = field(default_factory=list)
    files: list[tuple[str, str]] = field(default_factory=list)  # (field name, path)
    headers: list[tuple[str, str]] = field(default_factory=list)
    body: str | None = None  # a raw body's path, "-" for stdin

    def add(self, item: str, from_stdin: bool = False) -> None:
        """Add `name=value`, `name=@file` (`name=@@x` is the value `@x`),
        `Header:value` or a raw body's `@file`. On stdin every line is a
        field, and a line without `=` is a bare name (the `?name` of a query)."""
        equals, colon = item.find("="), item.find(":")
        if not from_stdin and item.startswith("@"):
            if self.body is not None:
                raise UsageError("a request has one raw body: give one @file")
            self.body = item[1:]
        elif not from_stdin and colon > 0 and (equals < 0 or colon < equals):
            name, value = item[:colon].strip(), item[colon + 1 :].strip()
            try:
                self.headers.append((check_name(name), check_value(value.encode().decode("latin-1"))))
            except ValueError as exc:
                raise UsageError(str(exc)) from None
        elif equals >= 0:
            name, value = item[:equals], item[equals + 1 :]
            if value.startswith("@@"):
                self.fields.append((name, value[1:]))
            elif value.startswith("@"):
                self.files.append((name, value[1:]))
            else:
                self.fields.append((name, value))
        elif from_stdin:
            self.fields.append((item, None))
        else:
            raise UsageError(f"{item!r} is neither name=value, name=@file nor Header:value")


def parse_call(args: Sequence[str]) -> Call:
    call = Call()
    rest = list(args)
    if rest and _METHOD.fullmatch(rest[0]):
        call.method = rest.pop(0)
    if rest and (rest[0].startswith("/") or _URL.match(rest[0])):
        call.target = rest.pop(0)
    for item in rest:
        call.add(item)
    return call


def read_fields(call: Call, stdin: TextIO) -> None:
    for line in stdin:
        line = line.rstrip("\r\n")
        if line:
            call.add(line, from_stdin=True)


@dataclass
class CGIRequest:
    """What the app is called with: CGI meta-variables and a body."""

    environ: dict[str, str]
    body: Iterator[bytes]
    length: int


def build_request(call: Call, stdin_body: bytes = b"") -> CGIRequest:
    """The request `call` describes; `stdin_body` is the raw body `@-`."""
    method = call.method or ("POST" if call.files or call.body is not None else "GET")
    if (call.files or call.body is not None) and method in _QUERY_METHODS:
        raise UsageError(f"a file upload or raw body needs a request body, which {method} has not: use POST")
    if call.body is not None and (call.fields or call.files):
        raise UsageError("a raw body (@file) and fields cannot go together: put the fields in the path's query")
    paths = [path for _, path in call.files]
    if call.body is not None and call.body != "-":
        paths.append(call.body)
    for path in paths:
        if not os.path.isfile(path):
            raise UsageError(f"cannot upload {path!r}: no such file")
    url = urlsplit(call.target)
    host = url.netloc or "localhost"
    # What a browser sends for a query typed with spaces or non-ASCII letters.
    query = quote(url.query, safe="!#$%&'()*+,/:;=?@[]~")
    body: Iterator[bytes] = iter(())
    length = 0
    content_type = None
    if call.body == "-":
        body, length, content_type = iter((stdin_body,)), len(stdin_body), "application/octet-stream"
    elif call.body is not None:
        body, length = file_chunks(call.body), os.path.getsize(call.body)
        content_type = file_type(call.body)
    elif call.files:
        multipart = MultipartBody(call.fields, call.files)
        body, length, content_type = multipart.chunks(), multipart.length, multipart.content_type
    elif method in _QUERY_METHODS:
        query = "&".join(part for part in (query, build_query(call.fields)) if part)
    elif call.fields:
        encoded = build_query(call.fields).encode("ascii")
        body, length, content_type = iter((encoded,)), len(encoded), "application/x-www-form-urlencoded"
    scheme = url.scheme or "http"
    environ = {
        "GATEWAY_INTERFACE": GATEWAY_INTERFACE,
        "SERVER_PROTOCOL": "HTTP/1.1",
        "REQUEST_METHOD": method,
        "REQUEST_SCHEME": scheme,
        "SCRIPT_NAME": "",
        # CGI's PATH_INFO is decoded; environment values are bytes as latin-1.
        "PATH_INFO": unquote_to_bytes(url.path or "/").decode("latin-1"),
        "QUERY_STRING": query,
        "SERVER_NAME": url.hostname or "localhost",
        "SERVER_PORT": str(url.port or (443 if scheme == "https" else 80)),
        "REMOTE_ADDR": "127.0.0.1",
        "HTTP_HOST": host,
        "CONTENT_LENGTH": str(length) if length or method not in _QUERY_METHODS else "",
    }
    if scheme == "https":
        environ["HTTPS"] = "on"
    if content_type is not None:
        environ["CONTENT_TYPE"] = content_type
    joined: dict[str, list[str]] = {}
    for name, value in call.headers:
        key = name.upper().replace("-", "_")
        key = key if key in ("CONTENT_TYPE", "CONTENT_LENGTH") else "HTTP_" + key
        joined.setdefault(key, []).append(value)
    for key, values in joined.items():
        environ[key] = join_header_values(key, values)
    return CGIRequest(environ, body, length)


def _read_bytes(stream: TextIO) -> bytes:
    """All of `stream` as bytes: its binary buffer when it has one (a real
    stdin), else its text encoded as UTF-8 (io.StringIO)."""
    buffer = getattr(stream, "buffer", None)
    return buffer.read() if buffer is not None else stream.read().encode("utf-8")


class _Marked(io.TextIOBase):
    """A text stream that writes each line to `target` behind a mark, as
    an app's stray `print()` would show in a web server's error log."""

    MARK = "[app stdout] "

    def __init__(self, target: TextIO) -> None:
        self._target = target
        self._line_start = True

    def writable(self) -> bool:
        return True

    def write(self, text: str) -> int:
        for piece in text.splitlines(keepends=True):
            if self._line_start:
                self._target.write(self.MARK)
            self._target.write(piece)
            self._line_start = piece.endswith("\n")
        return len(text)

    def flush(self) -> None:
        self._target.flush()


def parse_response(data: bytes) -> Response:
    """A CGI response's bytes (the one `ResponseWriter`'s) as a `Response`,
    to print as HTTP/1.1: header names in their usual capitals."""
    head, _, body = data.partition(b"\r\n\r\n")
    status_line, *fields = head.decode("latin-1").split("\r\n")
    response = Response(int(status_line.split()[1]))
    for field_line in fields:
        name, _, value = field_line.partition(": ")
        response.add_header("-".join(part.capitalize() for part in name.split("-")), value)
    response.set_body(body)
    return response


def call(app: ASGIApp, args: Sequence[str], stdin: TextIO | None = None) -> int:
    """The debugging mode: `args` as on `asyncweb call`'s command line
    after MODULE:APP. Prints the response; returns the exit status."""
    if any(arg in ("-h", "--help") for arg in args):
        print(f"usage: {os.path.basename(sys.argv[0])} {USAGE}\n\n{__doc__}")
        return 0
    stdin = sys.stdin if stdin is None else stdin
    # The handler's traceback (logged by asyncweb's App) must reach the
    # terminal, and so should what the handler logs through its `log`.
    logging.basicConfig(format="%(levelname)s %(name)s: %(message)s", stream=sys.stderr)
    handler_log = logging.getLogger("asyncweb")
    if handler_log.level == logging.NOTSET:
        handler_log.setLevel(logging.INFO)
    try:
        parsed = parse_call(args)
        if not parsed.fields and not parsed.files and parsed.body is None and not stdin.isatty():
            read_fields(parsed, stdin)
        request = build_request(parsed, _read_bytes(stdin) if parsed.body == "-" else b"")
    except UsageError as exc:
        print(f"error: {exc}\nusage: {USAGE}", file=sys.stderr)
        return 2
    output: list[bytes] = []
    exchange = PulledExchange(request.body, request.length, output.append, request.environ["REQUEST_METHOD"] == "HEAD")
    scope = scope_from_environ(request.environ)
    scope["extensions"][PATHSEND] = {}  # as the CGI host offers it: a file comes back whole
    try:
        # What the app prints goes where a CGI host puts it: the error log,
        # here stderr, each line marked, and never above the response.
        with contextlib.redirect_stdout(_Marked(sys.stderr)):
            if needs_event_loop(app):
                asyncio.run(serve_request(app, scope, exchange))
            else:  # a plain-function handler: called as a CGI host would call it
                serve_request_blocking(app, scope, exchange)
    finally:
        close = getattr(request.body, "close", None)
        if close is not None:
            close()  # an unread file upload is still open
    response = parse_response(b"".join(output))
    try:
        print(response, flush=True)
    except BrokenPipeError:
        # The reader (`| head`) went away; keep the exit status meaningful
        # and stop Python complaining again at exit (the recipe of the
        # `signal` module's documentation).
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
    return 1 if response.status >= 400 else 0


def main(argv: list[str]) -> int:
    parser = app_arguments(
        "asyncweb call",
        "Call an ASGI app in process with a request built from the command line, "
        "print the response, exit 1 for 4xx/5xx.",
        epilog="Fields go in the query for GET/HEAD and in the body otherwise; name=@file uploads a file "
        "(multipart/form-data); a bare @file is the raw body (@-: stdin). Without fields on the command "
        "line, a non-terminal stdin gives name=value lines.",
    )
    parser.add_argument("request", nargs="*", metavar="ITEM", help=USAGE)
    args = parser.parse_intermixed_args(argv)
    app = load_app("call", args)
    return 2 if app is None else call(app, args.request)
