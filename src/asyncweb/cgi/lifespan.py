"""The ASGI lifespan protocol around a gateway's life: one policy, two drivers.

The policy is uvicorn's: "auto" takes an app that raises before it answers
the startup event not to support lifespan, "on" takes that for a failure,
"off" sends nothing; a `*.failed` answer is a `LifespanFailure`. The
FastCGI server runs it around the process, the CGI host and `asyncweb call`
around their one request. `Lifespan` drives the app on asyncio,
`BlockingLifespan` with no event loop at all (CGI); neither does any other
I/O, and this module imports no asyncio until a `Lifespan` starts.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Coroutine

from .._log import log
from ..types import ASGIApp, Message, Receive, Scope
from .noloop import Parked, run_without_loop

TYPE_CHECKING = False
if TYPE_CHECKING:
    import asyncio
    from typing import Any, Literal

    LifespanMode = Literal["auto", "on", "off"]


class LifespanFailure(Exception):
    """The app reported that its startup or shutdown failed, or, in "on"
    mode, raised instead of answering."""


class _Policy:
    """What the app's answers (or its exceptions) mean, whoever drives it."""

    def __init__(self, app: ASGIApp, mode: LifespanMode) -> None:
        if mode not in ("auto", "on", "off"):
            raise ValueError(f"lifespan mode is 'auto', 'on' or 'off', not {mode!r}")
        self._app = app
        self._mode = mode
        self._supported = mode != "off"
        self._answered = False
        self._error: BaseException | None = None
        self.state: dict[str, Any] = {}  # what request scopes get a copy of

    def _scope(self) -> Scope:
        return {"type": "lifespan", "asgi": {"version": "3.0", "spec_version": "2.0"}, "state": self.state}

    async def _run(self, receive: Receive) -> None:
        try:
            await self._app(self._scope(), receive, self._send)
        except Exception as exc:
            if self._answered:
                log.exception("error in the app's lifespan")
            elif self._mode == "on":
                self._error = exc
                log.exception("the app's lifespan failed before its startup")
            else:
                log.info("the app does not support lifespan (%r)", exc)
        finally:
            self._supported = False
            self._answer(None)

    async def _send(self, message: Message) -> None:
        self._answered = True
        self._answer(message)

    def _answer(self, message: Message | None) -> None:
        raise NotImplementedError

    def _check(self, event: str, reply: Message | None) -> None:
        if reply is not None and reply["type"] == f"{event}.failed":
            raise LifespanFailure(f"{event} failed: {reply.get('message', '')}")
        if reply is None and self._error is not None:
            error, self._error = self._error, None  # reported once, by the step it failed
            raise LifespanFailure(f"{event} failed: {error!r}")


class Lifespan(_Policy):
    """The lifespan on asyncio: the app's lifespan coroutine is a task."""

    def __init__(self, app: ASGIApp, mode: LifespanMode = "auto") -> None:
        super().__init__(app, mode)
        self._task: asyncio.Task[None] | None = None
        self._events: asyncio.Queue[Message] | None = None
        self._reply: asyncio.Future[Message | None] | None = None

    async def startup(self) -> None:
        if not self._supported:
            return
        import asyncio

        events: asyncio.Queue[Message] = asyncio.Queue()
        self._events = events
        self._task = asyncio.get_running_loop().create_task(self._run(events.get))
        self._check("lifespan.startup", await self._ask("lifespan.startup"))

    async def shutdown(self) -> None:
        """Ask for the shutdown and wait for the app's lifespan to return."""
        task = self._task
        if task is None:
            return
        try:
            self._check("lifespan.shutdown", await self._ask("lifespan.shutdown"))
        finally:
            await task

    def cancel(self) -> None:
        """End the app's lifespan task now (a server stopped without a shutdown)."""
        if self._task is not None:
            self._task.cancel()

    async def _ask(self, event: str) -> Message | None:
        if not self._supported or self._events is None:
            return None
        import asyncio

        reply: asyncio.Future[Message | None] = asyncio.get_running_loop().create_future()
        self._reply = reply
        self._events.put_nowait({"type": event})
        return await reply

    def _answer(self, message: Message | None) -> None:
        if self._reply is not None and not self._reply.done():
            self._reply.set_result(message)


class BlockingLifespan(_Policy):
    """The lifespan with no event loop: the app's lifespan coroutine runs in
    steps, each until it waits for the next event."""

    def __init__(self, app: ASGIApp, mode: LifespanMode = "auto") -> None:
        super().__init__(app, mode)
        self._inbox: deque[Message] = deque()
        self._reply: Message | None = None
        self._coroutine: Coroutine[Any, Any, None] | None = None

    def startup(self) -> None:
        if self._supported:
            self._coroutine = self._run(self._receive)
        self._check("lifespan.startup", self._ask("lifespan.startup"))

    def shutdown(self) -> None:
        try:
            self._check("lifespan.shutdown", self._ask("lifespan.shutdown"))
        finally:
            if self._coroutine is not None:
                self._coroutine.close()

    def _ask(self, event: str) -> Message | None:
        if not self._supported or self._coroutine is None:
            return None
        self._reply = None
        self._inbox.append({"type": event})
        run_without_loop(self._coroutine, until_parked=True)
        return self._reply

    async def _receive(self) -> Message:
        while not self._inbox:
            await Parked()
        return self._inbox.popleft()

    def _answer(self, message: Message | None) -> None:
        if message is not None:
            self._reply = message
