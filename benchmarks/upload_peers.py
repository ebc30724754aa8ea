"""The upload benchmark's peers, Falcon, BlackSheep, Litestar and Django:
each takes `benchmarks/upload.py`'s multipart upload with its framework's
own documented API for large files, as its docs show it, and answers the
upload's size as text (`"268435456\\n"`), as the asyncweb and Starlette
targets do. None may reach past that API to the ASGI messages, parse the
body itself, or spool anywhere but `tempfile`'s folder, which the benchmark
points at its own (`tempfile.tempdir` in process, `TMPDIR` for a server);
each lets its file go when the request is done.

- `falcon`: `await req.get_media()` gives the multipart form; its parts are
  iterated and the file part's `stream` written chunk by chunk to a
  `tempfile.TemporaryFile`. The docs' `part.stream.pipe()` needs an async
  file (aiofiles, which the bench extra has not); their
  `async for chunk in part.stream` loop with a plain file's `write` is the
  same streaming with no thread hop per chunk.
- `blacksheep`: `request.multipart_stream()`, BlackSheep's streaming parser,
  each file part's `stream()` written to a `tempfile.TemporaryFile`. Its
  `part.save_to(path)` refuses a path outside the working folder
  (`ensure_in_cwd`), so a temp file is written the same way by hand.
- `litestar`: a handler taking `data: UploadFile` with
  `Body(media_type=RequestEncodingType.MULTI_PART)`; Litestar spools it
  in a `SpooledTemporaryFile` (1 MiB in memory, then a thread hop per
  chunk written). `request_max_body_size=None`, as asyncweb's
  `Limits(max_body_size=None)`: Litestar's default refuses 10 MB.
- `django`: Django's `ASGIHandler` and an async view (as
  benchmarks/apps.py's) reading `request.FILES`, with Django's default
  upload handlers (a file over `FILE_UPLOAD_MAX_MEMORY_SIZE`, 2.5 MB, goes
  to a named temp file). Its ASGI handler first spools the whole request
  body to a `SpooledTemporaryFile`, then the view's first look at
  `request.FILES` parses that, synchronously, on the event loop: every
  byte is written twice.
  Building it configures Django's settings for the whole process, so it
  needs a process of its own (each benchmark worker and server is one).

A peer that is not installed is in `MISSING`, with why, and never built.
`benchmarks.upload_peers:falcon` (and so on) is what uvicorn serves.
"""

# No `from __future__ import annotations`: Litestar reads the handler's
# annotations as objects (benchmarks/apps.py says the same).
import functools
import importlib.util
import os
import tempfile
from collections.abc import Callable
from typing import TYPE_CHECKING, Annotated, Any, cast

from asyncweb.types import ASGIApp

FIELD = "file"  # the form field the benchmark's upload sends its file in


def falcon_app() -> ASGIApp:
    """Falcon's ASGI App: the multipart form of `req.get_media()`, the file
    part's stream written to a temp file."""
    import falcon.asgi  # type: ignore[import-not-found, unused-ignore]

    class Upload:
        async def on_post(self, req: falcon.asgi.Request, resp: falcon.asgi.Response) -> None:
            form = await req.get_media()
            size = 0
            async for part in form:
                if part.name == FIELD:
                    with tempfile.TemporaryFile() as spool:
                        async for chunk in part.stream:
                            spool.write(chunk)
                        size = spool.tell()
            resp.content_type = falcon.MEDIA_TEXT
            resp.text = f"{size}\n"

    app = falcon.asgi.App()
    app.add_route("/", Upload())
    return cast(ASGIApp, app)


def blacksheep_app() -> ASGIApp:
    """BlackSheep's Application: `request.multipart_stream()`, the file part's
    stream written to a temp file."""
    from blacksheep import Application, Request, Response, text  # type: ignore[import-not-found, unused-ignore]

    async def upload(request: Request) -> Response:
        size = 0
        async for part in request.multipart_stream():
            if part.name == FIELD:
                with tempfile.TemporaryFile() as spool:
                    async for chunk in part.stream():
                        spool.write(chunk)
                    size = spool.tell()
        return text(f"{size}\n")

    app = Application()
    app.router.add_post("/", upload)
    return cast(ASGIApp, app)


def litestar_app() -> ASGIApp:
    """A Litestar app whose handler takes the file as `data: UploadFile`."""
    from litestar import Litestar, MediaType, post  # type: ignore[import-not-found, unused-ignore]
    from litestar.datastructures import UploadFile  # type: ignore[import-not-found, unused-ignore]
    from litestar.enums import RequestEncodingType  # type: ignore[import-not-found, unused-ignore]
    from litestar.params import Body  # type: ignore[import-not-found, unused-ignore]

    async def upload(data: Annotated[UploadFile, Body(media_type=RequestEncodingType.MULTI_PART)]) -> str:
        size = data.file.seek(0, os.SEEK_END)  # UploadFile has no size; its file's end is one
        await data.close()
        return f"{size}\n"

    handler = post("/", media_type=MediaType.TEXT, status_code=200)(upload)  # a POST's default is 201
    return cast(ASGIApp, Litestar(route_handlers=[handler], request_max_body_size=None))


urlpatterns: list[Any] = []  # Django's ROOT_URLCONF is this module: django_app() fills it


def django_app() -> ASGIApp:
    """Django's ASGIHandler over a project of settings alone (no database,
    apps or middleware), an async view reading `request.FILES`."""
    from django.conf import settings  # type: ignore[import-untyped, import-not-found, unused-ignore]
    from django.core.handlers.asgi import ASGIHandler  # type: ignore[import-untyped, import-not-found, unused-ignore]
    from django.http import HttpRequest, HttpResponse  # type: ignore[import-untyped, import-not-found, unused-ignore]
    from django.urls import path  # type: ignore[import-untyped, import-not-found, unused-ignore]

    from benchmarks.apps import configure_django

    if settings.configured and __name__ != settings.ROOT_URLCONF:
        raise RuntimeError("Django's settings are configured for another project: run this target in its own process")
    configure_django(__name__, ["127.0.0.1", "bench"])  # over uvicorn and in process

    async def upload(request: HttpRequest) -> HttpResponse:
        size = request.FILES[FIELD].size
        return HttpResponse(f"{size}\n", content_type="text/plain; charset=utf-8")

    urlpatterns[:] = [path("", upload)]
    return cast(ASGIApp, ASGIHandler())


# Each peer's builder, in the order the tables list them.
PEERS: dict[str, Callable[[], ASGIApp]] = {
    "falcon": falcon_app,
    "blacksheep": blacksheep_app,
    "litestar": litestar_app,
    "django": django_app,
}
# Why a peer is left out, for each one whose framework is not installed.
MISSING: dict[str, str] = {
    name: "not installed (pip install -e '.[bench]')" for name in PEERS if importlib.util.find_spec(name) is None
}


@functools.cache
def _served(name: str) -> ASGIApp:
    """Peer `name`'s app, built once a process: a server may look an app up
    more than once, and BlackSheep refuses a second app's routes (its
    router is shared)."""
    return PEERS[name]()


def in_process(name: str) -> ASGIApp:
    """Peer `name`'s app as the in-process driver runs it: Django's behind a
    receive that says `http.disconnect` once the body is in, as a server's
    does (its handler listens for one beside the view)."""
    app = _served(name)
    if name == "django":
        from benchmarks.apps import server_receive

        return server_receive(app)
    return app


if not TYPE_CHECKING:  # unseen by mypy, which would take any misspelt name of this module for an app

    def __getattr__(name: str) -> ASGIApp:
        """`benchmarks.upload_peers:falcon` and the others, as uvicorn imports
        them (PEP 562): built then, before the server listens; Django's bare,
        uvicorn's receive saying `http.disconnect` itself."""
        if name in PEERS and name not in MISSING:
            return _served(name)
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
