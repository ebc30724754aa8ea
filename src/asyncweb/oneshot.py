"""One request through any ASGI app, outside any server.

This is the engine of the CGI mode (a process per request) and of
`asyncweb call` (the command-line debug mode): the body comes from a plain
iterator of chunks, the response messages go to a plain callable, and the
app runs on bare asyncio, so that nothing heavier (anyio, uvicorn, httpx) is
imported unless the app itself wants it.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Iterator
from typing import Any

from .app import error_response
from .types import ASGIApp, Message, Scope

Sink = Callable[[Message], None]

log = logging.getLogger("asyncweb")


class Exchange:
    """`receive` and `send` for one request.

    `receive` hands out `chunks` until `length` bytes came; if the chunks
    run out first the request is incomplete (RFC 3875 4.2) and the app gets
    `http.disconnect`. `send` checks the order of the response messages and
    passes them to `sink`.
    """

    def __init__(self, chunks: Iterator[bytes], length: int, sink: Sink) -> None:
        self._chunks = chunks
        self._remaining = length
        self._sink = sink
        self._body_done = False
        self._gone = False
        self._finished: asyncio.Future[None] | None = None
        self.status: int | None = None
        self.complete = False

    async def receive(self) -> Message:
        if self._gone:
            return {"type": "http.disconnect"}
        if self._body_done:
            # ASGI: once the body is read, receive() waits for the client to
            # go away. Apps listen for that while they stream (Starlette
            # does), so answering at once would cut their response short.
            if not self.complete:
                await self._finish_signal()
            return {"type": "http.disconnect"}
        if self._remaining == 0:
            self._body_done = True
            return {"type": "http.request", "body": b"", "more_body": False}
        chunk = next((chunk for chunk in self._chunks if chunk), b"")
        if not chunk:
            self._gone = True
            return {"type": "http.disconnect"}
        chunk = chunk[: self._remaining]
        self._remaining -= len(chunk)
        self._body_done = self._remaining == 0
        return {"type": "http.request", "body": chunk, "more_body": not self._body_done}

    async def send(self, message: Message) -> None:
        kind = message["type"]
        if kind == "http.response.start":
            if self.status is not None:
                raise RuntimeError("http.response.start sent twice")
            self._sink(message)
            self.status = int(message["status"])
        elif kind == "http.response.body":
            if self.status is None:
                raise RuntimeError("http.response.body sent before http.response.start")
            if self.complete:
                raise RuntimeError("http.response.body sent after the response was complete")
            self._sink(message)
            if not message.get("more_body", False):
                self.complete = True
                if self._finished is not None:
                    self._finished.set_result(None)
        else:
            raise RuntimeError(f"unexpected ASGI message {kind!r}")

    def _finish_signal(self) -> asyncio.Future[None]:
        if self._finished is None:
            self._finished = asyncio.get_running_loop().create_future()
        return self._finished


class Lifespan:
    """The ASGI lifespan protocol around the one request, in uvicorn's
    "auto" mode: an app that raises before answering startup does not
    support it, and is served without."""

    def __init__(self, app: ASGIApp) -> None:
        self._app = app
        self._events: asyncio.Queue[Message] = asyncio.Queue()
        self._reply: asyncio.Future[Message] | None = None
        self._task: asyncio.Task[None] | None = None
        self._answered = False
        self.state: dict[str, Any] = {}
        self._supported = True

    async def startup(self) -> bool:
        """Whether the app is ready: False when it reported a failed startup."""
        scope = {"type": "lifespan", "asgi": {"version": "3.0", "spec_version": "2.0"}, "state": self.state}
        self._task = asyncio.create_task(self._run(scope))
        reply = await self._ask("lifespan.startup")
        if reply is not None and reply["type"] == "lifespan.startup.failed":
            log.error("the app's startup failed: %s", reply.get("message", ""))
            return False
        return True

    async def shutdown(self) -> None:
        reply = await self._ask("lifespan.shutdown")
        if reply is not None and reply["type"] == "lifespan.shutdown.failed":
            log.error("the app's shutdown failed: %s", reply.get("message", ""))
        if self._task is not None:
            await self._task

    async def _ask(self, event: str) -> Message | None:
        if not self._supported or self._task is None or self._task.done():
            return None
        reply: asyncio.Future[Message] = asyncio.get_running_loop().create_future()
        self._reply = reply
        self._events.put_nowait({"type": event})
        waiting: list[asyncio.Future[Any]] = [reply, self._task]
        await asyncio.wait(waiting, return_when=asyncio.FIRST_COMPLETED)
        return reply.result() if reply.done() else None

    async def _run(self, scope: Scope) -> None:
        try:
            await self._app(scope, self._events.get, self._send)
        except Exception:
            if self._answered:
                log.exception("error in the app's lifespan")
            else:
                # Raising before any answer means "no lifespan here".
                log.debug("the app does not support lifespan", exc_info=True)
        finally:
            self._supported = False

    async def _send(self, message: Message) -> None:
        self._answered = True
        if self._reply is not None and not self._reply.done():
            self._reply.set_result(message)


async def serve_one(app: ASGIApp, scope: Scope, exchange: Exchange) -> None:
    """Run the app for one request, inside its lifespan; whatever it raises
    is logged with its traceback and, if nothing was sent yet, answered 500.
    `exchange.complete` tells whether a whole response went out."""
    lifespan = Lifespan(app)
    if await lifespan.startup():
        scope["state"] = dict(lifespan.state)
        await _call(app, scope, exchange)
    else:
        await error_response(500)(scope, exchange.receive, exchange.send)
    await lifespan.shutdown()


async def _call(app: ASGIApp, scope: Scope, exchange: Exchange) -> None:
    try:
        await app(scope, exchange.receive, exchange.send)
    except Exception:
        log.exception("error in the app for %s %s", scope["method"], scope["path"])
    else:
        if exchange.status is None:
            log.error("the app returned without a response for %s %s", scope["method"], scope["path"])
    if exchange.status is None:
        await error_response(500)(scope, exchange.receive, exchange.send)
