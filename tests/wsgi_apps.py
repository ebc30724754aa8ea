"""Apps the WSGI tests serve: examples/echo.py's handler as a plain
function and as `async def`, through asyncweb.WSGIGateway, and a raw ASGI
app that needs an event loop (`tests.wsgi_apps:NAME` for real servers)."""

from __future__ import annotations

import asyncio
import logging
import os

from asyncweb import App, Request, Response, WSGIGateway
from asyncweb.types import Receive, Scope, Send
from examples.echo import echo

STARTS_ENV = "ASYNCWEB_TEST_STARTS"  # a file each lifespan startup appends a line to


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


async def awaits_a_loop(scope: Scope, receive: Receive, send: Send) -> None:
    """A raw ASGI app that sleeps on asyncio: it needs a real event loop."""
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
loop_wsgi = WSGIGateway(awaits_a_loop)
