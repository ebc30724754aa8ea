"""The three targets, serving the same routes with the same responses.

- `raw`: a hand-written ASGI app, the floor: what the work costs with the
  standard library alone (`parse_qsl`, string splitting, f-strings).
- `starlette`: a Starlette app with one `Route` per route.
- `asyncweb`: an asyncweb `App` around one handler.

Routes (`ROUTES`): `hello` (13-byte text), `query` (10 query items read and
echoed), `form` (20 urlencoded fields read and echoed), `cookies` (10
request cookies read and echoed, 3 Set-Cookie written). Every answer is
`text/plain; charset=utf-8`. `exchange` runs one request in process and
`normalized` makes replies comparable: header order and the order of
Set-Cookie attributes carry no meaning and differ between the frameworks.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl, urlencode

from starlette.applications import Starlette
from starlette.requests import Request as StarletteRequest
from starlette.responses import PlainTextResponse
from starlette.routing import Route as StarletteRoute

from asyncweb import App, Request, Response
from asyncweb.types import ASGIApp, Message, Receive, Scope, Send

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


# -- raw ASGI ---------------------------------------------------------------


def _raw_cookies(headers: Iterable[tuple[bytes, bytes]]) -> dict[str, str]:
    cookies: dict[str, str] = {}
    for name, value in headers:
        if name == b"cookie":
            for chunk in value.decode("latin-1").split(";"):
                key, _, val = chunk.partition("=")
                cookies.setdefault(key.strip(), val.strip())
    return cookies


def _raw_set_cookie(name: str, value: str, max_age: int | None, httponly: bool, samesite: str | None) -> bytes:
    line = f"{name}={value}; Path=/"
    if max_age is not None:
        line += f"; Max-Age={max_age}"
    if httponly:
        line += "; HttpOnly"
    if samesite is not None:
        line += f"; SameSite={samesite}"
    return line.encode("latin-1")


async def _raw_body(receive: Receive) -> bytes:
    chunks = []
    while True:
        message = await receive()
        chunks.append(message.get("body", b""))
        if not message.get("more_body", False):
            return b"".join(chunks)


async def raw(scope: Scope, receive: Receive, send: Send) -> None:
    """The floor: a hand-written ASGI app doing the same work."""
    path = scope["path"]
    status = 200
    cookies: list[tuple[bytes, bytes]] = []
    if path == "/hello":
        text = HELLO
    elif path == "/query":
        text = echo(parse_qsl(scope["query_string"].decode("latin-1"), keep_blank_values=True))
    elif path == "/form":
        body = await _raw_body(receive)
        text = echo(parse_qsl(body.decode("latin-1"), keep_blank_values=True))
    elif path == "/cookies":
        text = echo(_raw_cookies(scope["headers"]).items())
        cookies = [(b"set-cookie", _raw_set_cookie(*cookie)) for cookie in SET_COOKIES]
    else:
        status, text = 404, "Not Found\n"
    body = text.encode("utf-8")
    headers = [*TEXT, (b"content-length", str(len(body)).encode("latin-1")), *cookies]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body, "more_body": False})


# -- Starlette --------------------------------------------------------------


async def _starlette_hello(request: StarletteRequest) -> PlainTextResponse:
    return PlainTextResponse(HELLO)


async def _starlette_query(request: StarletteRequest) -> PlainTextResponse:
    return PlainTextResponse(echo(request.query_params.multi_items()))


async def _starlette_form(request: StarletteRequest) -> PlainTextResponse:
    form = await request.form()
    return PlainTextResponse(echo(form.multi_items()))


async def _starlette_cookies(request: StarletteRequest) -> PlainTextResponse:
    response = PlainTextResponse(echo(request.cookies.items()))
    for name, value, max_age, httponly, samesite in SET_COOKIES:
        response.set_cookie(name, value, max_age=max_age, httponly=httponly, samesite=samesite)  # type: ignore[arg-type]
    return response


starlette = Starlette(
    routes=[
        StarletteRoute("/hello", _starlette_hello),
        StarletteRoute("/query", _starlette_query),
        StarletteRoute("/form", _starlette_form, methods=["POST"]),
        StarletteRoute("/cookies", _starlette_cookies),
    ]
)


# -- asyncweb ---------------------------------------------------------------


async def _asyncweb_handler(request: Request, response: Response, log: logging.Logger) -> None:
    path = request.path
    if path == "/hello":
        response.set_body(HELLO)
    elif path == "/query":
        response.set_body(echo(request.query.multi_items()))
    elif path == "/form":
        response.set_body(echo(request.fields.multi_items()))
    elif path == "/cookies":
        response.set_body(echo(request.cookies.items()))
        for name, value, max_age, httponly, samesite in SET_COOKIES:
            response.set_cookie(name, value, max_age=max_age, httponly=httponly, samesite=samesite)
    else:
        response.error(404)


asyncweb = App(_asyncweb_handler)

TARGETS: dict[str, ASGIApp] = {"raw": raw, "starlette": starlette, "asyncweb": asyncweb}


# -- checking that the targets agree ----------------------------------------


@dataclass(frozen=True, slots=True)
class Reply:
    status: int
    headers: tuple[tuple[str, str], ...]
    body: bytes


def normalized(status: int, headers: Iterable[tuple[str, str]], body: bytes) -> Reply:
    """A reply with its headers sorted and each Set-Cookie's attributes sorted,
    the two orders that mean nothing and that the frameworks write differently.
    Date and Server, which a server adds, are left out."""
    kept = []
    for name, value in headers:
        name = name.lower()
        if name in ("date", "server"):
            continue
        if name == "set-cookie":
            pair, *attributes = value.split("; ")
            value = "; ".join([pair, *sorted(attributes)])
        kept.append((name, value))
    return Reply(status, tuple(sorted(kept)), body)


async def exchange(app: ASGIApp, route: Route) -> Reply:
    """One request to `app` in process, its reply normalized."""
    sent: list[Message] = []

    async def receive() -> Message:
        return {"type": "http.request", "body": route.body, "more_body": False}

    async def send(message: Message) -> None:
        sent.append(message)

    await app(route.scope(), receive, send)
    start, *bodies = sent
    headers = [(name.decode("latin-1"), value.decode("latin-1")) for name, value in start["headers"]]
    return normalized(start["status"], headers, b"".join(message.get("body", b"") for message in bodies))


async def check_in_process(routes: Iterable[str]) -> None:
    """Raise AssertionError unless every target answers every route alike."""
    for name in routes:
        route = ROUTES[name]
        replies = {target: await exchange(app, route) for target, app in TARGETS.items()}
        expected = replies["raw"]
        if expected.status != 200:
            raise AssertionError(f"raw answers {route.name} with {expected.status}")
        for target, reply in replies.items():
            if reply != expected:
                raise AssertionError(f"{target} answers {route.name} differently from raw:\n{reply}\n{expected}")
