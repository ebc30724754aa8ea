"""One FastCGI connection as an asyncio `Protocol`: the I/O around the codec.

The event loop calls `data_received` straight from its read callback, the
sans-I/O codec (`protocol`) turns the bytes into events, each request gets
a plain asyncio task running its `FastCGIExchange`, and a response is one
`transport.write`. Backpressure maps onto the transport: reading pauses
while an app has more than `BODY_HIGH_WATER` bytes of body unread, or while
the concurrency limit holds a request back, and a writer waits while the
transport's buffer is full. Replies the peer asked for without a request
(GET_VALUES, unknown record types, refused requests) get the same: while the
transport holds them unsent, nothing more is read.

Deadlines cost the hot path one flag: `data_received` sets it, and one timer
per connection, every quarter of the shortest timeout, looks at it. No input
for `read_timeout` while a request's PARAMS or STDIN is unfinished (and we
are reading) aborts those requests as disconnects; no input for
`idle_timeout` with no request open closes the connection.

Listening, signals, lifespan and shutdown are the server's (`server`); the
protocol itself is never parsed here.
"""

from __future__ import annotations

import asyncio
import contextvars
import socket
from collections import deque
from collections.abc import Awaitable, Callable
from typing import Any, cast

import anyio

from ..cgi.variables import scope_from_environ
from ..errors import ClientDisconnect
from ..types import Scope
from .exchange import BODY_HIGH_WATER, SERVING, FastCGIExchange, log
from .protocol import Connection as Codec
from .protocol import Event, ProtocolError, RequestBody, RequestBodyEnd, RequestStarted
from .state import ServerState

# Body bytes a connection holds for its apps in all before it reads no more:
# a few requests' worth of BODY_HIGH_WATER, so that multiplexing cannot
# multiply what a peer can make the server hold.
CONNECTION_BODY_HIGH_WATER = 4 * BODY_HIGH_WATER
# At shutdown, how long an idle connection may still bring a request it sent,
# and how long one that has brought none yet may take to bring its first:
# the web server opened it to send one, however loaded the machine.
SHUTDOWN_GRACE = 0.05
FIRST_REQUEST_GRACE = 1.0
# How long a connection we half-closed waits for the web server to close it
# (again while the web server still takes the output left to send).
LINGER_SECONDS = 5.0


def new_codec(server: ServerState) -> Codec:
    return Codec(
        max_requests=server.concurrency,
        max_conns=server.concurrency,
        max_reqs=server.concurrency,
        max_params_size=server.max_params_size,
        max_connection_params=server.max_connection_params,
    )


def make_scope(
    server: ServerState, event: RequestStarted, peer: Callable[[], str], body_pending: bool = False
) -> Scope | None:
    """The ASGI scope for a request, or None (logged) for params that break
    CGI's rules. `body_pending`: its STDIN has not ended yet."""
    try:
        scope = scope_from_environ(event.params, event.headers, body_pending)
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
        # Reading is paused until the transport takes the replies queued.
        self._replies_held = False
        self._write_waiters: list[asyncio.Future[None]] = []
        self._write_stalled = 0.0  # seconds the transport has been full, by ticks
        self._lost = anyio.Event()
        self._linger: asyncio.TimerHandle | None = None
        self._linger_left = 0  # output still unsent at the last linger check
        # The deadlines: a flag per read, a timer per tick, the quiet time.
        self._received = False
        self._quiet = 0.0
        self._timer: asyncio.TimerHandle | None = None
        self._fresh = True  # no request has begun on it yet
        # Each request's task gets a copy: its app's context variables are its
        # own, and SERVING, set once here, costs no request a set.
        self._context = contextvars.copy_context()
        self._context.run(SERVING.set, self)

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
        if self.server.tick:
            self._timer = self._loop.call_later(self.server.tick, self._check_deadlines)

    def data_received(self, data: bytes) -> None:
        if self.closing:
            return  # what comes after our close is only drained
        self._received = True
        try:
            events = self.codec.receive_data(data)
        except ProtocolError as exc:
            self._drop(exc)
            return
        self._take(events)

    def _take(self, events: list[Event]) -> None:
        """Send the replies `events` came with, and dispatch them."""
        codec = self.codec
        reply = codec.data_to_send()
        if reply:
            self._reply(reply)
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
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        self._lost.set()

    def pause_writing(self) -> None:
        self._writing_paused = True
        self._write_stalled = 0.0

    def resume_writing(self) -> None:
        self._writing_paused = False
        self._wake_writers()
        if self._replies_held:
            self._loop.call_soon(self._release_replies)

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
                    if exchange.over_high_water or self._body_backlog() > CONNECTION_BODY_HIGH_WATER:
                        self._pause_reading()
            elif kind is RequestBodyEnd:
                if exchange is not None:
                    exchange.end_body()
            elif exchange is not None:  # RequestAborted
                exchange.abort()
            # else: its params were refused, and END_REQUEST went out then
            # (the codec ends a request aborted in its PARAMS itself).

    def _start(self, event: RequestStarted) -> bool:
        """Start the app on a request; False when no slot is free."""
        server = self.server
        if not server.slots.try_acquire(self._slot_freed):
            return False
        self._fresh = False
        input_done = event.input_done or self.codec.input_complete(event.request_id)
        scope = make_scope(server, event, self.peer, not input_done)
        if scope is None:
            server.slots.release()
            self._reply(self.codec.end_request(event.request_id, 1))
            return True
        content_length = event.params.get("CONTENT_LENGTH", "")
        exchange = FastCGIExchange(self, event.request_id, scope, content_length, event.input_done)
        self.exchanges[event.request_id] = exchange
        # A task per request, so that nothing waits behind an app that goes
        # on working after its response (Starlette's background tasks), and
        # each app gets its own copy of the context. request_done() forgets
        # it: cheaper than a done callback, which costs a loop callback.
        self._tasks[exchange] = self._loop.create_task(exchange.run(server.app), context=self._context.copy())
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
        # A transport whose send failed is closing at once, but tells the
        # protocol only on the next loop turn: an app streaming meanwhile
        # would write on into it (asyncio warns at each write after five).
        if self.broken or self.closing or self._transport is None or self._transport.is_closing():
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

    @property
    def reading_paused(self) -> bool:
        return self._reading_paused

    def _body_backlog(self) -> int:
        """Body bytes fed to this connection's apps and not read by them yet:
        bounded in sum, not only per request (multiplexed requests)."""
        exchanges = self.exchanges
        if len(exchanges) == 1:
            return next(iter(exchanges.values())).buffered
        return sum(exchange.buffered for exchange in exchanges.values())

    def resume_reading(self) -> None:
        if (
            self._reading_paused
            and not self._pending
            and not self._replies_held
            and not self.broken
            and self._transport is not None
            and self._body_backlog() <= CONNECTION_BODY_HIGH_WATER
        ):
            self._reading_paused = False
            self._transport.resume_reading()

    def request_done(self, exchange: FastCGIExchange) -> None:
        self._tasks.pop(exchange, None)
        # After END_REQUEST the web server may reuse the id while this app
        # still works: forget the request only if it is still this one.
        if self.exchanges.get(exchange.request_id) is exchange:
            del self.exchanges[exchange.request_id]
        self.server.slots.release()

    def serving(self) -> FastCGIExchange | None:
        """The request whose task is running, or, in a task an app started,
        the connection's one open request (None when several are open)."""
        task = asyncio.current_task()
        for exchange, own in self._tasks.items():
            if own is task:
                return exchange
        if len(self.exchanges) == 1:
            return next(iter(self.exchanges.values()))
        return None

    # Closing

    def close_if_idle(self) -> None:
        """At shutdown: close unless a request is open. What the peer sent
        just before (still in the kernel's buffer) is read first: a little
        time, then the close, unless a request began meanwhile; a connection
        that has not brought its first request yet gets longer."""
        if not self.codec.active_requests:
            grace = FIRST_REQUEST_GRACE if self._fresh else SHUTDOWN_GRACE
            self._loop.call_later(grace, self._close_unless_busy)

    def _close_unless_busy(self) -> None:
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
        self._linger_left = transport.get_write_buffer_size()
        self._linger = self._loop.call_later(LINGER_SECONDS, self._end_linger)

    def _end_linger(self) -> None:
        """The web server had LINGER_SECONDS to close: close. Output still
        unsent waits as long as the web server keeps taking some of it; a
        peer that takes none in that time is cut off (a transport's close
        would wait for it forever)."""
        assert self._transport is not None
        left = self._transport.get_write_buffer_size()
        if left and left < self._linger_left:
            self._linger_left = left
            self._linger = self._loop.call_later(LINGER_SECONDS, self._end_linger)
        elif left:
            self._transport.abort()
        else:
            self._transport.close()

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

    def _reply(self, data: bytes) -> None:
        """Send what the peer's records called for, not a response of an
        app: while the transport holds it unsent (the peer is not reading),
        or the codec held back input for more of it, read nothing more."""
        self._send(data)
        if (self._writing_paused or self.codec.held_back) and not self.closing:
            self._replies_held = True
            self._pause_reading()
            if not self._writing_paused:  # the transport took it all: on with the rest, soon
                self._loop.call_soon(self._release_replies)

    def _release_replies(self) -> None:
        """The transport took the replies: parse what the codec held back,
        then read on."""
        if not self._replies_held or self._writing_paused or self.broken or self.closing:
            return
        self._replies_held = False
        if self.codec.held_back:
            try:
                events = self.codec.resume()
            except ProtocolError as exc:
                self._drop(exc)
                return
            self._take(events)
        self.resume_reading()

    def _pause_reading(self) -> None:
        if not self._reading_paused and self._transport is not None:
            self._reading_paused = True
            self._transport.pause_reading()

    # Deadlines

    def _check_deadlines(self) -> None:
        """Every tick: was anything read since the last? The quiet time
        counts only while we read (not while an app's unread body or the
        concurrency limit holds reading back, which are our doing) and a
        deadline could apply (not while every open request has its input
        and only its app is at work)."""
        self._timer = None
        if self.broken or self.closing:
            return
        server = self.server
        if self._writing_paused and server.write_timeout is not None:
            self._write_stalled += server.tick
            if self._write_stalled >= server.write_timeout:
                log.warning(
                    "dropping FastCGI connection from %s: it took none of its output for %g s",
                    self.peer(),
                    server.write_timeout,
                )
                assert self._transport is not None
                self._transport.abort()  # connection_lost() tells the apps
                return
        codec = self.codec
        if self._received or (self._reading_paused and not self._replies_held):
            self._received = False
            self._quiet = 0.0
        elif codec.input_incomplete:
            self._quiet += server.tick
            if server.read_timeout is not None and self._quiet >= server.read_timeout:
                self._input_timed_out()
        elif not codec.active_requests:
            self._quiet += server.tick
            if server.idle_timeout is not None and self._quiet >= server.idle_timeout:
                if self._replies_held:
                    log.warning("closing FastCGI connection from %s: it reads none of its replies", self.peer())
                else:
                    log.debug("closing FastCGI connection from %s: idle for %g s", self.peer(), server.idle_timeout)
                self.close()
                return
        else:
            self._quiet = 0.0
        if not self.closing:
            self._timer = self._loop.call_later(server.tick, self._check_deadlines)

    def _input_timed_out(self) -> None:
        """No input for `read_timeout` while some is owed: the requests
        waiting for theirs are aborted (their apps see a disconnect, their
        slots come back), and the connection goes unless some other request
        still lives on it."""
        stalled = set(self.codec.incomplete_requests())
        log.warning(
            "FastCGI connection from %s sent nothing for %g s with %d request(s) unfinished: aborting them",
            self.peer(),
            self.server.read_timeout,
            len(stalled),
        )
        self._quiet = 0.0
        if self._pending:
            self._pending = deque(e for e in self._pending if e.request_id not in stalled)
        ended = b""
        for rid in stalled:
            exchange = self.exchanges.get(rid)
            if exchange is not None:
                exchange.abort()
            else:  # still in PARAMS: no app was called
                ended += self.codec.end_request(rid)
        living = [e for rid, e in self.exchanges.items() if rid not in stalled and not e.done]
        if not living:
            self.close()
        elif ended:
            self._send(ended)

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
            if self._transport.get_write_buffer_size():  # a peer that does not read: not forever
                self._linger_left = self._transport.get_write_buffer_size()
                self._linger = self._loop.call_later(LINGER_SECONDS, self._end_linger)
