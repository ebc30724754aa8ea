"""Load: 100 clients at once, each uploading 5 MiB to a real uvicorn.

Every upload must arrive intact (sha256), the server's peak memory must stay
far below what buffering the bodies would take, and once the clients are
gone the server's fds and the upload folder are as they were.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import re
import socket
import time
from collections.abc import AsyncIterator
from pathlib import Path

import anyio
import httpx
import pytest

from asyncweb.limits import MiB
from tests.reliability.apps import UPLOAD_DIR_ENV
from tests.reliability.helpers import established_connections, fds_into, open_fds
from tests.support import SERVER_PIDS, run_uvicorn, wait_until

pytestmark = pytest.mark.slow

CLIENTS = 100
SIZE = 5 * MiB
CHUNK = 256 * 1024
BOUNDARY = "load-test-boundary-7f3a"
# The server keeps a file in memory up to spool_size (1 MiB by default), then
# writes it to an unnamed temp file; uvicorn stops reading a connection past
# 64 KiB of unread body. So 100 uploads at once cost at most about
# 100 x (1 MiB + 2 x 64 KiB) = 113 MiB above the idle server. Buffering the
# bodies would cost 500 MiB; the bound leaves room for allocator slack.
RSS_GROWTH_BOUND = 200 * MiB


def memory_kib(pid: int, field: str) -> int:
    status = Path(f"/proc/{pid}/status").read_text()
    match = re.search(rf"^{field}:\s+(\d+) kB", status, re.MULTILINE)
    assert match is not None, status
    return int(match.group(1))


def upload_body(index: int, block: bytes) -> tuple[int, str, AsyncIterator[bytes]]:
    """A multipart body with one 5 MiB file, unique per client, streamed in chunks."""
    head = (
        f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="client"\r\n\r\n{index}\r\n'
        f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="f"; filename="part-{index}.bin"\r\n'
        "Content-Type: application/octet-stream\r\n\r\n"
    ).encode()
    tail = f"\r\n--{BOUNDARY}--\r\n".encode()
    prefix = f"client {index:06d} ".encode()
    digest = hashlib.sha256(prefix)
    digest.update(memoryview(block)[len(prefix) :])

    async def chunks() -> AsyncIterator[bytes]:
        yield head + prefix
        for start in range(len(prefix), SIZE, CHUNK):
            yield block[start : start + CHUNK]
        yield tail

    return len(head) + SIZE + len(tail), digest.hexdigest(), chunks()


@pytest.mark.anyio
async def test_100_concurrent_5_mib_uploads(tmp_path: Path) -> None:
    upload_dir = tmp_path / "uploads"
    upload_dir.mkdir()
    block = os.urandom(SIZE)
    with run_uvicorn("tests.reliability.apps:upload_echo", env={UPLOAD_DIR_ENV: str(upload_dir)}) as base:
        pid = SERVER_PIDS[base]
        async with httpx.AsyncClient(timeout=5) as warm:  # import and allocate what every request needs
            assert (await warm.get(base + "/")).status_code == 200
        # The idle counts once the server has closed its side of the warm
        # connection too: read at once, they could hold its socket.
        assert wait_until(lambda: established_connections(pid) == 0, timeout=10)
        idle_rss = memory_kib(pid, "VmRSS")
        idle_fds = open_fds(pid)
        results: dict[int, tuple[int, str, str]] = {}

        async def client(index: int) -> None:
            length, expected, body = upload_body(index, block)
            headers = {"Content-Type": f"multipart/form-data; boundary={BOUNDARY}", "Content-Length": str(length)}
            async with httpx.AsyncClient(timeout=httpx.Timeout(60, connect=10)) as http:
                reply = await http.post(base + "/upload", content=body, headers=headers)
            assert reply.status_code == 200, reply.text
            answer = reply.json()
            [[name, info]] = answer["files"]
            assert name == "f" and info["filename"] == f"part-{index}.bin"
            assert answer["fields"] == [["client", str(index)]]
            results[index] = (info["size"], info["sha256"], expected)

        started = time.monotonic()
        with anyio.fail_after(120):
            async with anyio.create_task_group() as group:
                for index in range(CLIENTS):
                    group.start_soon(client, index)
        elapsed = time.monotonic() - started
        peak_rss = memory_kib(pid, "VmHWM")
        growth = (peak_rss - idle_rss) * 1024
        print(f"\n{CLIENTS} x {SIZE // MiB} MiB in {elapsed:.1f} s", end="; ")
        print(f"server RSS idle {idle_rss // 1024} MiB, peak {peak_rss // 1024} MiB")
        assert len(results) == CLIENTS
        assert all(size == SIZE and got == expected for size, got, expected in results.values())
        assert growth < RSS_GROWTH_BOUND, f"peak RSS grew by {growth // MiB} MiB"
        # The clients closed their connections: the server's fds come back, no spool file stays open.
        assert wait_until(lambda: open_fds(pid) == idle_fds, timeout=10), (open_fds(pid), idle_fds)
        assert fds_into(upload_dir, pid) == []
    assert list(upload_dir.iterdir()) == []


def test_a_body_of_huge_text_fields_is_refused_before_it_fills_memory() -> None:
    # Each field is under max_field_size and there are fewer than max_fields,
    # but together they are a gigabyte of text the server would hold in memory.
    field = b"x" * 1_000_000
    count = 1000
    with run_uvicorn("tests.reliability.apps:upload_echo") as base:
        pid = SERVER_PIDS[base]
        assert httpx.get(base + "/", timeout=5).status_code == 200
        idle_rss = memory_kib(pid, "VmRSS")
        port = int(base.rsplit(":", 1)[1])
        head = (
            f"POST / HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: multipart/form-data; boundary={BOUNDARY}\r\n"
            f"Content-Length: {count * (len(field) + 100)}\r\n\r\n"
        ).encode()
        sent = 0
        answer = b""
        with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
            try:
                sock.sendall(head)
                for index in range(count):
                    part = f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="t{index}"\r\n\r\n'.encode()
                    sock.sendall(part + field + b"\r\n")
                    sent += 1
                sock.sendall(f"--{BOUNDARY}--\r\n".encode())
            except OSError:  # the server answered and closed while we were still sending
                pass
            with contextlib.suppress(OSError):
                answer = sock.recv(65536)
        peak_rss = memory_kib(pid, "VmHWM")
    # uvicorn may drain the rest of the body to keep the connection, but the
    # App stopped holding it: 413, and memory stays flat.
    assert answer.startswith(b"HTTP/1.1 413 ") or (answer == b"" and sent < count), answer[:100]
    assert (peak_rss - idle_rss) * 1024 < 100 * MiB, f"peak RSS grew by {(peak_rss - idle_rss) // 1024} MiB"
