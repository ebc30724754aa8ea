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

# The defaults of the deadlines, in seconds. Idle: longer than nginx's
# upstream keepalive_timeout (60 s), so that the web server, which knows
# when it will reuse a pooled connection, is the one to close it, as it is
# nginx's keepalive_timeout for its clients. Read: longer than nginx's
# client_body_timeout and fastcgi_send_timeout (60 s) and an asyncweb App's
# read_timeout (60 s, answered 408), which end a stalled request properly
# first; this is the backstop for a peer that stalls mid-request.
IDLE_TIMEOUT = 75.0
READ_TIMEOUT = 90.0
# A peer that takes none of the output for this long is dropped (an app
# answering it would otherwise wait, and hold its slot, for ever).
WRITE_TIMEOUT = 90.0


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
    """The server's side of every connection. A timeout of None (or 0) is
    no deadline; `max_connection_params` None is 4 x `max_params_size`."""

    def __init__(
        self,
        app: ASGIApp,
        concurrency: int,
        max_params_size: int,
        lifespan_state: dict[str, Any] | None = None,
        *,
        max_connection_params: int | None = None,
        idle_timeout: float | None = IDLE_TIMEOUT,
        read_timeout: float | None = READ_TIMEOUT,
        write_timeout: float | None = WRITE_TIMEOUT,
    ) -> None:
        self.app = app
        self.concurrency = concurrency
        self.max_params_size = max_params_size
        self.max_connection_params = max_connection_params
        self.idle_timeout = idle_timeout or None
        self.read_timeout = read_timeout or None
        self.write_timeout = write_timeout or None
        # How often a connection looks at its deadlines: each fires between
        # its timeout and a quarter more.
        timeouts = [t for t in (self.idle_timeout, self.read_timeout, self.write_timeout) if t is not None]
        self.tick = min(timeouts) / 4 if timeouts else 0.0
        self.lifespan_state = lifespan_state if lifespan_state is not None else {}
        self.slots = Slots(concurrency)
        self.stopping = False
