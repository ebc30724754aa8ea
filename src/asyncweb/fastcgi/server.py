"""A FastCGI responder for any ASGI 3 application: listening, accepting,
signals, lifespan and graceful shutdown, on asyncio (uvloop welcome).

The protocol lives in `protocol`, a connection's I/O in `connection`, the
ASGI side of a request in `exchange`. This module never reads a request.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import logging
import os
import signal
import socket
import stat
from typing import TYPE_CHECKING, Any

import anyio
from anyio.abc import TaskGroup, TaskStatus

from ..cgi.lifespan import Lifespan, LifespanFailure
from ..types import ASGIApp
from .activation import systemd_socket
from .connection import Connection
from .exchange import StderrLog
from .state import IDLE_TIMEOUT, READ_TIMEOUT, WRITE_TIMEOUT, ServerState

if TYPE_CHECKING:
    from ..cgi.lifespan import LifespanMode

log = logging.getLogger("asyncweb.fastcgi")

__all__ = ["is_listening_socket", "listen", "run_server", "serve"]

# accept() failing for want of resources (EMFILE, ENFILE, ENOBUFS, ENOMEM):
# the first retry after ACCEPT_BACKOFF seconds, each next one after twice
# as long, up to ACCEPT_BACKOFF_MAX, one log line for the whole episode.
ACCEPT_BACKOFF = 0.05
ACCEPT_BACKOFF_MAX = 1.0
# Errors of one connection that was gone before accept() took it (Linux
# reports the new socket's pending network errors so): the next is taken.
_TRANSIENT_NAMES = "ECONNABORTED EPROTO ENETDOWN ENOPROTOOPT EHOSTDOWN ENONET EHOSTUNREACH EOPNOTSUPP ENETUNREACH EPERM"
_ACCEPT_TRANSIENT = frozenset(getattr(errno, name) for name in _TRANSIENT_NAMES.split() if hasattr(errno, name))


def listen(bind: str, *, socket_mode: int | None = None, backlog: int = 1024) -> socket.socket:
    """A listening socket for `unix:/path`, `HOST:PORT` (IPv6 as `[::1]:PORT`),
    `fd:N` (a listening socket inherited from the web server, fd 0 by
    convention) or `systemd` (the one an init system passed by socket
    activation, LISTEN_FDS; ValueError if none was)."""
    if bind == "systemd":
        # Served as it came: the init system keeps its own copy open, so
        # closing this one at shutdown leaves clients waiting in the
        # backlog for the next server, and its file (unix) in place.
        return systemd_socket()
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
        raise ValueError(f"bind must be unix:/path, HOST:PORT or fd:N (or systemd), not {bind!r}")
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


class _Connections:
    """The connections being served, and an event for when the last closes."""

    def __init__(self) -> None:
        self.open: set[Connection] = set()
        self.idle = anyio.Event()

    def add(self, state: ServerState, sock: socket.socket) -> Connection:
        """A connection counted as open from its accept on: a stop that comes
        before its task first runs still waits for it."""
        connection = Connection(state, sock)
        self.open.add(connection)
        return connection

    async def serve(self, connection: Connection) -> None:
        try:
            await connection.run()
        finally:
            self.open.discard(connection)
            if connection.server.stopping and not self.open:
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
    max_connection_params: int | None = None,
    idle_timeout: float | None = IDLE_TIMEOUT,
    read_timeout: float | None = READ_TIMEOUT,
    write_timeout: float | None = WRITE_TIMEOUT,
    stderr_level: int | None = logging.ERROR,
    handle_signals: bool = True,
    shutdown_event: anyio.Event | None = None,
    task_status: TaskStatus[None] = anyio.TASK_STATUS_IGNORED,
) -> None:
    """Serve `app` over FastCGI until SIGTERM/SIGINT (or `shutdown_event`).

    `bind` is a listening socket or a string for `listen`. At most
    `concurrency` requests run at once; more wait, unread. On shutdown the
    listener closes, idle connections close, and requests in flight get
    `shutdown_timeout` seconds to finish before they are cancelled.

    A connection is dropped when the PARAMS it buffers for requests whose
    PARAMS have not ended pass `max_connection_params` bytes (None: 4 x
    `max_params_size`), closed after `idle_timeout` seconds with no request
    open and nothing received, and a request whose PARAMS or STDIN gets no
    byte for `read_timeout` seconds is aborted as a disconnect; a connection
    whose peer takes none of its output for `write_timeout` seconds is
    dropped (None or 0: no deadline).

    Log records at `stderr_level` or above made while an app serves a
    request reach the web server's error log too, as that request's
    FCGI_STDERR (None: only the process's own log has them).
    """
    for name, value in (
        ("idle_timeout", idle_timeout),
        ("read_timeout", read_timeout),
        ("write_timeout", write_timeout),
    ):
        if value is not None and value < 0:
            raise ValueError(f"{name} must be positive (or 0 or None for none), not {value}")
    sock = bind if isinstance(bind, socket.socket) else listen(bind, socket_mode=socket_mode)
    try:
        state_options = {
            "max_connection_params": max_connection_params,
            "idle_timeout": idle_timeout,
            "read_timeout": read_timeout,
            "write_timeout": write_timeout,
        }
        await _serve_logging_to_stderr(
            stderr_level,
            app,
            sock,
            lifespan,
            concurrency,
            max_params_size,
            shutdown_timeout,
            handle_signals,
            shutdown_event,
            task_status,
            state_options,
        )
    finally:
        if isinstance(bind, str) and bind.startswith("unix:"):
            with contextlib.suppress(OSError):
                os.unlink(bind[5:])


async def _serve_logging_to_stderr(level: int | None, *args: Any) -> None:
    """`_serve`, with the StderrLog handler on the root logger meanwhile."""
    if level is None:
        await _serve(*args)
        return
    handler = StderrLog(level)
    handler.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger()
    root.addHandler(handler)
    try:
        await _serve(*args)
    finally:
        root.removeHandler(handler)


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
    state_options: dict[str, Any],
) -> None:
    if not _on_asyncio():
        raise RuntimeError("the FastCGI server runs on asyncio (anyio's asyncio backend, uvloop included)")
    stop = shutdown_event or anyio.Event()
    life = Lifespan(app, lifespan)
    state = ServerState(app, concurrency, max_params_size, life.state, **state_options)
    sock.setblocking(False)
    failure: LifespanFailure | None = None
    with sock:
        async with anyio.create_task_group() as outer:
            if handle_signals:
                outer.start_soon(_watch_signals, stop, outer)
            try:
                await life.startup()
            except LifespanFailure as exc:
                failure = exc
            else:
                log.info("serving FastCGI on %s", _describe(sock))
                task_status.started()
                try:
                    await _serve_connections(state, sock, stop, shutdown_timeout)
                    await life.shutdown()
                finally:
                    life.cancel()
            outer.cancel_scope.cancel()
    if failure is not None:
        raise failure


async def _serve_connections(state: ServerState, sock: socket.socket, stop: anyio.Event, timeout: float) -> None:
    connections = _Connections()
    async with anyio.create_task_group() as tasks:
        accepting = anyio.CancelScope()
        tasks.start_soon(_accept, sock, state, connections, tasks, accepting)
        await stop.wait()
        log.info("shutting down")
        state.stopping = True
        accepting.cancel()
        sock.close()
        for connection in list(connections.open):
            connection.close_if_idle()
        if connections.open:
            with anyio.move_on_after(timeout):
                await connections.idle.wait()
        if connections.open:
            log.warning("cancelling %d connection(s) at shutdown", len(connections.open))
        tasks.cancel_scope.cancel()


async def _accept(
    sock: socket.socket, state: ServerState, connections: _Connections, tasks: TaskGroup, scope: anyio.CancelScope
) -> None:
    failures = 0
    backoff = 0.0
    with scope:
        while True:
            await anyio.wait_readable(sock)
            try:
                client, _ = sock.accept()
            except (BlockingIOError, InterruptedError):
                continue
            except OSError as exc:
                if exc.errno in _ACCEPT_TRANSIENT:
                    log.debug("accept: %r", exc)
                    continue
                # Out of file descriptors or memory: the connection waits in
                # the backlog while idle connections close (idle_timeout)
                # and requests end; retrying at once would only spin.
                if not failures:
                    log.error("accept failed: %r; retrying at most every %g s until it works", exc, ACCEPT_BACKOFF_MAX)
                failures += 1
                backoff = min(ACCEPT_BACKOFF_MAX, backoff * 2 or ACCEPT_BACKOFF)
                await anyio.sleep(backoff)
                continue
            if failures:
                log.warning("accepting again after %d failed accept(s)", failures)
                failures, backoff = 0, 0.0
            if client.family != socket.AF_UNIX:
                client.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            client.setblocking(False)
            tasks.start_soon(connections.serve, connections.add(state, client))


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


def run_server(app: ASGIApp, bind: str | socket.socket, *, loop: str = "auto", **options: Any) -> None:
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
