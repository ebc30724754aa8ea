"""The benchmark requests and the work every target must do for them.

`ROUTES`: `hello` (13-byte text), `query` (10 query items read and
echoed), `form` (20 urlencoded fields read and echoed), `cookies` (10
request cookies read and echoed, 3 Set-Cookie written), each a `Route`
that makes the ASGI scope a server would pass; the data behind them;
`echo`, the body every target answers; and the raw ASGI app's cookie
work (`raw_cookies`, `raw_set_cookie`), which the FastCGI benchmark's app
does too. This module imports no framework and no asyncweb beyond its
types: a benchmark server that only needs the routes loads nothing else.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

from asyncweb.types import Scope

HELLO = "Hello, world!"
QUERY_ITEMS = [
    ("q", "asgi frameworks"),
    ("page", "2"),
    ("per_page", "50"),
    ("sort", "-date"),
    ("lang", "en"),
    ("author", "Jürgen"),
    ("tag", "python"),
    ("tag", "async"),
    ("from", "2024-01-01"),
    ("to", "2024-12-31"),
]
FORM_ITEMS = [(f"field{i:02d}", f"value {i} é&=") for i in range(20)]
REQUEST_COOKIES = [
    ("_ga", "GA1.2.1234567890.1700000000"),
    ("_gid", "GA1.2.987654321.1700000000"),
    ("sessionid", "3f2a9c0d8e7b6a5f4e3d2c1b0a998877"),
    ("csrftoken", "Zx8kQ2mN7pL4vR1tY6wB3cH9jF5gD0sA"),
    ("theme", "dark"),
    ("lang", "en-GB"),
    ("tz", "Europe%2FParis"),
    ("consent", "yes"),
    ("cart", "17"),
    ("seen_banner", "1"),
]
# (name, value, max_age, httponly, samesite): every framework writes these
# with path "/" and nothing else.
SET_COOKIES = [
    ("session", "3f2a9c0d8e7b6a5f4e3d2c1b0a998877", None, True, "Lax"),
    ("theme", "dark", 31536000, False, None),
    ("visits", "18", None, False, None),
]
TEXT = [(b"content-type", b"text/plain; charset=utf-8")]


@dataclass(frozen=True, slots=True)
class Route:
    """One benchmark request, as an ASGI scope and body."""

    name: str
    method: str
    path: str
    query: bytes = b""
    headers: tuple[tuple[bytes, bytes], ...] = ()
    body: bytes = b""

    @property
    def target(self) -> str:
        """The request target (path and query), as an HTTP client sends it."""
        return self.path + ("?" + self.query.decode("ascii") if self.query else "")

    def scope(self) -> Scope:
        """What uvicorn passes for this request (minus the per-connection
        `state`): a fresh dict each call, as a server makes one per request."""
        return {
            "type": "http",
            "asgi": {"version": "3.0", "spec_version": "2.4"},
            "http_version": "1.1",
            "server": ("127.0.0.1", 8000),
            "client": ("127.0.0.1", 54321),
            "scheme": "http",
            "method": self.method,
            "root_path": "",
            "path": self.path,
            "raw_path": self.path.encode("ascii"),
            "query_string": self.query,
            "headers": [
                (b"host", b"127.0.0.1:8000"),
                (b"user-agent", b"benchmarks"),
                (b"accept", b"*/*"),
                *self.headers,
            ],
        }


_FORM_BODY = urlencode(FORM_ITEMS).encode("ascii")
ROUTES: dict[str, Route] = {
    "hello": Route("hello", "GET", "/hello"),
    "query": Route("query", "GET", "/query", query=urlencode(QUERY_ITEMS).encode("ascii")),
    "form": Route(
        "form",
        "POST",
        "/form",
        headers=(
            (b"content-type", b"application/x-www-form-urlencoded"),
            (b"content-length", str(len(_FORM_BODY)).encode("ascii")),
        ),
        body=_FORM_BODY,
    ),
    "cookies": Route(
        "cookies",
        "GET",
        "/cookies",
        headers=((b"cookie", "; ".join(f"{name}={value}" for name, value in REQUEST_COOKIES).encode("ascii")),),
    ),
}


def echo(items: Iterable[tuple[str, Any]]) -> str:
    """The body every target answers for the items it read: `name=value` lines."""
    return "".join([f"{name}={value}\n" for name, value in items])


def raw_cookies(headers: Iterable[tuple[bytes, bytes]]) -> dict[str, str]:
    cookies: dict[str, str] = {}
    for name, value in headers:
        if name == b"cookie":
            for chunk in value.decode("latin-1").split(";"):
                key, _, val = chunk.partition("=")
                cookies.setdefault(key.strip(), val.strip())
    return cookies


def raw_set_cookie(name: str, value: str, max_age: int | None, httponly: bool, samesite: str | None) -> bytes:
    line = f"{name}={value}; Path=/"
    if max_age is not None:
        line += f"; Max-Age={max_age}"
    if httponly:
        line += "; HttpOnly"
    if samesite is not None:
        line += f"; SameSite={samesite}"
    return line.encode("latin-1")
