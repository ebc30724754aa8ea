"""Shared helpers of the reliability tests: ASGI calls with a chunked body,
an in-process uvicorn on 127.0.0.1, raw sockets, and resource probes
(open fds, temp files, tasks) that must come back to their baseline."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import os
import socket
from collections.abc import AsyncIterator, Iterable, Sequence
from pathlib import Path
from typing import Any

import anyio
import uvicorn

from asyncweb.types import ASGIApp, Message
from tests.support import free_port, wait_until_async

Headers = Sequence[tuple[str, str]]


def open_fds(pid: int | str = "self") -> int:
    return len(os.listdir(f"/proc/{pid}/fd"))


def established_connections(pid: int | str = "self") -> int:
    """The process's TCP sockets in the ESTABLISHED state (/proc/net/tcp*
    state 01), told by the socket inodes among its fds."""
    inodes = set()
    for fd in os.listdir(f"/proc/{pid}/fd"):
        with contextlib.suppress(OSError):
            target = os.readlink(f"/proc/{pid}/fd/{fd}")
            if target.startswith("socket:["):
                inodes.add(target[8:-1])
    count = 0
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        with contextlib.suppress(OSError):
            for line in Path(table).read_text().splitlines()[1:]:
                fields = line.split()
                count += fields[3] == "01" and fields[9] in inodes
    return count


def fds_into(directory: Path | str, pid: int | str = "self") -> list[str]:
    """Targets of the process's open fds that live in `directory`: an
    unnamed (O_TMPFILE) spool file shows as `<dir>/#123 (deleted)`."""
    prefix = os.path.realpath(directory) + "/"
    found = []
    for fd in os.listdir(f"/proc/{pid}/fd"):
        with contextlib.suppress(OSError):
            target = os.readlink(f"/proc/{pid}/fd/{fd}")
            if target.startswith(prefix):
                found.append(target)
    return found


def split_at(body: bytes, cuts: Iterable[int]) -> list[bytes]:
    """`body` cut at the given offsets (in any order, repeats allowed)."""
    points = [0, *sorted(min(max(cut, 0), len(body)) for cut in cuts), len(body)]
    return [body[a:b] for a, b in itertools.pairwise(points)]


def http_scope(method: str = "POST", path: str = "/", headers: Headers = (), query: bytes = b"") -> dict[str, Any]:
    return {
        "type": "http",
        "asgi": {"version": "3.0", "spec_version": "2.3"},
        "http_version": "1.1",
        "method": method,
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "root_path": "",
        "query_string": query,
        "headers": [(name.lower().encode("latin-1"), value.encode("latin-1")) for name, value in headers],
        "client": ("127.0.0.1", 50000),
        "server": ("127.0.0.1", 8000),
    }


class Answer:
    """What an ASGI app sent: status, headers and the whole body."""

    def __init__(self, messages: list[Message]) -> None:
        self.messages = messages
        start = next((m for m in messages if m["type"] == "http.response.start"), None)
        self.status: int | None = None if start is None else start["status"]
        self.headers: list[tuple[bytes, bytes]] = [] if start is None else list(start.get("headers", []))
        self.body = b"".join(m.get("body", b"") for m in messages if m["type"] == "http.response.body")
        self.complete = any(m["type"] == "http.response.body" and not m.get("more_body") for m in messages)

    @property
    def text(self) -> str:
        return self.body.decode("utf-8", "replace")


async def call_app(
    app: ASGIApp,
    chunks: Sequence[bytes],
    headers: Headers = (),
    method: str = "POST",
    path: str = "/",
    query: bytes = b"",
) -> Answer:
    """Run one request through `app` in process, the body as `chunks`
    (the last message says more_body=False), and collect what it sent."""
    messages: list[Message] = [
        {"type": "http.request", "body": chunk, "more_body": index < len(chunks) - 1}
        for index, chunk in enumerate(chunks)
    ] or [{"type": "http.request", "body": b"", "more_body": False}]
    sent: list[Message] = []

    async def receive() -> Message:
        if messages:
            return messages.pop(0)
        await anyio.sleep_forever()
        raise AssertionError("unreachable")

    async def send(message: Message) -> None:
        sent.append(message)

    with anyio.fail_after(10):
        await app(http_scope(method, path, headers, query), receive, send)
    return Answer(sent)


# -- a real uvicorn in this process -----------------------------------------
class LiveServer:
    def __init__(self, server: uvicorn.Server, port: int) -> None:
        self.server = server
        self.port = port
        self.base = f"http://127.0.0.1:{port}"

    def connections(self) -> int:
        return len(self.server.server_state.connections)


@contextlib.asynccontextmanager
async def live_server(app: ASGIApp, **options: Any) -> AsyncIterator[LiveServer]:
    """uvicorn serving `app` on 127.0.0.1 inside the test's event loop, so
    the test sees the server's tasks, fds and temp files as its own."""
    port = free_port()
    config = uvicorn.Config(
        app,
        host="127.0.0.1",
        port=port,
        lifespan="off",
        log_level="warning",
        timeout_graceful_shutdown=3,
        **options,
    )
    server = uvicorn.Server(config)
    task = asyncio.ensure_future(server._serve())  # _serve: no signal capture, the test owns the process

    def started() -> bool:
        if task.done():
            task.result()  # the server's own error, if it failed to start
        return server.started

    try:
        if not await wait_until_async(started, timeout=10, interval=0.01):
            raise TimeoutError(f"uvicorn did not start on 127.0.0.1:{port} within 10s")
        yield LiveServer(server, port)
    finally:
        server.should_exit = True
        with anyio.fail_after(15):
            await task


def other_tasks(baseline: set[asyncio.Task[Any]]) -> set[asyncio.Task[Any]]:
    """Tasks alive now that were not alive at `baseline` (the current one aside)."""
    return {task for task in asyncio.all_tasks() if task not in baseline and task is not asyncio.current_task()}


# -- raw HTTP/1.1 over a socket --------------------------------------------------
def request_head(method: str, path: str, port: int, headers: Headers = ()) -> bytes:
    lines = [f"{method} {path} HTTP/1.1", f"Host: 127.0.0.1:{port}", *(f"{n}: {v}" for n, v in headers)]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")


async def raw_connect(port: int) -> anyio.abc.SocketStream:
    with anyio.fail_after(5):
        return await anyio.connect_tcp("127.0.0.1", port)


async def read_response(stream: anyio.abc.SocketStream, timeout: float = 10.0) -> bytes:
    """Everything the server sends until it closes the connection."""
    data = bytearray()
    with anyio.fail_after(timeout):
        while True:
            try:
                data += await stream.receive()
            except (anyio.EndOfStream, anyio.BrokenResourceError, ConnectionResetError):
                return bytes(data)


def blocking_get(port: int, path: str = "/", timeout: float = 5.0) -> tuple[int, bytes]:
    """A plain GET on a fresh socket (Connection: close); (status, body)."""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as sock:
        sock.sendall(request_head("GET", path, port, [("Connection", "close")]))
        data = bytearray()
        while chunk := sock.recv(65536):
            data += chunk
    head, _, body = bytes(data).partition(b"\r\n\r\n")
    return int(head.split(b" ", 2)[1]), body


class ErrorLog(logging.Handler):
    """Collects what a logger logged, to tell handled errors from crashes."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)

    @contextlib.contextmanager
    def attached(self, logger: logging.Logger) -> Any:
        logger.addHandler(self)
        try:
            yield self
        finally:
            logger.removeHandler(self)
