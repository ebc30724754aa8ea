"""One FastCGI connection over anyio: the portable connection layer.

It runs wherever anyio does (trio included). On asyncio, `transport` does
the same job with less overhead per request, and this layer is not used.
One task reads the connection, one task runs each request, and writes on a
connection are serialised by a lock because multiplexed requests share it.
"""

from __future__ import annotations

import contextlib
import socket
from collections import deque
from collections.abc import Callable
from typing import TYPE_CHECKING

import anyio
from anyio.abc import TaskGroup

from ..cgi.variables import scope_from_environ
from ..types import Scope
from .exchange import ClientDisconnected, Exchange, log
from .protocol import Connection, ProtocolError, RequestAborted, RequestBody, RequestBodyEnd, RequestStarted

if TYPE_CHECKING:
    from .server import Server

RECEIVE_SIZE = 1 << 18
# How long a connection we half-closed waits for the web server to close it.
LINGER_SECONDS = 5.0


async def _acquire(lock: anyio.Lock) -> None:
    """Acquire without a trip through the event loop when it is free (the
    common case: one request at a time on a connection)."""
    try:
        lock.acquire_nowait()
    except anyio.WouldBlock:
        await lock.acquire()


def new_codec(server: Server) -> Connection:
    return Connection(
        max_requests=server.concurrency,
        max_conns=server.concurrency,
        max_reqs=server.concurrency,
        max_params_size=server.max_params_size,
    )


def make_scope(server: Server, event: RequestStarted, peer: Callable[[], str]) -> Scope | None:
    """The ASGI scope for a request, or None (logged) for params that break
    CGI's rules."""
    try:
        scope = scope_from_environ(event.params, event.headers)
    except ValueError as exc:
        log.warning("bad FastCGI params from %s: %s", peer(), exc)
        return None
    if server.lifespan.state:
        scope["state"] = server.lifespan.state.copy()
    return scope


class StreamConnection:
    def __init__(self, server: Server, sock: socket.socket) -> None:
        self.server = server
        self.sock = sock
        self.codec = new_codec(server)
        self.exchanges: dict[int, Exchange] = {}
        self.broken = False
        self.closing = False
        self._lock = anyio.Lock()
        # One task per connection runs its requests one after another, so a
        # request costs a wake-up instead of a new task; a request that comes
        # while another runs (multiplexing, or an app still busy after its
        # response) gets a task of its own. Requests run by the one task
        # share its contextvars context, unlike on the transports layer.
        self._queue: deque[Exchange] = deque()
        self._runner_wakeup: anyio.Event | None = None
        self._reading = True
        self._drained: anyio.Event | None = None
        self._reader = anyio.CancelScope()

    async def write(self, data: bytes) -> None:
        if self.broken:
            raise ClientDisconnected("the web server closed the connection")
        try:
            view = memoryview(data)
            if not self._lock.locked():
                # Nobody is half-way through a write: try the kernel at once.
                view = view[self._send_some(view) :]
            if view:
                await _acquire(self._lock)
                try:
                    await self._send_all(view)
                finally:
                    self._lock.release()
        except OSError as exc:
            self._break()
            raise ClientDisconnected("the web server closed the connection") from exc
        if self.codec.should_close or (self.server.stopping and not self.codec.active_requests):
            await self.close()

    def resume_reading(self) -> None:
        if self._drained is not None:
            self._drained.set()
            self._drained = None

    def request_done(self, exchange: Exchange) -> None:
        # After END_REQUEST the web server may reuse the id while this app
        # still works: forget the request only if it is still this one.
        if self.exchanges.get(exchange.request_id) is exchange:
            del self.exchanges[exchange.request_id]
        self.server.slots.release()

    def _break(self) -> None:
        self.broken = True
        for exchange in self.exchanges.values():
            exchange.abort()

    async def close_if_idle(self) -> None:
        if not self.codec.active_requests:
            await self.close()

    async def close(self) -> None:
        """Half-close, and let the reader drain until the web server closes
        its side (or LINGER_SECONDS pass): closing with unread bytes would
        reset the connection, which can cost the peer the end of the
        response."""
        if self.closing:
            return
        self.closing = True
        with contextlib.suppress(OSError):
            self.sock.shutdown(socket.SHUT_WR)
        self._reader.deadline = anyio.current_time() + LINGER_SECONDS

    async def run(self) -> None:
        try:
            async with anyio.create_task_group() as tasks:
                tasks.start_soon(self._run_queued)
                ending = "timeout"
                with self._reader:
                    ending = await self._read(tasks)
                self._reading = False
                self._wake_runner()
                self._break()
                if ending == "error":
                    tasks.cancel_scope.cancel()
        finally:
            self.sock.close()

    # Non-blocking socket calls, waiting through anyio only when the kernel
    # says so: a keep-alive request costs one recv and one send, where
    # anyio's streams add loop round trips and buffer bookkeeping to each.

    async def _receive(self, wait_first: bool) -> bytes:
        """The next bytes, or b"" at the end. `wait_first` skips a recv that
        would fail: after a short read the socket is most likely drained."""
        if wait_first:
            await anyio.wait_readable(self.sock)
        while True:
            try:
                return self.sock.recv(RECEIVE_SIZE)
            except (BlockingIOError, InterruptedError):
                await anyio.wait_readable(self.sock)
            except OSError:  # reset by the peer
                return b""

    def _send_some(self, view: memoryview) -> int:
        try:
            return self.sock.send(view)
        except (BlockingIOError, InterruptedError):
            return 0

    async def _send_all(self, view: memoryview) -> None:
        while view:
            await anyio.wait_writable(self.sock)
            view = view[self._send_some(view) :]

    async def _read(self, tasks: TaskGroup) -> str:
        """Read and dispatch until the peer closes ("eof") or breaks the
        protocol ("error"); after our own close, the linger deadline may
        cancel this first."""
        codec = self.codec
        data = b""
        while True:
            data = await self._receive(wait_first=0 < len(data) < RECEIVE_SIZE)
            try:
                events = codec.receive_data(data)
            except ProtocolError as exc:
                log.warning("dropping FastCGI connection from %s: %s", self.peer(), exc)
                return "error"
            if self.closing:
                events = []  # what comes after our close is only drained
            reply = codec.data_to_send()
            if reply and not self.closing:
                await self.write(reply)
            for event in events:
                if type(event) is RequestBody:
                    exchange = self.exchanges.get(event.request_id)
                    if exchange is not None:
                        exchange.feed(event.data)
                        while exchange.over_high_water:
                            self._drained = self._drained or anyio.Event()
                            await self._drained.wait()
                elif type(event) is RequestStarted:
                    await self._start(event, tasks)
                elif type(event) is RequestBodyEnd:
                    exchange = self.exchanges.get(event.request_id)
                    if exchange is not None:
                        exchange.end_body()
                elif type(event) is RequestAborted:
                    exchange = self.exchanges.get(event.request_id)
                    if exchange is not None:
                        exchange.abort()
                    else:  # aborted before its PARAMS were complete
                        await self.write(codec.end_request(event.request_id))
            if not data:
                return "eof"

    async def _start(self, event: RequestStarted, tasks: TaskGroup) -> None:
        scope = make_scope(self.server, event, self.peer)
        if scope is None:
            await self.write(self.codec.end_request(event.request_id, 1))
            return
        await self.server.slots.acquire()
        exchange = Exchange(self, event.request_id, scope, event.params.get("CONTENT_LENGTH", ""))
        self.exchanges[event.request_id] = exchange
        if self._runner_wakeup is not None and not self._queue:
            self._queue.append(exchange)
            self._wake_runner()
        else:
            tasks.start_soon(exchange.run, self.server.app)

    def _wake_runner(self) -> None:
        if self._runner_wakeup is not None:
            self._runner_wakeup.set()
            self._runner_wakeup = None

    async def _run_queued(self) -> None:
        while True:
            while not self._queue:
                if not self._reading:
                    return
                self._runner_wakeup = anyio.Event()
                await self._runner_wakeup.wait()
            await self._queue.popleft().run(self.server.app)

    def peer(self) -> str:
        try:
            return str(self.sock.getpeername()) or "unix"
        except OSError:
            return "?"
