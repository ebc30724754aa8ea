"""An anyio FastCGI responder for any ASGI 3 application.

The protocol lives in `protocol`; this module only moves bytes between
sockets, the codec and the application: one task reads each connection, one
task runs each request, and writes on a connection are serialised by a lock
because multiplexed requests share it.
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import socket
import stat
from collections import deque
from http import HTTPStatus
from typing import Any

import anyio
from anyio.abc import TaskGroup, TaskStatus

from ..environ import scope_from_environ
from ..types import ASGIApp, Message, Scope
from .lifespan import Lifespan, LifespanFailure, LifespanMode
from .protocol import (
    Connection,
    ProtocolError,
    RequestAborted,
    RequestBody,
    RequestBodyEnd,
    RequestStarted,
)

log = logging.getLogger("asyncweb.fastcgi")

RECEIVE_SIZE = 1 << 18
# Request body bytes held for an app that is not reading: past this the
# connection is not read any further, so the web server's send blocks.
BODY_HIGH_WATER = 1 << 20
# How long a connection we half-closed waits for the web server to close it.
LINGER_SECONDS = 5.0


class ClientDisconnected(OSError):
    """send() after the web server closed the connection or aborted the
    request (ASGI 2.4 asks for an OSError)."""


def listen(bind: str, *, socket_mode: int | None = None, backlog: int = 1024) -> socket.socket:
    """A listening socket for `unix:/path`, `HOST:PORT` (IPv6 as `[::1]:PORT`)
    or `fd:N` (a listening socket inherited from the web server, fd 0 by
    convention)."""
    if bind.startswith("unix:"):
        return _listen_unix(bind[5:], socket_mode, backlog)
    if bind.startswith("fd:"):
        fd = int(bind[3:])
        if not is_listening_socket(fd):
            raise ValueError(f"fd {fd} is not a listening socket")
        # A duplicate, so that closing the listener leaves fd 0 in place.
        return socket.socket(fileno=os.dup(fd))
    host, sep, port = bind.rpartition(":")
    if not sep or not port.isdigit():
        raise ValueError(f"bind must be unix:/path, HOST:PORT or fd:N, not {bind!r}")
    host = host.strip("[]") or "0.0.0.0"
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, int(port)))
        sock.listen(backlog)
    except OSError:
        sock.close()
        raise
    return sock


def _listen_unix(path: str, mode: int | None, backlog: int) -> socket.socket:
    try:
        if stat.S_ISSOCK(os.stat(path).st_mode):
            _remove_stale_socket(path)
    except FileNotFoundError:
        pass
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        sock.bind(path)
        if mode is not None:
            os.chmod(path, mode)
        sock.listen(backlog)
    except OSError:
        sock.close()
        raise
    return sock


def _remove_stale_socket(path: str) -> None:
    probe = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        probe.connect(path)
    except OSError:
        os.unlink(path)  # nobody listens: a leftover of a dead server
        return
    finally:
        probe.close()
    raise OSError(f"another server is listening on {path}")


def is_listening_socket(fd: int) -> bool:
    """Whether `fd` is a listening stream socket, as fd 0 is when a web server
    (lighttpd's bin-path, spawn-fcgi) starts a FastCGI application."""
    try:
        sock = socket.socket(fileno=os.dup(fd))
    except OSError:
        return False
    try:
        return bool(sock.getsockopt(socket.SOL_SOCKET, socket.SO_ACCEPTCONN))
    except OSError:
        return False
    finally:
        sock.close()


_STATUS_LINES = {s.value: b"Status: %d %s\r\n" % (s.value, s.phrase.encode()) for s in HTTPStatus}


def _response_head(status: int, headers: Any) -> bytes:
    """The CGI response header block: Status, the app's fields, blank line."""
    line = _STATUS_LINES.get(status)
    if line is None:
        if not isinstance(status, int) or not 100 <= status <= 999:
            raise ValueError(f"invalid status {status!r}")
        line = b"Status: %d Unknown\r\n" % status
    lines = [line]
    for name, value in headers:
        # CR or LF would let the app (or its user input) forge header lines.
        if b"\n" in value or b"\r" in value or b"\n" in name or b"\r" in name or b":" in name:
            raise ValueError(f"invalid response header {name!r}: {value!r}")
        lines.append(b"%s: %s\r\n" % (name, value))
    lines.append(b"\r\n")
    return b"".join(lines)


_ERROR_HEAD = _response_head(500, [(b"content-type", b"text/plain; charset=utf-8")])


class _Exchange:
    """One request: its body buffer (fed by the reader) and its response
    (written by the app's task)."""

    __slots__ = (
        "_changed",
        "_chunks",
        "_drained",
        "_final_sent",
        "aborted",
        "body_complete",
        "buffered",
        "conn",
        "done",
        "expected",
        "head",
        "head_only",
        "received",
        "request_id",
        "scope",
    )

    def __init__(self, conn: _Connection, request_id: int, scope: Scope, content_length: str) -> None:
        self.conn = conn
        self.request_id = request_id
        self.scope = scope
        self.head_only = scope["method"] == "HEAD"
        self.expected = int(content_length) if content_length.isascii() and content_length.isdigit() else None
        self._chunks: deque[bytes] = deque()
        self.buffered = 0
        self.received = 0
        self.body_complete = False
        self._final_sent = False
        self.aborted = False
        self.head: bytes | None = None
        self.done = False
        # Created only when a side has to wait: most requests never do.
        self._changed: anyio.Event | None = None
        self._drained: anyio.Event | None = None

    @property
    def disconnected(self) -> bool:
        return self.aborted or self.conn.broken

    def _wake(self) -> None:
        if self._changed is not None:
            self._changed.set()
            self._changed = None

    def _wake_reader(self) -> None:
        if self._drained is not None:
            self._drained.set()
            self._drained = None

    # Reader side.

    def feed(self, data: bytes) -> None:
        if self.done:
            return  # the response is complete: the rest of the body is unwanted
        self._chunks.append(data)
        self.buffered += len(data)
        self.received += len(data)
        self._wake()

    async def wait_drained(self) -> None:
        while self.buffered > BODY_HIGH_WATER and not (self.done or self.disconnected):
            self._drained = self._drained or anyio.Event()
            await self._drained.wait()

    def end_body(self) -> None:
        self.body_complete = True
        if self.expected is not None and self.received < self.expected:
            # RFC 3875 / FastCGI 6.2: fewer bytes than CONTENT_LENGTH means
            # the upload was cut off.
            self.aborted = True
        self._wake()

    def abort(self) -> None:
        self.aborted = True
        self._wake()
        self._wake_reader()

    # Application side.

    async def receive(self) -> Message:
        while True:
            if self._chunks and not self.aborted:
                data = self._chunks[0] if len(self._chunks) == 1 else b"".join(self._chunks)
                self._chunks.clear()
                self.buffered = 0
                self._wake_reader()
                self._final_sent = self.body_complete
                return {"type": "http.request", "body": data, "more_body": not self.body_complete}
            if self.disconnected or self.done:
                return {"type": "http.disconnect"}
            if self.body_complete and not self._final_sent:
                self._final_sent = True
                return {"type": "http.request", "body": b"", "more_body": False}
            self._changed = self._changed or anyio.Event()
            await self._changed.wait()

    async def send(self, message: Message) -> None:
        kind = message["type"]
        if kind == "http.response.start":
            if self.head is not None:
                raise RuntimeError("http.response.start sent twice")
            self.head = _response_head(message["status"], message.get("headers", ()))
        elif kind == "http.response.body":
            if self.head is None or self.done:
                raise RuntimeError("http.response.body outside a response")
            if self.disconnected:
                raise ClientDisconnected("the web server's client went away")
            body = b"" if self.head_only else message.get("body", b"")
            more = message.get("more_body", False)
            head, self.head = self.head, b""
            await self._write(head + body if head else body, more)

    async def _write(self, data: bytes, more: bool, app_status: int = 0) -> None:
        codec = self.conn.codec
        out = codec.stdout(self.request_id, data)
        if not more:
            self.done = True
            out += codec.end_request(self.request_id, app_status)
            self._wake()
            self._wake_reader()
        await self.conn.write(out)

    async def finish(self, failed: bool) -> None:
        """End a request the app left unfinished."""
        if self.done:
            return
        if self.conn.broken:
            self.done = True
            return
        if self.head != b"" and not self.aborted:
            self.head = b""  # the app's own head, if any, was never sent
            await self._write(_ERROR_HEAD + b"Internal Server Error\n", False, 1)
        else:
            await self._write(b"", False, 1 if failed else 0)


async def _acquire(lock: anyio.Lock) -> None:
    """Acquire without a trip through the event loop when it is free (the
    common case: one request at a time on a connection)."""
    try:
        lock.acquire_nowait()
    except anyio.WouldBlock:
        await lock.acquire()


class _Connection:
    def __init__(self, server: _Server, sock: socket.socket) -> None:
        self.server = server
        self.sock = sock
        self.codec = Connection(
            max_requests=server.concurrency,
            max_conns=server.concurrency,
            max_reqs=server.concurrency,
            max_params_size=server.max_params_size,
        )
        self.exchanges: dict[int, _Exchange] = {}
        self.broken = False
        self.closing = False
        self._lock = anyio.Lock()
        # One task per connection runs its requests one after another, so a
        # request costs a wake-up instead of a new task; a request that comes
        # while another runs (multiplexing) gets a task of its own.
        self._queue: deque[_Exchange] = deque()
        self._runner_wakeup: anyio.Event | None = None
        self._reading = True
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
                log.warning("dropping FastCGI connection from %s: %s", self._peer(), exc)
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
                        await exchange.wait_drained()
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
        try:
            scope = scope_from_environ(event.params)
        except ValueError as exc:
            # Only a peer that breaks CGI's rules gets here.
            log.warning("bad FastCGI params from %s: %s", self._peer(), exc)
            await self.write(self.codec.end_request(event.request_id, 1))
            return
        if self.server.lifespan.state:
            scope["state"] = self.server.lifespan.state.copy()
        await self.server.slots.acquire()
        exchange = _Exchange(self, event.request_id, scope, event.params.get("CONTENT_LENGTH", ""))
        self.exchanges[event.request_id] = exchange
        if self._runner_wakeup is not None and not self._queue:
            self._queue.append(exchange)
            self._wake_runner()
        else:
            tasks.start_soon(self._call_app, exchange)

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
            await self._call_app(self._queue.popleft())

    async def _call_app(self, exchange: _Exchange) -> None:
        failed = False
        try:
            await self.server.app(exchange.scope, exchange.receive, exchange.send)
        except Exception as exc:
            failed = True
            if exchange.disconnected:
                log.debug("app stopped after the client went away: %r", exc)
            else:
                scope = exchange.scope
                log.exception("error in ASGI app for %s %s", scope["method"], scope["path"])
                if not exchange.done:  # nothing may follow END_REQUEST
                    note = f"asyncweb: error in the application: {type(exc).__name__}\n"
                    await self._stderr(exchange.request_id, note.encode())
        finally:
            try:
                if not exchange.done and not failed and not exchange.disconnected:
                    log.error("app returned without completing the response")
                await exchange.finish(failed)
            except ClientDisconnected:
                pass
            finally:
                del self.exchanges[exchange.request_id]
                self.server.slots.release()

    async def _stderr(self, request_id: int, data: bytes) -> None:
        with contextlib.suppress(ClientDisconnected):
            await self.write(self.codec.stderr(request_id, data))

    def _peer(self) -> str:
        try:
            return str(self.sock.getpeername()) or "unix"
        except OSError:
            return "?"


class _Slots:
    """The concurrency limit: a counter, with an event to wait on only when
    every slot is taken."""

    def __init__(self, limit: int) -> None:
        self._free = limit
        self._freed: anyio.Event | None = None

    async def acquire(self) -> None:
        while not self._free:
            self._freed = self._freed or anyio.Event()
            await self._freed.wait()
        self._free -= 1

    def release(self) -> None:
        self._free += 1
        if self._freed is not None:
            self._freed.set()
            self._freed = None


class _Server:
    def __init__(self, app: ASGIApp, lifespan: Lifespan, concurrency: int, max_params_size: int) -> None:
        self.app = app
        self.lifespan = lifespan
        self.concurrency = concurrency
        self.max_params_size = max_params_size
        self.slots = _Slots(concurrency)
        self.connections: set[_Connection] = set()
        self.stopping = False
        self.idle = anyio.Event()

    async def handle(self, sock: socket.socket) -> None:
        connection = _Connection(self, sock)
        self.connections.add(connection)
        try:
            await connection.run()
        finally:
            self.connections.discard(connection)
            if self.stopping and not self.connections:
                self.idle.set()


async def serve(
    app: ASGIApp,
    bind: str | socket.socket,
    *,
    socket_mode: int | None = None,
    concurrency: int = 1000,
    lifespan: LifespanMode = "auto",
    shutdown_timeout: float = 30.0,
    max_params_size: int = 1 << 20,
    handle_signals: bool = True,
    shutdown_event: anyio.Event | None = None,
    task_status: TaskStatus[None] = anyio.TASK_STATUS_IGNORED,
) -> None:
    """Serve `app` over FastCGI until SIGTERM/SIGINT (or `shutdown_event`).

    `bind` is a listening socket or a string for `listen`. At most
    `concurrency` requests run at once; more wait, unread. On shutdown the
    listener closes, idle connections close, and requests in flight get
    `shutdown_timeout` seconds to finish before they are cancelled.
    """
    sock = bind if isinstance(bind, socket.socket) else listen(bind, socket_mode=socket_mode)
    try:
        await _serve(
            app,
            sock,
            lifespan,
            concurrency,
            max_params_size,
            shutdown_timeout,
            handle_signals,
            shutdown_event,
            task_status,
        )
    finally:
        if isinstance(bind, str) and bind.startswith("unix:"):
            with contextlib.suppress(OSError):
                os.unlink(bind[5:])


async def _serve(
    app: ASGIApp,
    sock: socket.socket,
    lifespan: LifespanMode,
    concurrency: int,
    max_params_size: int,
    shutdown_timeout: float,
    handle_signals: bool,
    shutdown_event: anyio.Event | None,
    task_status: TaskStatus[None],
) -> None:
    stop = shutdown_event or anyio.Event()
    life = Lifespan(app, lifespan)
    server = _Server(app, life, concurrency, max_params_size)
    sock.setblocking(False)
    failure: LifespanFailure | None = None
    with sock:
        async with anyio.create_task_group() as outer:
            if handle_signals:
                outer.start_soon(_watch_signals, stop, outer)
            try:
                await life.startup(outer)
            except LifespanFailure as exc:
                failure = exc
            else:
                log.info("serving FastCGI on %s", _describe(sock))
                task_status.started()
                await _serve_connections(server, sock, stop, shutdown_timeout)
                await life.shutdown()
            outer.cancel_scope.cancel()
    if failure is not None:
        raise failure


async def _serve_connections(server: _Server, sock: socket.socket, stop: anyio.Event, timeout: float) -> None:
    async with anyio.create_task_group() as connections:
        accepting = anyio.CancelScope()
        connections.start_soon(_accept, sock, server, connections, accepting)
        await stop.wait()
        log.info("shutting down")
        server.stopping = True
        accepting.cancel()
        sock.close()
        for connection in list(server.connections):
            await connection.close_if_idle()
        if server.connections:
            with anyio.move_on_after(timeout):
                await server.idle.wait()
        if server.connections:
            log.warning("cancelling %d connection(s) at shutdown", len(server.connections))
        connections.cancel_scope.cancel()


async def _accept(sock: socket.socket, server: _Server, tasks: TaskGroup, scope: anyio.CancelScope) -> None:
    with scope:
        while True:
            await anyio.wait_readable(sock)
            try:
                client, _ = sock.accept()
            except (BlockingIOError, InterruptedError):
                continue
            except OSError as exc:
                log.error("accept failed: %r", exc)  # e.g. out of file descriptors
                await anyio.sleep(0.1)
                continue
            if client.family != socket.AF_UNIX:
                client.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            client.setblocking(False)
            tasks.start_soon(server.handle, client)


async def _watch_signals(stop: anyio.Event, scope_owner: TaskGroup) -> None:
    with anyio.open_signal_receiver(signal.SIGTERM, signal.SIGINT) as signals:
        async for _ in signals:
            if stop.is_set():
                log.warning("second signal: stopping now")
                scope_owner.cancel_scope.cancel()
                return
            stop.set()


def _describe(sock: socket.socket) -> str:
    address = sock.getsockname()
    if sock.family == socket.AF_UNIX:
        return f"unix:{address}"
    return f"{address[0]}:{address[1]}"


def run(app: ASGIApp, bind: str | socket.socket, *, loop: str = "auto", **options: Any) -> None:
    """Serve `app` until a signal stops it; `loop` is "asyncio", "uvloop" or
    "auto" (uvloop when it is installed). `options` are those of `serve`."""
    use_uvloop = loop == "uvloop"
    if loop == "auto":
        try:
            import uvloop  # noqa: F401
        except ImportError:
            pass
        else:
            use_uvloop = True

    async def main() -> None:
        await serve(app, bind, **options)

    anyio.run(main, backend="asyncio", backend_options={"use_uvloop": use_uvloop})
