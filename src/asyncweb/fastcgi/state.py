"""What every connection of a FastCGI server reads: the app, its lifespan
state, the limits, the concurrency slots and whether the server stops.

The server makes one and hands it to each connection; a connection never
reaches back into the server. No I/O here.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Callable
from typing import Any

from ..types import ASGIApp


class Slots:
    """The concurrency limit: a counter, with callbacks to call only when
    every slot is taken."""

    def __init__(self, limit: int) -> None:
        self.free = limit  # slots free now (the in-process benchmark reads it)
        self._callbacks: deque[Callable[[], None]] = deque()

    def try_acquire(self, on_free: Callable[[], None]) -> bool:
        """Take a slot, or have `on_free` called (once) when one is freed,
        to try again."""
        if self.free:
            self.free -= 1
            return True
        self._callbacks.append(on_free)
        return False

    def release(self) -> None:
        self.free += 1
        if self._callbacks:
            # Every waiter tries again (one that cannot use the slot, its
            # connection gone, must not keep it from the others), soon
            # rather than now: release() runs inside another request's
            # bookkeeping.
            loop = asyncio.get_running_loop()
            while self._callbacks:
                loop.call_soon(self._callbacks.popleft())


class ServerState:
    """The server's side of every connection."""

    def __init__(
        self, app: ASGIApp, concurrency: int, max_params_size: int, lifespan_state: dict[str, Any] | None = None
    ) -> None:
        self.app = app
        self.concurrency = concurrency
        self.max_params_size = max_params_size
        self.lifespan_state = lifespan_state if lifespan_state is not None else {}
        self.slots = Slots(concurrency)
        self.stopping = False
