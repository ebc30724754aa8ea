"""The targets, serving the same routes with the same responses.

- `raw`: a hand-written ASGI app, the floor: what the work costs with the
  standard library alone (`parse_qsl`, string splitting, f-strings).
- `starlette`: a Starlette app with one `Route` per route.
- `asyncweb`: an asyncweb `App` around one handler.
- The peers a user would pick instead, from the bench extra, each left out
  (`MISSING` says why) where its framework is not installed: `falcon`
  (`falcon.asgi.App`, one resource per route), `blacksheep` (`Application`,
  one route per path), `litestar` (`Litestar`, one handler per route) and
  `django` (`ASGIHandler` over a settings-only project configured here: no
  database, no apps, no middleware, async views).

The routes are `benchmarks/routes.py`'s. Every answer is
`text/plain; charset=utf-8`. `exchange` runs one request in process and
`normalized` makes replies comparable: header order and the order of
Set-Cookie attributes carry no meaning and differ between the frameworks.

Every handler uses its framework's own API for the work, as its docs show
it; none may reach past it to the raw scope or headers to match raw's
reply. A (target, route) whose reply differs for a reason of the
framework's is in `UNLIKE`, with the reason: it is checked to differ just
so and is never timed. Building the Django target configures Django's
settings for the whole process.
"""

# No `from __future__ import annotations`: BlackSheep and Litestar read a
# handler's annotations as objects, as in a user's module (a return
# annotation left a string costs BlackSheep a wrapper per request).
import asyncio
import importlib.util
import logging
from collections.abc import Callable, Collection, Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, cast
from urllib.parse import parse_qsl

from starlette.applications import Starlette
from starlette.requests import Request as StarletteRequest
from starlette.responses import PlainTextResponse
from starlette.routing import Route as StarletteRoute

from asyncweb import App, Request, Response
from asyncweb.types import ASGIApp, Message, Receive, Scope, Send

from .routes import HELLO, ROUTES, SET_COOKIES, TEXT, Route, echo, raw_cookies, raw_set_cookie

# -- raw ASGI ---------------------------------------------------------------


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
        text = echo(raw_cookies(scope["headers"]).items())
        cookies = [(b"set-cookie", raw_set_cookie(*cookie)) for cookie in SET_COOKIES]
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


# -- the peers (the bench extra) --------------------------------------------
# Each is built, its framework imported, the first time it is asked for: a
# run of one target imports no other framework. Each imports its framework
# in its builder; mypy checks it where it is installed and takes it as Any
# elsewhere (the test extra alone, as in CI); Django ships no types at all.


def _flat(items: Iterable[tuple[str, Any]]) -> Iterator[tuple[str, Any]]:
    """`(name, value)` pairs of a dict that holds a list for a repeated name
    (Falcon, BlackSheep, Django): the route's repeated names are adjacent,
    so the order is the request's."""
    for name, values in items:
        if isinstance(values, list):
            for value in values:
                yield name, value
        else:
            yield name, values


def falcon_app() -> ASGIApp:
    """Falcon's ASGI App, a resource per route."""
    import falcon.asgi  # type: ignore[import-not-found, unused-ignore]

    class Hello:
        async def on_get(self, req: falcon.asgi.Request, resp: falcon.asgi.Response) -> None:
            resp.content_type = falcon.MEDIA_TEXT
            resp.text = HELLO

    class Query:
        async def on_get(self, req: falcon.asgi.Request, resp: falcon.asgi.Response) -> None:
            resp.content_type = falcon.MEDIA_TEXT
            resp.text = echo(_flat(req.params.items()))

    class Form:
        async def on_post(self, req: falcon.asgi.Request, resp: falcon.asgi.Response) -> None:
            # Falcon's default media handlers take urlencoded forms: a dict
            # holding a list for a repeated name, as req.params.
            form = await req.get_media()
            resp.content_type = falcon.MEDIA_TEXT
            resp.text = echo(_flat(form.items()))

    class Cookies:
        async def on_get(self, req: falcon.asgi.Request, resp: falcon.asgi.Response) -> None:
            resp.content_type = falcon.MEDIA_TEXT
            resp.text = echo(req.cookies.items())
            for name, value, max_age, httponly, samesite in SET_COOKIES:
                # Falcon's defaults are Secure and HttpOnly: said off where the others write neither.
                resp.set_cookie(
                    name, value, max_age=max_age, path="/", secure=False, http_only=httponly, same_site=samesite
                )

    app = falcon.asgi.App()
    app.add_route("/hello", Hello())
    app.add_route("/query", Query())
    app.add_route("/form", Form())
    app.add_route("/cookies", Cookies())
    return cast(ASGIApp, app)


def blacksheep_app() -> ASGIApp:
    """BlackSheep's Application, a route per path. It starts (normalizes
    its handlers) on its first request when no lifespan started it."""
    from blacksheep import Application, Cookie, Request, Response, text  # type: ignore[import-not-found, unused-ignore]
    from blacksheep.cookies import CookieSameSiteMode  # type: ignore[import-not-found, unused-ignore]

    async def hello(request: Request) -> Response:
        return text(HELLO)

    async def query(request: Request) -> Response:
        return text(echo(_flat(request.query.items())))

    async def form(request: Request) -> Response:
        fields = await request.form()
        assert fields is not None  # None only for a body that is no form
        return text(echo(_flat(fields.items())))

    async def cookies(request: Request) -> Response:
        response = text(echo(request.cookies.items()))
        for name, value, max_age, httponly, samesite in SET_COOKIES:
            same_site = CookieSameSiteMode.UNDEFINED if samesite is None else CookieSameSiteMode[samesite.upper()]
            cookie = Cookie(name, value, path="/", http_only=httponly, max_age=max_age or -1, same_site=same_site)
            response.set_cookie(cookie)
        return response

    app = Application()
    app.router.add_get("/hello", hello)
    app.router.add_get("/query", query)
    app.router.add_post("/form", form)
    app.router.add_get("/cookies", cookies)
    return cast(ASGIApp, app)


def litestar_app() -> ASGIApp:
    """A Litestar app, a handler per route.

    Litestar keeps its last 1024 query strings and Cookie headers parsed
    (lru_cache): every request here is alike, so it parses each once."""
    from litestar import Litestar, MediaType, Request, Response, get, post  # type: ignore[import-not-found, unused-ignore]
    from litestar.datastructures import Cookie  # type: ignore[import-not-found, unused-ignore]

    async def hello() -> str:
        return HELLO

    async def query(request: Request[Any, Any, Any]) -> str:
        # multidict's items() are every pair in the request's order
        # (Litestar's multi_items() walks a set of the names).
        return echo(request.query_params.items())

    async def form(request: Request[Any, Any, Any]) -> str:
        fields = await request.form()
        return echo(fields.items())

    async def cookies(request: Request[Any, Any, Any]) -> Response[str]:
        written = [
            Cookie(key=name, value=value, path="/", max_age=max_age, httponly=httponly, samesite=samesite)  # type: ignore[arg-type, unused-ignore]
            for name, value, max_age, httponly, samesite in SET_COOKIES
        ]
        return Response(echo(request.cookies.items()), media_type=MediaType.TEXT, cookies=written)

    handlers = [
        get("/hello", media_type=MediaType.TEXT)(hello),
        get("/query", media_type=MediaType.TEXT)(query),
        post("/form", media_type=MediaType.TEXT, status_code=200)(form),  # a POST's default is 201
        get("/cookies", media_type=MediaType.TEXT)(cookies),
    ]
    return cast(ASGIApp, Litestar(route_handlers=handlers))


def configure_django(urlconf: str, hosts: list[str]) -> None:
    """Django's settings for a benchmark target, once per process: a project
    of settings alone (no database, apps or middleware) whose urlconf is the
    module `urlconf`; a process already configured is left as it is."""
    from django import setup  # type: ignore[import-untyped, import-not-found, unused-ignore]
    from django.conf import settings  # type: ignore[import-untyped, import-not-found, unused-ignore]

    if not settings.configured:
        settings.configure(
            DEBUG=False,
            SECRET_KEY="benchmark-only: signs nothing",
            ALLOWED_HOSTS=hosts,
            ROOT_URLCONF=urlconf,
            INSTALLED_APPS=[],
            MIDDLEWARE=[],
            DATABASES={},
            USE_I18N=False,
            LOGGING_CONFIG=None,  # leaves the process's logging (pytest's) alone
        )
        setup(set_prefix=False)


urlpatterns: list[Any] = []  # Django's ROOT_URLCONF is this module: django_app() fills it


def django_app() -> ASGIApp:
    """Django's ASGIHandler over a project of settings alone, configured
    here for the process: no database, no apps, no middleware, async views."""
    from django.core.handlers.asgi import ASGIHandler  # type: ignore[import-untyped, import-not-found, unused-ignore]
    from django.http import HttpRequest, HttpResponse  # type: ignore[import-untyped, import-not-found, unused-ignore]
    from django.urls import path  # type: ignore[import-untyped, import-not-found, unused-ignore]

    configure_django(__name__, ["127.0.0.1", "localhost"])

    def plain(text: str) -> HttpResponse:
        response = HttpResponse(text, content_type="text/plain; charset=utf-8")
        # What CommonMiddleware would add, written here with middleware off.
        response["Content-Length"] = str(len(response.content))
        return response

    async def hello(request: HttpRequest) -> HttpResponse:
        return plain(HELLO)

    async def query(request: HttpRequest) -> HttpResponse:
        return plain(echo(_flat(request.GET.lists())))

    async def form(request: HttpRequest) -> HttpResponse:
        return plain(echo(_flat(request.POST.lists())))

    async def cookies(request: HttpRequest) -> HttpResponse:
        response = plain(echo(request.COOKIES.items()))
        for name, value, max_age, httponly, samesite in SET_COOKIES:
            response.set_cookie(name, value, max_age=max_age, httponly=httponly, samesite=samesite)
        return response

    urlpatterns[:] = [path("hello", hello), path("query", query), path("form", form), path("cookies", cookies)]
    return cast(ASGIApp, ASGIHandler())


def server_receive(app: ASGIApp) -> ASGIApp:
    """`app` given a receive that behaves as a server's once the body is in:
    it waits until the response is sent, then says `http.disconnect`.

    The in-process driver hands the body again on every call, which no app
    but Django's sees: its handler listens for a disconnect with a second
    receive() beside the view and fails on a second body. Over HTTP the
    server's own receive does this, and the handler is served bare."""

    async def wrapped(scope: Scope, receive: Receive, send: Send) -> None:
        sent = asyncio.get_running_loop().create_future()
        body_done = False

        async def receive_once() -> Message:
            nonlocal body_done
            if body_done:
                await sent
                return {"type": "http.disconnect"}
            message = await receive()
            body_done = not message.get("more_body", False)
            return message

        async def send_watched(message: Message) -> None:
            await send(message)
            if message["type"] == "http.response.body" and not message.get("more_body", False):
                sent.set_result(None)

        await app(scope, receive_once, send_watched)

    return wrapped


# -- the targets ------------------------------------------------------------

# Each peer's builder: what a server serves as `benchmarks.apps:NAME`.
PEERS: dict[str, Callable[[], ASGIApp]] = {
    "falcon": falcon_app,
    "blacksheep": blacksheep_app,
    "litestar": litestar_app,
    "django": django_app,
}
# What the in-process driver runs of a peer, where it is not the app itself.
_IN_PROCESS: dict[str, Callable[[ASGIApp], ASGIApp]] = {"django": server_receive}
# Why a peer is left out, for each one whose framework is not installed.
MISSING: dict[str, str] = {
    name: "not installed (pip install -e '.[bench]')" for name in PEERS if importlib.util.find_spec(name) is None
}
_served: dict[str, ASGIApp] = {}


def served(name: str) -> ASGIApp:
    """A peer's app, built on first use (KeyError for one not installed)."""
    if name in MISSING:
        raise KeyError(f"{name}: {MISSING[name]}")
    if name not in _served:
        _served[name] = PEERS[name]()
    return _served[name]


class Targets(Mapping[str, ASGIApp]):
    """Every target the in-process driver can run, by name: raw, starlette,
    asyncweb, and each installed peer, built when first looked up."""

    def __init__(self, own: dict[str, ASGIApp]) -> None:
        self._own = own

    def __getitem__(self, name: str) -> ASGIApp:
        if name in self._own:
            return self._own[name]
        app = served(name)
        wrap = _IN_PROCESS.get(name)
        return app if wrap is None else wrap(app)

    def __iter__(self) -> Iterator[str]:
        yield from self._own
        yield from (name for name in PEERS if name not in MISSING)

    def __len__(self) -> int:
        return len(self._own) + len(PEERS) - len(MISSING)


TARGETS = Targets({"raw": raw, "starlette": starlette, "asyncweb": asyncweb})

if not TYPE_CHECKING:  # unseen by mypy, which would take any misspelt name of this module for an app

    def __getattr__(name: str) -> ASGIApp:
        """`benchmarks.apps:falcon` and the other peers, as a server imports
        them (PEP 562): built on first use, Django's handler bare."""
        if name in PEERS and name not in MISSING:
            return served(name)
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


# (target, route) cells whose reply is not raw's for a reason of the
# framework's, and that reason: checked to differ just so, never timed.
UNLIKE: dict[tuple[str, str], str] = {
    ("blacksheep", "cookies"): "BlackSheep percent-decodes cookie values (tz=Europe%2FParis reads Europe/Paris)",
    ("litestar", "cookies"): "Litestar percent-decodes cookie values (tz=Europe%2FParis reads Europe/Paris)",
}


# -- checking that the targets agree ----------------------------------------


@dataclass(frozen=True, slots=True)
class Reply:
    status: int
    headers: tuple[tuple[str, str], ...]
    body: bytes


def normalized(status: int, headers: Iterable[tuple[str, str]], body: bytes) -> Reply:
    """A reply with its headers sorted and each Set-Cookie's attributes sorted,
    the two orders that mean nothing and that the frameworks write differently.
    Date and Server, which a server adds, are left out, and so is an Expires
    beside a Max-Age, which a client ignores (RFC 6265, 5.3 step 3) and
    Django adds to every Max-Age (for browsers that predate it)."""
    kept = []
    for name, value in headers:
        name = name.lower()
        if name in ("date", "server"):
            continue
        if name == "set-cookie":
            value = _cookie_normalized(value)
        kept.append((name, value))
    return Reply(status, tuple(sorted(kept)), body)


def _cookie_normalized(line: str) -> str:
    pair, *attributes = line.split("; ")
    names = {attribute.partition("=")[0].lower() for attribute in attributes}
    if "max-age" in names:
        attributes = [attribute for attribute in attributes if attribute.partition("=")[0].lower() != "expires"]
    return "; ".join([pair, *sorted(attributes)])


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


def percent_decoded(reply: Reply) -> Reply:
    """raw's reply as a framework that percent-decodes cookie values writes
    it: the one such value the cookie route sends, decoded."""
    body = reply.body.replace(b"tz=Europe%2FParis\n", b"tz=Europe/Paris\n")
    length = str(len(body))
    headers = tuple((name, length if name == "content-length" else value) for name, value in reply.headers)
    return Reply(reply.status, headers, body)


def expected_of(target: str, route: str, raw_reply: Reply) -> Reply:
    """The reply `target` must give on `route`: raw's, or raw's as `UNLIKE`
    says it differs."""
    return percent_decoded(raw_reply) if (target, route) in UNLIKE else raw_reply


def compared(targets: Iterable[str], route: str) -> list[str]:
    """The targets whose reply on `route` is raw's, so that it is timed."""
    return [target for target in targets if (target, route) not in UNLIKE]


def untimed(targets: Collection[str], routes: Collection[str]) -> list[tuple[str, str]]:
    """The cells of `UNLIKE` among these targets and routes."""
    return [(target, route) for target, route in UNLIKE if target in targets and route in routes]


async def check_in_process(routes: Iterable[str], targets: Iterable[str] = TARGETS) -> None:
    """Raise AssertionError unless every target answers every route alike
    (or, for a cell of `UNLIKE`, differs just as it says); raw is always asked."""
    for name in routes:
        route = ROUTES[name]
        replies = {target: await exchange(TARGETS[target], route) for target in ["raw", *targets]}
        expected = replies["raw"]
        if expected.status != 200:
            raise AssertionError(f"raw answers {route.name} with {expected.status}")
        for target, reply in replies.items():
            if reply != expected_of(target, name, expected):
                raise AssertionError(f"{target} answers {route.name} differently from raw:\n{reply}\n{expected}")
