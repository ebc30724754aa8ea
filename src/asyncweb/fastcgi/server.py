"""An anyio FastCGI responder for any ASGI 3 application: listening,
accepting, signals, lifespan and graceful shutdown.

The protocol lives in `protocol`, the ASGI side of a request in `exchange`.
Each accepted connection is served by `transport` (asyncio's transports:
the fast path, used whenever anyio runs on asyncio) or by `connection`
(anyio's socket waits: any anyio backend).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import socket
import stat
from collections import deque
from collections.abc import Callable
from typing import Any

import anyio
from anyio.abc import TaskGroup, TaskStatus

from ..types import ASGIApp
from .connection import StreamConnection
from .exchange import ClientDisconnected
from .lifespan import Lifespan, LifespanFailure, LifespanMode
from .transport import TransportConnection

log = logging.getLogger("asyncweb.fastcgi")

# Serve connections on asyncio's transports when anyio runs on asyncio
# (False forces the portable anyio layer: tests, debugging).
ASYNCIO_TRANSPORTS = True

__all__ = ["ClientDisconnected", "is_listening_socket", "listen", "run", "serve"]


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


class _Slots:
    """The concurrency limit: a counter, with an event to wait on (anyio
    layer) or callbacks to call (asyncio transports) only when every slot is
    taken."""

    def __init__(self, limit: int) -> None:
        self.free = limit  # slots free now (the in-process benchmark reads it)
        self._freed: anyio.Event | None = None
        self._callbacks: deque[Callable[[], None]] = deque()

    async def acquire(self) -> None:
        while not self.free:
            self._freed = self._freed or anyio.Event()
            await self._freed.wait()
        self.free -= 1

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
        if self._freed is not None:
            self._freed.set()
            self._freed = None
        if self._callbacks:
            # Every waiter tries again (one that cannot use the slot, its
            # connection gone, must not keep it from the others), soon
            # rather than now: release() runs inside another request's
            # bookkeeping.
            loop = asyncio.get_running_loop()
            while self._callbacks:
                loop.call_soon(self._callbacks.popleft())


class Server:
    def __init__(self, app: ASGIApp, lifespan: Lifespan, concurrency: int, max_params_size: int) -> None:
        self.app = app
        self.lifespan = lifespan
        self.concurrency = concurrency
        self.max_params_size = max_params_size
        self.slots = _Slots(concurrency)
        self.connections: set[StreamConnection | TransportConnection] = set()
        self.stopping = False
        self.idle = anyio.Event()
        self.transports = ASYNCIO_TRANSPORTS and _on_asyncio()

    async def handle(self, sock: socket.socket) -> None:
        connection = TransportConnection(self, sock) if self.transports else StreamConnection(self, sock)
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
    server = Server(app, life, concurrency, max_params_size)
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


async def _serve_connections(server: Server, sock: socket.socket, stop: anyio.Event, timeout: float) -> None:
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


async def _accept(sock: socket.socket, server: Server, tasks: TaskGroup, scope: anyio.CancelScope) -> None:
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


def _on_asyncio() -> bool:
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return False
    return True


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
