"""Clients that go away (before the body, mid-upload, mid-response) and
clients that trickle: a real uvicorn in this process, raw sockets on
127.0.0.1. The server keeps serving the others, and its fds, temp files
and tasks come back to their baseline."""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import anyio
import httpx
import pytest

from asyncweb import App, Request, Response
from examples.echo import echo
from tests.reliability.helpers import (
    LiveServer,
    fds_into,
    live_server,
    open_fds,
    other_tasks,
    raw_connect,
    read_response,
    request_head,
)
from tests.support import wait_until_async

pytestmark = pytest.mark.anyio
BOUNDARY = "XyZ"
FILE_HEAD = f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="f"; filename="f.bin"\r\n\r\n'.encode()


class Counters:
    def __init__(self) -> None:
        self.handled = 0
        self.streams_open = 0
        self.chunks_made = 0


def make_app(counters: Counters, upload_dir: Path) -> App:
    async def endless() -> AsyncIterator[bytes]:
        counters.streams_open += 1
        try:
            while True:
                counters.chunks_made += 1
                yield b"data: tick\n\n"
                await anyio.sleep(0.01)
        finally:
            counters.streams_open -= 1

    async def big(total: int) -> AsyncIterator[bytes]:
        counters.streams_open += 1
        block = b"x" * 65536
        try:
            for _ in range(total):
                counters.chunks_made += 1
                yield block
        finally:
            counters.streams_open -= 1

    async def handler(request: Request, response: Response, log: logging.Logger) -> None:
        counters.handled += 1
        if request.path == "/events":
            response.set_header("Content-Type", "text/event-stream")
            response.set_body(endless())
        elif request.path == "/big":
            response.set_body(big(int(request.query.get("chunks") or 1600)))
        elif request.path == "/raw":
            response.set_body(f"{len(await request.body())} bytes")
        else:
            await echo(request, response, log)

    return App(handler, upload_dir=str(upload_dir), spool_size=64 * 1024, parse_forms=True)


class Baseline:
    """Fds, tasks and temp files of this process before a scenario."""

    def __init__(self, upload_dir: Path) -> None:
        self.upload_dir = upload_dir
        self.fds = open_fds()
        self.tasks = set(asyncio.all_tasks())

    def state(self) -> dict[str, Any]:
        return {
            "fds": open_fds() - self.fds,
            "tasks": sorted(repr(task.get_coro()) for task in other_tasks(self.tasks)),
            "spool fds": fds_into(self.upload_dir),
            "files": sorted(p.name for p in self.upload_dir.iterdir()),
        }

    def clean(self) -> bool:
        return self.state() == {"fds": 0, "tasks": [], "spool fds": [], "files": []}


async def still_serving(server: LiveServer) -> None:
    async with httpx.AsyncClient(timeout=5) as client:
        reply = await client.post(server.base + "/?ok=1", files={"f": ("a.txt", b"still here")})
    assert reply.status_code == 200
    assert reply.json()["files"][0][1]["sha256"] == hashlib.sha256(b"still here").hexdigest()


async def test_a_client_gone_mid_upload_leaves_nothing_behind(upload_dir: Path) -> None:
    counters = Counters()
    async with live_server(make_app(counters, upload_dir)) as server:
        baseline = Baseline(upload_dir)
        for _ in range(3):
            stream = await raw_connect(server.port)
            headers = [("Content-Type", f"multipart/form-data; boundary={BOUNDARY}"), ("Content-Length", "10000000")]
            await stream.send(request_head("POST", "/upload", server.port, headers) + FILE_HEAD)
            for _ in range(16):
                await stream.send(b"u" * 65536)
            # The spool file is open (unnamed, in the upload folder) before the client goes.
            assert await wait_until_async(lambda: bool(fds_into(upload_dir))), baseline.state()
            await stream.aclose()
            await still_serving(server)
        assert await wait_until_async(baseline.clean), baseline.state()
        assert counters.handled == 3  # the still_serving requests only


async def test_a_client_gone_before_the_body_gets_no_handler_call(upload_dir: Path) -> None:
    counters = Counters()
    async with live_server(make_app(counters, upload_dir)) as server:
        baseline = Baseline(upload_dir)
        for path, content_type in [("/form", f"multipart/form-data; boundary={BOUNDARY}"), ("/raw", "text/plain")]:
            stream = await raw_connect(server.port)
            headers = [("Content-Type", content_type), ("Content-Length", "100000")]
            await stream.send(request_head("POST", path, server.port, headers))
            await anyio.sleep(0.1)
            await stream.aclose()
        assert await wait_until_async(baseline.clean), baseline.state()
        assert counters.handled == 1  # /raw reached its handler, which saw the disconnect; /form never did
        await still_serving(server)
        assert await wait_until_async(baseline.clean), baseline.state()


async def read_some(server: LiveServer, path: str, wanted: int, method: str = "GET") -> bytes:
    stream = await raw_connect(server.port)
    if method == "POST":  # a form: the App reads the body before the handler, then streams
        form = [("Content-Type", "application/x-www-form-urlencoded"), ("Content-Length", "7")]
        await stream.send(request_head("POST", path, server.port, form) + b"a=1&b=2")
    else:
        await stream.send(request_head("GET", path, server.port))
    data = bytearray()
    with anyio.fail_after(10):
        while len(data) < wanted:
            data += await stream.receive()
    await stream.aclose()
    return bytes(data)


@pytest.mark.parametrize("method", ["GET", "POST"])
async def test_a_client_gone_mid_stream_stops_an_endless_response(method: str, upload_dir: Path) -> None:
    counters = Counters()
    async with live_server(make_app(counters, upload_dir)) as server:
        baseline = Baseline(upload_dir)
        data = await read_some(server, "/events", 2000, method)
        assert data.startswith(b"HTTP/1.1 200 ") and b"data: tick" in data
        # The stream is closed, its task ends: nothing keeps producing for nobody.
        assert await wait_until_async(lambda: counters.streams_open == 0), counters.__dict__
        made = counters.chunks_made
        await anyio.sleep(0.3)
        assert counters.chunks_made == made
        await still_serving(server)
        assert await wait_until_async(baseline.clean), baseline.state()


async def test_streamed_responses_end_normally_on_a_kept_alive_connection(upload_dir: Path) -> None:
    counters = Counters()
    async with live_server(make_app(counters, upload_dir)) as server:
        async with httpx.AsyncClient(timeout=5, limits=httpx.Limits(max_connections=1)) as client:
            for chunks in (1, 10, 40, 3):
                reply = await client.get(server.base + f"/big?chunks={chunks}")
                assert reply.status_code == 200 and len(reply.content) == chunks * 65536
        assert counters.chunks_made == 54 and counters.streams_open == 0


async def test_a_client_gone_mid_download_stops_the_body_early(upload_dir: Path) -> None:
    counters = Counters()
    async with live_server(make_app(counters, upload_dir)) as server:
        baseline = Baseline(upload_dir)
        total = 16_000  # 1000 MiB in 64 KiB chunks: more than the socket buffers could ever hold
        data = await read_some(server, f"/big?chunks={total}", 1024 * 1024)
        assert data.startswith(b"HTTP/1.1 200 ")
        assert await wait_until_async(lambda: counters.streams_open == 0), counters.__dict__
        assert counters.chunks_made < total // 4
        await still_serving(server)
        assert await wait_until_async(baseline.clean), baseline.state()


async def test_many_clients_dropping_at_random_points_while_others_are_served(upload_dir: Path) -> None:
    counters = Counters()
    payload = bytes(range(256)) * 1024  # 256 KiB
    async with live_server(make_app(counters, upload_dir)) as server:
        baseline = Baseline(upload_dir)

        async def dropper(index: int) -> None:
            stream = await raw_connect(server.port)
            headers = [("Content-Type", f"multipart/form-data; boundary={BOUNDARY}"), ("Content-Length", "5000000")]
            message = request_head("POST", "/upload", server.port, headers) + FILE_HEAD + payload
            await stream.send(message[: 50 + index * 9000])
            await anyio.sleep(0.01 * (index % 5))
            await stream.aclose()

        async def uploader(results: list[str]) -> None:
            async with httpx.AsyncClient(timeout=10) as client:
                reply = await client.post(server.base + "/", files={"f": ("p.bin", payload)})
            results.append(reply.json()["files"][0][1]["sha256"])

        results: list[str] = []
        with anyio.fail_after(30):
            async with anyio.create_task_group() as group:
                for index in range(30):
                    group.start_soon(dropper, index)
                    if index % 3 == 0:
                        group.start_soon(uploader, results)
        assert results == [hashlib.sha256(payload).hexdigest()] * 10
        assert await wait_until_async(baseline.clean), baseline.state()


# -- slow clients ---------------------------------------------------------------------
async def test_a_trickled_body_does_not_delay_other_requests(upload_dir: Path) -> None:
    counters = Counters()
    content = b"slow but sure " * 4
    body = FILE_HEAD + content + f"\r\n--{BOUNDARY}--\r\n".encode()
    async with live_server(make_app(counters, upload_dir)) as server:
        answers: list[bytes] = []
        latencies: list[float] = []

        async def trickle() -> None:
            stream = await raw_connect(server.port)
            headers = [
                ("Content-Type", f"multipart/form-data; boundary={BOUNDARY}"),
                ("Content-Length", str(len(body))),
                ("Connection", "close"),
            ]
            await stream.send(request_head("POST", "/slow", server.port, headers))
            for start in range(0, len(body), 6):  # about 3 s: 6 bytes every 100 ms
                await stream.send(body[start : start + 6])
                await anyio.sleep(0.1)
            answers.append(await read_response(stream))

        async def others() -> None:
            async with httpx.AsyncClient(timeout=5) as client:
                while not answers:
                    started = time.monotonic()
                    reply = await client.get(server.base + "/quick")
                    latencies.append(time.monotonic() - started)
                    assert reply.status_code == 200
                    await anyio.sleep(0.1)

        started = time.monotonic()
        with anyio.fail_after(30):
            async with anyio.create_task_group() as group:
                for _ in range(5):  # five slow clients at once
                    group.start_soon(trickle)
                await anyio.sleep(0.2)
                group.start_soon(others)
        assert time.monotonic() - started > 2  # the trickle really lasted seconds
    assert len(answers) == 5 and len(latencies) >= 10
    assert max(latencies) < 1.0, latencies  # generous: the point is "not for the seconds the trickle lasts"
    for answer in answers:
        head, _, text = answer.partition(b"\r\n\r\n")
        assert head.startswith(b"HTTP/1.1 200 ")
        [[name, info]] = json.loads(text)["files"]
        assert (name, info["size"], info["sha256"]) == ("f", len(content), hashlib.sha256(content).hexdigest())


# -- the same in process: the App watches for a disconnect only when that takes nothing from anyone --
async def test_in_process_a_disconnect_closes_a_streamed_body() -> None:
    closed = anyio.Event()

    async def ticks() -> AsyncIterator[bytes]:
        try:
            while True:
                yield b"tick\n"
                await anyio.sleep(0.01)
        finally:
            closed.set()

    async def handler(request: Request, response: Response, log: logging.Logger) -> None:
        response.set_body(ticks())

    messages: list[Any] = [{"type": "http.request", "body": b"", "more_body": False}]
    sent: list[Any] = []

    async def receive() -> Any:
        if messages:
            return messages.pop(0)
        await anyio.sleep(0.1)
        return {"type": "http.disconnect"}

    async def send(message: Any) -> None:
        sent.append(message)

    before = set(asyncio.all_tasks())
    scope = {"type": "http", "method": "GET", "path": "/", "query_string": b"", "headers": []}
    with anyio.fail_after(5):
        await App(handler)(scope, receive, send)
    assert closed.is_set() and len(sent) > 3
    assert not any(m["type"] == "http.response.body" and not m.get("more_body") for m in sent)
    assert other_tasks(before) == set()


async def test_in_process_a_streamed_body_may_still_read_the_request() -> None:
    async def handler(request: Request, response: Response, log: logging.Logger) -> None:
        async def body() -> AsyncIterator[bytes]:
            yield b"got "
            await anyio.sleep(0.05)  # the App's watcher runs first and must hand the body end over
            yield str(len(await request.body())).encode()
            async for chunk in request.stream():  # the body once more, as read
                yield chunk

        response.set_body(body())

    async def client(method: str, content: bytes) -> httpx.Response:
        transport = httpx.ASGITransport(app=App(handler, parse_forms=False))
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as http:
            with anyio.fail_after(5):
                return await http.request(method, "/", content=content)

    assert (await client("GET", b"")).text == "got 0"
    assert (await client("POST", b"x" * 100_000)).text == "got 100000" + "x" * 100_000


async def test_a_client_that_does_not_read_makes_the_stream_wait_not_pile_up(upload_dir: Path) -> None:
    counters = Counters()
    async with live_server(make_app(counters, upload_dir)) as server:
        baseline = Baseline(upload_dir)
        stream = await raw_connect(server.port)
        await stream.send(request_head("GET", "/big?chunks=16000", server.port))  # 1000 MiB
        with anyio.fail_after(5):
            assert (await stream.receive()).startswith(b"HTTP/1.1 200 ")
        await anyio.sleep(1)  # not reading: the socket buffers fill, then the stream must wait
        made = counters.chunks_made
        async with httpx.AsyncClient(timeout=5) as client:
            started = time.monotonic()
            assert (await client.get(server.base + "/quick")).status_code == 200
            assert time.monotonic() - started < 1.0
        await anyio.sleep(0.5)
        assert counters.chunks_made * 64 < 64 * 1024, f"{counters.chunks_made * 64 // 1024} MiB produced for nobody"
        assert counters.chunks_made - made < 100  # it waits, not produces
        await stream.aclose()
        assert await wait_until_async(lambda: counters.streams_open == 0), counters.__dict__
        assert await wait_until_async(baseline.clean), baseline.state()
