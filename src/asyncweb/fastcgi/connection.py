"""One FastCGI connection as an asyncio `Protocol`: the I/O around the codec.

The event loop calls `data_received` straight from its read callback, the
sans-I/O codec (`protocol`) turns the bytes into events, each request gets
a plain asyncio task running its `FastCGIExchange`, and a response is one
`transport.write`. Backpressure maps onto the transport: reading pauses
while an app has more than `BODY_HIGH_WATER` bytes of body unread, or while
the concurrency limit holds a request back, and a writer waits while the
transport's buffer is full. Listening, signals, lifespan and shutdown are
the server's (`server`); the protocol itself is never parsed here.
"""

from __future__ import annotations

import asyncio
import socket
from collections import deque
from collections.abc import Awaitable, Callable
from typing import Any, cast

import anyio

from ..cgi.variables import scope_from_environ
from ..errors import ClientDisconnect
from ..types import Scope
from .exchange import FastCGIExchange, log
from .protocol import Connection as Codec
from .protocol import Event, ProtocolError, RequestBody, RequestBodyEnd, RequestStarted
from .state import ServerState

# How long a connection we half-closed waits for the web server to close it.
LINGER_SECONDS = 5.0


def new_codec(server: ServerState) -> Codec:
    return Codec(
        max_requests=server.concurrency,
        max_conns=server.concurrency,
        max_reqs=server.concurrency,
        max_params_size=server.max_params_size,
    )


def make_scope(server: ServerState, event: RequestStarted, peer: Callable[[], str]) -> Scope | None:
    """The ASGI scope for a request, or None (logged) for params that break
    CGI's rules."""
    try:
        scope = scope_from_environ(event.params, event.headers)
    except ValueError as exc:
        log.warning("bad FastCGI params from %s: %s", peer(), exc)
        return None
    if server.lifespan_state:
        scope["state"] = server.lifespan_state.copy()
    return scope


class Connection(asyncio.Protocol):
    """A connection's codec, its requests' exchanges and tasks, and the
    transport's flow control."""

    def __init__(self, server: ServerState, sock: socket.socket) -> None:
        self.server = server
        self.sock = sock
        self.codec = new_codec(server)
        self.exchanges: dict[int, FastCGIExchange] = {}
        self.broken = False
        self.closing = False
        self._loop = asyncio.get_running_loop()
        self._transport: asyncio.Transport | None = None
        # The task of each request whose app is running.
        self._tasks: dict[FastCGIExchange, asyncio.Task[None]] = {}
        # Events held back while the concurrency limit is reached.
        self._pending: deque[Event] = deque()
        self._reading_paused = False
        self._writing_paused = False
        self._write_waiters: list[asyncio.Future[None]] = []
        self._lost = anyio.Event()
        self._linger: asyncio.TimerHandle | None = None

    async def run(self) -> None:
        """Serve the connection until it closes and its requests end; when
        cancelled (shutdown timeout), cancel the requests too."""
        try:
            await self._loop.connect_accepted_socket(lambda: self, self.sock)
            await self._lost.wait()
            await self._wait_tasks()
        finally:
            if self._transport is not None:
                self._transport.abort()
            else:
                self.sock.close()
            for task in self._tasks.values():
                task.cancel()
            with anyio.CancelScope(shield=True):
                await self._wait_tasks()

    async def _wait_tasks(self) -> None:
        while self._tasks:
            await asyncio.wait(list(self._tasks.values()))
            for exchange, task in list(self._tasks.items()):
                if task.done():  # cancelled before it started: its own cleanup never ran
                    self.request_done(exchange)

    # asyncio.Protocol

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's transports are not asyncio.Transport subclasses.
        self._transport = cast(asyncio.Transport, transport)

    def data_received(self, data: bytes) -> None:
        if self.closing:
            return  # what comes after our close is only drained
        codec = self.codec
        try:
            events = codec.receive_data(data)
        except ProtocolError as exc:
            self._drop(exc)
            return
        reply = codec.data_to_send()
        if reply:
            self._send(reply)
        if self._pending:
            self._pending.extend(events)
        else:
            self._dispatch(events)

    def eof_received(self) -> bool:
        if not self.closing:
            try:
                self.codec.receive_data(b"")
            except ProtocolError as exc:
                self._drop(exc)
        return False  # close: the web server is gone, and its requests with it

    def connection_lost(self, exc: Exception | None) -> None:
        self.broken = True
        self._pending.clear()
        for exchange in self.exchanges.values():
            exchange.abort()
        self._wake_writers()
        if self._linger is not None:
            self._linger.cancel()
        self._lost.set()

    def pause_writing(self) -> None:
        self._writing_paused = True

    def resume_writing(self) -> None:
        self._writing_paused = False
        self._wake_writers()

    # Dispatch

    def _dispatch(self, events: list[Event]) -> None:
        for i, event in enumerate(events):
            kind = type(event)
            if kind is RequestStarted:
                if not self._start(event):  # type: ignore[arg-type]
                    self._pending.extend(events[i:])
                    self._pause_reading()
                    return
                continue
            exchange = self.exchanges.get(event.request_id)
            if kind is RequestBody:
                if exchange is not None:
                    exchange.feed(event.data)  # type: ignore[union-attr]
                    if exchange.over_high_water:
                        self._pause_reading()
            elif kind is RequestBodyEnd:
                if exchange is not None:
                    exchange.end_body()
            elif exchange is not None:  # RequestAborted
                exchange.abort()
            else:  # aborted before its PARAMS were complete
                self._send(self.codec.end_request(event.request_id))

    def _start(self, event: RequestStarted) -> bool:
        """Start the app on a request; False when no slot is free."""
        server = self.server
        if not server.slots.try_acquire(self._slot_freed):
            return False
        scope = make_scope(server, event, self.peer)
        if scope is None:
            server.slots.release()
            self._send(self.codec.end_request(event.request_id, 1))
            return True
        exchange = FastCGIExchange(self, event.request_id, scope, event.params.get("CONTENT_LENGTH", ""))
        self.exchanges[event.request_id] = exchange
        # A task per request, so that nothing waits behind an app that goes
        # on working after its response (Starlette's background tasks), and
        # each app gets its own copy of the context. request_done() forgets
        # it: cheaper than a done callback, which costs a loop callback.
        self._tasks[exchange] = self._loop.create_task(exchange.run(server.app))
        return True

    def _slot_freed(self) -> None:
        if self.broken or not self._pending:
            return
        events = list(self._pending)
        self._pending.clear()
        self._dispatch(events)
        if not self._pending:
            self.resume_reading()

    # Link, for the exchanges

    def write(self, data: bytes) -> Awaitable[None] | None:
        if self.broken or self.closing:
            raise ClientDisconnect("the web server closed the connection")
        self._send(data)
        return self._drain() if self._writing_paused else None

    async def _drain(self) -> None:
        """Wait until the transport takes more (or the connection is lost)."""
        while self._writing_paused and not self.broken:
            waiter = self._loop.create_future()
            self._write_waiters.append(waiter)
            try:
                await waiter
            finally:
                if waiter in self._write_waiters:
                    self._write_waiters.remove(waiter)
        if self.broken:
            raise ClientDisconnect("the web server closed the connection")

    def resume_reading(self) -> None:
        if self._reading_paused and not self._pending and not self.broken and self._transport is not None:
            self._reading_paused = False
            self._transport.resume_reading()

    def request_done(self, exchange: FastCGIExchange) -> None:
        self._tasks.pop(exchange, None)
        # After END_REQUEST the web server may reuse the id while this app
        # still works: forget the request only if it is still this one.
        if self.exchanges.get(exchange.request_id) is exchange:
            del self.exchanges[exchange.request_id]
        self.server.slots.release()

    # Closing

    def close_if_idle(self) -> None:
        if not self.codec.active_requests:
            self.close()

    def close(self) -> None:
        """Half-close once the buffered output is out, and read on until the
        web server closes its side (or LINGER_SECONDS pass): closing with
        unread bytes would reset the connection, which can cost the peer the
        end of the response."""
        if self.closing or self.broken or self._transport is None:
            return
        self.closing = True
        transport = self._transport
        if self._reading_paused:
            self._reading_paused = False
            transport.resume_reading()
        if transport.can_write_eof():
            transport.write_eof()
        self._linger = self._loop.call_later(LINGER_SECONDS, transport.close)

    def peer(self) -> str:
        if self._transport is None:
            return "?"
        peer: Any = self._transport.get_extra_info("peername")
        return str(peer) or "unix"

    # Internals

    def _send(self, data: bytes) -> None:
        assert self._transport is not None
        self._transport.write(data)
        if self.codec.should_close or (self.server.stopping and not self.codec.active_requests):
            self.close()

    def _pause_reading(self) -> None:
        if not self._reading_paused and self._transport is not None:
            self._reading_paused = True
            self._transport.pause_reading()

    def _wake_writers(self) -> None:
        for waiter in self._write_waiters:
            if not waiter.done():
                waiter.set_result(None)
        self._write_waiters.clear()

    def _drop(self, exc: ProtocolError) -> None:
        """A peer that breaks the protocol loses the connection, and the
        requests on it are cancelled."""
        log.warning("dropping FastCGI connection from %s: %s", self.peer(), exc)
        self.closing = True
        for task in self._tasks.values():
            task.cancel()
        if self._transport is not None:
            self._transport.close()
