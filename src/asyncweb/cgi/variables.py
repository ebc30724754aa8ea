"""CGI meta-variables (RFC 3875) and ASGI scopes, in both directions.

`environ_from_scope` gives old CGI code its `os.environ`-style lookups;
`scope_from_environ` turns what a CGI host or a FastCGI web server sends into
an ASGI scope. Environment values are taken as bytes decoded as latin-1, as
FastCGI params and `os.environb` give them.
"""

from __future__ import annotations

from collections.abc import Mapping

from .._fieldsyntax import join_header_values, parse_length
from ..types import CGI_ENVIRON, Scope
from ..urls import split_path, strip_port, valid_host

GATEWAY_INTERFACE = "CGI/1.1"
SERVER_SOFTWARE = "asyncweb"
# The body's own headers travel as CONTENT_*; nginx also sends them as
# HTTP_CONTENT_*, and a de-chunked body must not claim to be chunked.
_NOT_FORWARDED = frozenset({"HTTP_CONTENT_TYPE", "HTTP_CONTENT_LENGTH", "HTTP_TRANSFER_ENCODING"})
_TRUE = frozenset({"on", "1", "yes", "true"})
# SERVER_PROTOCOL's usual values, looked up before the rule (the part after "HTTP/").
_HTTP_VERSIONS = {"HTTP/1.1": "1.1", "HTTP/1.0": "1.0", "HTTP/2.0": "2.0"}


class InvalidLength(ValueError):
    """CONTENT_LENGTH is neither a length nor a host's "unknown"."""


def content_length(environ: Mapping[str, str]) -> int | None:
    """The body's length from CONTENT_LENGTH, or None when the body runs to
    the end of stdin: hosts that pass a chunked request on as it streams
    send no CONTENT_LENGTH but HTTP_TRANSFER_ENCODING (Apache httpd), or
    CONTENT_LENGTH=-1 (Caddy). Unset with no such sign, there is no body
    (RFC 3875 4.1.2); anything else raises InvalidLength."""
    value = environ.get("CONTENT_LENGTH", "").strip()
    if not value:
        return None if environ.get("HTTP_TRANSFER_ENCODING") else 0
    if value == "-1":
        return None
    length = parse_length(value)
    if length is None:
        raise InvalidLength(f"invalid CONTENT_LENGTH {value[:40]!r}")
    return length


def environ_from_scope(scope: Scope) -> dict[str, str]:
    """The RFC 3875 meta-variables a CGI host would set for this request."""
    root, path = split_path(scope)
    joined: dict[str, list[str]] = {}
    for raw_name, raw_value in scope.get("headers", ()):
        if b"_" in raw_name:
            # `X_A` would pass for the `X-A` a proxy sets: left out, as
            # nginx and Apache httpd leave such names out of CGI variables.
            continue
        key = raw_name.decode("latin-1").upper().replace("-", "_")
        joined.setdefault(key, []).append(raw_value.decode("latin-1"))
    scheme = scope.get("scheme", "http")
    env = {
        "GATEWAY_INTERFACE": GATEWAY_INTERFACE,
        "SERVER_SOFTWARE": SERVER_SOFTWARE,
        "SERVER_PROTOCOL": "HTTP/" + scope.get("http_version", "1.1"),
        "REQUEST_METHOD": scope.get("method", "GET"),
        "REQUEST_SCHEME": scheme,
        "SCRIPT_NAME": root,
        "PATH_INFO": path,
        "QUERY_STRING": scope.get("query_string", b"").decode("latin-1"),
    }
    for key in ("CONTENT_TYPE", "CONTENT_LENGTH"):
        if key in joined:
            env[key] = joined.pop(key)[0]
    for key, values in joined.items():
        env["HTTP_" + key] = join_header_values(key, values)
    server = scope.get("server")
    host = env.get("HTTP_HOST", "")
    if server:
        env["SERVER_NAME"] = str(server[0])
        if server[1] is not None:  # a scope may name a server with no port (httpx's ASGI transport)
            env["SERVER_PORT"] = str(server[1])
    if valid_host(host):
        # RFC 3875 4.1.14: SERVER_NAME is the host the client asked for.
        env["SERVER_NAME"] = name = strip_port(host)
        if "SERVER_PORT" not in env and name != host:  # the port it asked for is the best guess
            env["SERVER_PORT"] = host[len(name) + 1 :]
    env.setdefault("SERVER_NAME", "localhost")
    env.setdefault("SERVER_PORT", "443" if scheme in ("https", "wss") else "80")
    client = scope.get("client")
    if client:
        env["REMOTE_ADDR"], env["REMOTE_PORT"] = str(client[0]), str(client[1])
    if scheme in ("https", "wss"):
        env["HTTPS"] = "on"
    return env


# What `quote` leaves alone in a raw path (its always-safe set plus `safe`).
_PATH_SAFE = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_.-~/:@!$&'()*+,;=~"
# Header name (or NOT_A_HEADER) for each variable name met so far. A
# FastCGI server builds a scope per request from the same few dozen names,
# and converting them each time showed in its profile. Bounded, so that
# made-up names cannot grow it.
HEADER_NAMES: dict[str, bytes] = {}
_HEADER_NAMES_MAX = 512
NOT_A_HEADER = b"(not a header)"  # told apart by identity


def header_name(key: str) -> bytes:
    """The ASGI header name for a CGI variable (`HTTP_X_ONE` gives `x-one`),
    or NOT_A_HEADER; callers look in HEADER_NAMES first."""
    if key.startswith("HTTP_") and len(key) > 5 and key not in _NOT_FORWARDED:
        name = key[5:].lower().replace("_", "-").encode("latin-1")
    else:
        name = NOT_A_HEADER
    if len(HEADER_NAMES) < _HEADER_NAMES_MAX:
        HEADER_NAMES[key] = name
    return name


# SERVER_PORT as a number, for each value met so far: a server's own ports
# are a few, and int() of a string costs more than this lookup. Bounded.
_SERVER_PORTS: dict[str | None, int] = {}


def _server_port(text: str | None) -> int:
    port = parse_length(text) or 0
    if len(_SERVER_PORTS) < 64:
        _SERVER_PORTS[text] = port
    return port


def _utf8(text: str) -> str:
    """A latin-1 decoded CGI value read as the UTF-8 it most likely is."""
    return text if text.isascii() else text.encode("latin-1").decode("utf-8", "replace")


def _quote_path(path: bytes) -> bytes:
    from urllib.parse import quote

    return quote(path, safe="/:@!$&'()*+,;=~").encode()


def scope_from_environ(
    environ: Mapping[str, str], headers: list[tuple[bytes, bytes]] | None = None, body_pending: bool = False
) -> Scope:
    """An ASGI HTTP scope for the request a CGI or FastCGI host describes.

    `headers`, when given, are the `HTTP_*` variables already converted (the
    FastCGI codec does it as it parses) and become the scope's list.
    `body_pending`: the gateway knows more body may come (FastCGI's STDIN
    is still open), which with no CONTENT_LENGTH means a body of unknown
    length, not none."""
    get = environ.get
    if headers is None:
        headers = []
        header_names = HEADER_NAMES
        # By key: a WSGI environ holds more than str beside the variables
        # (wsgi.input), which the compiled build's str values would refuse.
        for key in environ:
            name = header_names.get(key)
            if name is None:
                name = header_name(key)
            if name is not NOT_A_HEADER:
                headers.append((name, environ[key].encode("latin-1")))
    # The body's headers first, as CGI lists them apart. A body of unknown
    # length (CONTENT_LENGTH=-1 from Caddy, none but a Transfer-Encoding
    # from Apache) is said to be chunked, as an HTTP server's scope says it.
    value = get("CONTENT_LENGTH")
    if value and value != "-1":
        headers.insert(0, (b"content-length", value.encode("latin-1")))
    elif value or body_pending or get("HTTP_TRANSFER_ENCODING"):
        headers.insert(0, (b"transfer-encoding", b"chunked"))
    if value := get("CONTENT_TYPE"):
        headers.insert(0, (b"content-type", value.encode("latin-1")))
    script = get("SCRIPT_NAME", "").rstrip("/")
    path = script + get("PATH_INFO", "")
    path_bytes = path.encode("latin-1")
    https = get("HTTPS")
    protocol = get("SERVER_PROTOCOL", "HTTP/1.1")
    # Most paths need no escaping: quote() (and urllib's import) only for the rest.
    raw_path = path_bytes if not path_bytes.rstrip(_PATH_SAFE) else _quote_path(path_bytes)
    client = server = None
    if host := get("REMOTE_ADDR"):
        client = host, parse_length(get("REMOTE_PORT")) or 0
    if host := get("SERVER_NAME"):
        port = get("SERVER_PORT")
        server = host, _SERVER_PORTS.get(port) or _server_port(port)
    scope: Scope = {
        "type": "http",
        "asgi": {"version": "3.0", "spec_version": "2.3"},
        "http_version": _HTTP_VERSIONS.get(protocol) or (protocol[5:] if protocol.startswith("HTTP/") else "1.1"),
        "method": get("REQUEST_METHOD", "GET").upper(),
        "scheme": "https" if (https and https.lower() in _TRUE) or get("REQUEST_SCHEME") == "https" else "http",
        "path": (path if path.isascii() else _utf8(path)) or "/",
        "raw_path": raw_path or b"/",
        "query_string": get("QUERY_STRING", "").encode("latin-1"),
        "root_path": script if script.isascii() else _utf8(script),
        "headers": headers,
        "client": client,
        "server": server,
        "extensions": {CGI_ENVIRON: environ},
    }
    return scope
