"""One request through any ASGI app, outside any server.

This is the engine of the CGI mode (a process per request) and of
`asyncweb call` (the command-line debug mode): the body comes from a plain
iterator of chunks and the response messages go to a plain callable.

`serve_one` runs the app on bare asyncio, so that nothing heavier (anyio,
uvicorn, httpx) is imported unless the app itself wants it. `serve_blocking`
runs an asyncweb App with no event loop at all: its receive and send never
suspend, so the coroutines run to their end in plain calls, and a CGI
process is spared asyncio's import (about 25 ms, half its start-up).
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Callable, Coroutine, Generator, Iterator

from ..app import App, error_response
from ..types import NO_EVENT_LOOP, ASGIApp, Message, Receive, Scope

TYPE_CHECKING = False
if TYPE_CHECKING:
    import asyncio
    from typing import Any

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
        import asyncio

        if self._finished is None:
            self._finished = asyncio.get_running_loop().create_future()
        return self._finished


# Imported by an app's module, these mean it may await what only an event
# loop can run. httpcore is httpx's core: httpx imports no loop by itself.
ASYNC_LIBRARIES = ("asyncio", "anyio", "sniffio", "trio", "curio", "httpcore")


def needs_event_loop(app: ASGIApp) -> bool:
    """Whether `app` must run on an event loop: any app but an asyncweb App,
    or an App in a process that imported an async library."""
    return not isinstance(app, App) or any(name in sys.modules for name in ASYNC_LIBRARIES)


class _LifespanBase:
    """The ASGI lifespan protocol around the one request, in uvicorn's
    "auto" mode: an app that raises before answering startup does not
    support it, and is served without."""

    def __init__(self, app: ASGIApp) -> None:
        self._app = app
        self._answered = False
        self._supported = True
        self.state: dict[str, Any] = {}

    def _scope(self) -> Scope:
        return {"type": "lifespan", "asgi": {"version": "3.0", "spec_version": "2.0"}, "state": self.state}

    async def _run(self, receive: Receive) -> None:
        try:
            await self._app(self._scope(), receive, self._send)
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
        self._reply(message)

    def _reply(self, message: Message) -> None:
        raise NotImplementedError

    @staticmethod
    def _started(reply: Message | None) -> bool:
        if reply is not None and reply["type"] == "lifespan.startup.failed":
            log.error("the app's startup failed: %s", reply.get("message", ""))
            return False
        return True

    @staticmethod
    def _stopped(reply: Message | None) -> None:
        if reply is not None and reply["type"] == "lifespan.shutdown.failed":
            log.error("the app's shutdown failed: %s", reply.get("message", ""))


class Lifespan(_LifespanBase):
    """The lifespan on asyncio: the app's lifespan coroutine is a task."""

    def __init__(self, app: ASGIApp) -> None:
        import asyncio

        super().__init__(app)
        self._events: asyncio.Queue[Message] = asyncio.Queue()
        self._future: asyncio.Future[Message] | None = None
        self._task: asyncio.Task[None] | None = None

    async def startup(self) -> bool:
        """Whether the app is ready: False when it reported a failed startup."""
        import asyncio

        self._task = asyncio.create_task(self._run(self._events.get))
        return self._started(await self._ask("lifespan.startup"))

    async def shutdown(self) -> None:
        self._stopped(await self._ask("lifespan.shutdown"))
        if self._task is not None:
            await self._task

    async def _ask(self, event: str) -> Message | None:
        import asyncio

        if not self._supported or self._task is None or self._task.done():
            return None
        reply: asyncio.Future[Message] = asyncio.get_running_loop().create_future()
        self._future = reply
        self._events.put_nowait({"type": event})
        waiting: list[asyncio.Future[Any]] = [reply, self._task]
        await asyncio.wait(waiting, return_when=asyncio.FIRST_COMPLETED)
        return reply.result() if reply.done() else None

    def _reply(self, message: Message) -> None:
        if self._future is not None and not self._future.done():
            self._future.set_result(message)


class _Parked:
    """Awaited by a coroutine that waits for the driver's next event: it
    suspends the coroutine until the driver resumes it."""

    def __await__(self) -> Generator[Any, None, None]:
        yield self


class BlockingLifespan(_LifespanBase):
    """The lifespan with no event loop: the app's lifespan coroutine runs
    in steps, each until it waits for the next event."""

    def __init__(self, app: ASGIApp) -> None:
        super().__init__(app)
        self._inbox: list[Message] = []
        self._answer: Message | None = None
        self._coroutine: Coroutine[Any, Any, None] | None = None

    def startup(self) -> bool:
        self._coroutine = self._run(self._receive)
        return self._started(self._ask("lifespan.startup"))

    def shutdown(self) -> None:
        self._stopped(self._ask("lifespan.shutdown"))
        if self._coroutine is not None:
            self._coroutine.close()

    def _ask(self, event: str) -> Message | None:
        if not self._supported or self._coroutine is None:
            return None
        self._answer = None
        self._inbox.append({"type": event})
        run_blocking(self._coroutine, until_parked=True)
        return self._answer

    async def _receive(self) -> Message:
        while not self._inbox:
            await _Parked()
        return self._inbox.pop(0)

    def _reply(self, message: Message) -> None:
        self._answer = message


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


def serve_blocking(app: ASGIApp, scope: Scope, exchange: Exchange) -> None:
    """`serve_one` with no event loop, for an asyncweb App (see
    `needs_event_loop`). The scope says so (`types.NO_EVENT_LOOP`), so the
    App neither times reads nor watches for a disconnect."""
    scope["extensions"] = {**(scope.get("extensions") or {}), NO_EVENT_LOOP: {}}
    lifespan = BlockingLifespan(app)
    if lifespan.startup():
        scope["state"] = dict(lifespan.state)
        run_blocking(_call(app, scope, exchange))
    if exchange.status is None:  # a failed startup, or a call ended by run_blocking
        run_blocking(error_response(500)(scope, exchange.receive, exchange.send))
    lifespan.shutdown()


def run_blocking(coroutine: Coroutine[Any, Any, None], until_parked: bool = False) -> None:
    """Run `coroutine` with no event loop, to its end (or, `until_parked`,
    until it waits in `BlockingLifespan`). A bare `yield` (asyncio.sleep(0),
    a checkpoint) just goes on; awaiting anything else, which only a loop
    could resume, raises RuntimeError at that await, inside the coroutine,
    so the App traps it as any handler error."""
    refused = False
    try:
        yielded = coroutine.send(None)
        while True:
            if yielded is None:
                yielded = coroutine.send(None)
            elif until_parked and isinstance(yielded, _Parked):
                return
            elif not refused:
                refused = True
                yielded = coroutine.throw(RuntimeError(f"awaited {yielded!r}, which needs an event loop"))
            else:  # it awaits on regardless: end it, its finally blocks run
                log.error("ended a coroutine that awaited %r with no event loop to run it", yielded)
                coroutine.close()
                return
    except StopIteration:
        return


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
