"""The ASGI lifespan protocol, run around a server's life."""

from __future__ import annotations

import logging
from typing import Any, Literal

import anyio
from anyio.abc import TaskGroup

from ..types import ASGIApp, Message

log = logging.getLogger("asyncweb.fastcgi")

LifespanMode = Literal["auto", "on", "off"]


class LifespanFailure(Exception):
    """The application reported that its startup or shutdown failed."""


class Lifespan:
    """Sends lifespan.startup and lifespan.shutdown to the app.

    In "auto" mode an app that raises before answering the startup event is
    taken not to support lifespan, as uvicorn does; in "on" mode that is an
    error. `state` is the lifespan state that request scopes get a copy of.
    """

    def __init__(self, app: ASGIApp, mode: LifespanMode) -> None:
        self._app = app
        self._mode = mode
        self.state: dict[str, Any] = {}
        self._events = anyio.create_memory_object_stream[Message](2)
        self._answer: anyio.Event = anyio.Event()
        self._reply: Message | None = None
        self._supported = mode != "off"
        self._finished = anyio.Event()

    async def startup(self, task_group: TaskGroup) -> None:
        if not self._supported:
            return
        task_group.start_soon(self._main)
        await self._ask("lifespan.startup")

    async def shutdown(self) -> None:
        if not self._supported:
            return
        await self._ask("lifespan.shutdown")
        await self._finished.wait()

    async def _ask(self, event: str) -> None:
        if self._finished.is_set():
            return
        self._answer = anyio.Event()
        try:
            self._events[0].send_nowait({"type": event})
        except anyio.ClosedResourceError:
            return  # the app returned without waiting for it
        await self._answer.wait()
        reply = self._reply
        if reply is None:
            return
        if reply["type"].endswith(".failed"):
            raise LifespanFailure(f"{event} failed: {reply.get('message', '')}")

    async def _main(self) -> None:
        scope = {"type": "lifespan", "asgi": {"version": "3.0", "spec_version": "2.0"}}
        scope["state"] = self.state
        try:
            await self._app(scope, self._receive, self._send)
        except Exception as exc:
            if self._mode == "auto" and self._reply is None:
                self._supported = False
                log.info("lifespan not supported by the app (%r)", exc)
            else:
                self._reply = {"type": "lifespan.failed", "message": repr(exc)}
                log.exception("error in the app's lifespan")
        finally:
            self._events[0].close()
            self._events[1].close()
            self._finished.set()
            self._answer.set()

    async def _receive(self) -> Message:
        return await self._events[1].receive()

    async def _send(self, message: Message) -> None:
        self._reply = message
        self._answer.set()
