"""Test helpers: an in-process httpx client, free ports, waits, and real
servers (uvicorn or any command) on 127.0.0.1 that are always stopped.

The one place for ports, processes and waits: the tests and the
benchmarks import these rather than carry their own."""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path

import anyio
import httpx

from asyncweb.testing import client
from asyncweb.types import ASGIApp

ROOT = Path(__file__).resolve().parent.parent
SERVER_PIDS: dict[str, int] = {}  # base URL -> pid of the server run_uvicorn started


@contextlib.asynccontextmanager
async def asgi_client(app: ASGIApp, base_url: str = "http://testserver") -> AsyncIterator[httpx.AsyncClient]:
    """asyncweb.testing.client, what the testing guide shows: the app's
    lifespan runs around the requests, as under a server."""
    async with client(app, base_url) as http:
        yield http


# -- waits ----------------------------------------------------------------------
def wait_until(predicate: Callable[[], bool], timeout: float = 5.0, interval: float = 0.02) -> bool:
    """Poll `predicate` until it holds or `timeout` passes; its last value.
    For `assert wait_until(...), what_went_wrong`."""
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            return predicate()
        time.sleep(interval)
    return True


async def wait_until_async(predicate: Callable[[], bool], timeout: float = 5.0, interval: float = 0.02) -> bool:
    """`wait_until` inside an event loop: it sleeps with anyio, so the
    loop's other tasks (a server in the same process) run meanwhile."""
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            return predicate()
        await anyio.sleep(interval)
    return True


def wait_for(ready: Callable[[], bool], timeout: float, what: str, log: Path | None = None) -> None:
    """`wait_until`, or TimeoutError naming `what`, with the tail of `log`
    (the server's own words on why it did not come up)."""
    if not wait_until(ready, timeout):
        detail = log.read_text(errors="replace")[-3000:] if log is not None and log.exists() else ""
        raise TimeoutError(f"{what} not ready after {timeout}s\n{detail}")


# -- descriptors ------------------------------------------------------------------
def open_in(pid: int, folder: Path) -> list[str]:
    """What process `pid` holds open in `folder` (its /proc/PID/fd): named
    files, and unnamed O_TMPFILE spools (`folder/#INODE (deleted)`)."""
    prefix = str(folder).rstrip("/") + "/"
    targets = []
    for fd in os.listdir(f"/proc/{pid}/fd"):
        try:
            target = os.readlink(f"/proc/{pid}/fd/{fd}")
        except OSError:  # closed since, or the descriptor listdir used
            continue
        if target.startswith(prefix):
            targets.append(target)
    return targets


# -- ports ----------------------------------------------------------------------
def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def port_open(port: int) -> bool:
    """Something accepts TCP connections on 127.0.0.1:`port`."""
    with socket.socket() as sock:
        return sock.connect_ex(("127.0.0.1", port)) == 0


def wait_for_port(port: int, process: subprocess.Popen[bytes], timeout: float = 15.0) -> None:
    """Until `process` listens on `port`; RuntimeError if it exits first."""

    def listening() -> bool:
        if process.poll() is not None:
            raise RuntimeError(f"server exited with {process.returncode}")
        return port_open(port)

    if not wait_until(listening, timeout, interval=0.05):
        raise TimeoutError(f"nothing listened on 127.0.0.1:{port} within {timeout}s")


# -- processes --------------------------------------------------------------------
def stop_processes(*processes: subprocess.Popen[bytes], timeout: float = 10.0) -> None:
    """SIGTERM to all of them at once, then SIGKILL to any that has not
    exited within `timeout` s; reaped either way."""
    for process in processes:
        process.terminate()  # a no-op for one that has exited
    for process in processes:
        try:
            process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def stop_process(process: subprocess.Popen[bytes], timeout: float = 10.0) -> int:
    """SIGTERM, then SIGKILL if it has not exited within `timeout` s; its exit status."""
    stop_processes(process, timeout=timeout)
    return process.returncode


@contextlib.contextmanager
def run_uvicorn(app_spec: str, *args: str, env: dict[str, str] | None = None) -> Iterator[str]:
    """A real uvicorn serving `app_spec` on a free loopback port; yields its base URL."""
    port = free_port()
    command = [sys.executable, "-m", "uvicorn", app_spec, "--host", "127.0.0.1", "--port", str(port)]
    command += ["--log-level", "warning", *args]
    process = subprocess.Popen(command, cwd=ROOT, env={**os.environ, **(env or {})})
    base = f"http://127.0.0.1:{port}"
    try:
        wait_for_port(port, process)
        SERVER_PIDS[base] = process.pid
        yield base
    finally:
        SERVER_PIDS.pop(base, None)
        stop_process(process)
