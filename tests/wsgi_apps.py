"""Apps the WSGI tests serve: examples/echo.py's handler as a plain
function and as `async def`, through asyncweb.WSGIGateway, and a raw ASGI
app that needs an event loop (`tests.wsgi_apps:NAME` for real servers);
and the files of a folder, served by `set_file` (`files_app`, under
uvicorn and granian too), each response the server's wsgi.file_wrapper
sends noted, and each pathsend (`noting_pathsend`)."""

from __future__ import annotations

import asyncio
import logging
import os
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from asyncweb import App, HTTPError, Request, Response, WSGIGateway
from asyncweb.types import Message, Receive, Scope, Send
from examples.echo import echo

STARTS_ENV = "ASYNCWEB_TEST_STARTS"  # a file each lifespan startup appends a line to
FILES_ENV = "ASYNCWEB_TEST_FILES"  # the folder /file/NAME serves
WRAPPED_ENV = "ASYNCWEB_TEST_WRAPPED"  # a file each response the server sends a file for appends a line to
WSGIApp = Callable[[Mapping[str, Any], Callable[..., object]], Iterable[bytes]]


async def _started() -> None:
    path = os.environ.get(STARTS_ENV)
    if path:
        with open(path, "a") as file:
            file.write(f"{os.getpid()}\n")


def plain(request: Request, response: Response, log: logging.Logger) -> None:
    if request.path == "/error":
        raise RuntimeError("the plain handler failed")
    if request.path == "/stream":
        count = int(request.query.get("n") or "3")

        async def pieces() -> object:
            for i in range(count):
                yield b"%d\n" % i

        response.set_header("Content-Type", "text/plain")
        response.set_body(pieces())  # type: ignore[arg-type]
        return
    if request.path == "/raw":
        response.set_header("Content-Type", "application/octet-stream")
        response.set_body(request.read_body())
        return
    response.set_body("hello from a plain function")


def serve_file(request: Request, response: Response, log: logging.Logger) -> None:
    """/file/NAME: the file NAME of the folder $ASYNCWEB_TEST_FILES names."""
    name = request.path.removeprefix("/file/")
    if not name or "/" in name:
        raise HTTPError(404)
    try:
        response.set_file(os.path.join(os.environ[FILES_ENV], name))
    except FileNotFoundError:
        raise HTTPError(404) from None


files_app = App(serve_file)


async def noting_pathsend(scope: Scope, receive: Receive, send: Send) -> None:
    """`files_app`, noting "PID http.response.pathsend PATH" in
    $ASYNCWEB_TEST_WRAPPED for each file it gives the server to send."""

    async def noted(message: Message) -> None:
        note = os.environ.get(WRAPPED_ENV)
        if message["type"] == "http.response.pathsend" and note:
            with open(note, "a") as file:
                file.write(f"{os.getpid()} {message['type']} {message['path']}\n")
        await send(message)

    await files_app(scope, receive, noted)


def noting_file_wrappers(gateway: WSGIApp) -> WSGIApp:
    """`gateway`, noting "PID MODULE.TYPE" in $ASYNCWEB_TEST_WRAPPED for
    each response it answers with the server's own wsgi.file_wrapper: the
    proof that the server got the file to send itself."""

    def application(environ: Mapping[str, Any], start_response: Callable[..., object]) -> Iterable[bytes]:
        result = gateway(environ, start_response)
        wrapper, note = environ.get("wsgi.file_wrapper"), os.environ.get(WRAPPED_ENV)
        if note and isinstance(wrapper, type) and isinstance(result, wrapper):
            with open(note, "a") as file:
                file.write(f"{os.getpid()} {type(result).__module__}.{type(result).__qualname__}\n")
        return result

    return application


async def awaits_a_loop(scope: Scope, receive: Receive, send: Send) -> None:
    """A raw ASGI app that sleeps on asyncio: it needs a real event loop.
    /file/NAME is `files_app`'s, on that loop."""
    if scope["type"] == "http" and scope["path"].removeprefix(scope["root_path"]).startswith("/file/"):
        await files_app(scope, receive, send)
        return
    if scope["type"] == "lifespan":
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                await _started()
                scope["state"]["greeting"] = "hi"
                await send({"type": "lifespan.startup.complete"})
            else:
                await send({"type": "lifespan.shutdown.complete"})
                return
    body = b""
    while True:
        message = await receive()
        body += message.get("body", b"")
        if not message.get("more_body"):
            break
    await asyncio.sleep(0.01)
    await send({"type": "http.response.start", "status": 200, "headers": [(b"content-type", b"text/plain")]})
    for piece in (scope["state"]["greeting"].encode(), b" ", str(len(body)).encode()):
        await send({"type": "http.response.body", "body": piece, "more_body": True})
    await send({"type": "http.response.body", "body": b""})


plain_wsgi = WSGIGateway(App(plain, on_startup=_started))
echo_wsgi = WSGIGateway(App(echo, on_startup=_started))
loop_wsgi = noting_file_wrappers(WSGIGateway(awaits_a_loop))
