"""Every wait on a client is bounded: a body that is declared and never
sent gets a 408 after `Limits.read_timeout`, whatever its size, and the
task that waited is gone."""

from __future__ import annotations

import socket
import time

import anyio
import pytest

from asyncweb import App, Limits, Request, Response
from asyncweb.types import Message
from tests.reliability.helpers import Answer, http_scope
from tests.support import run_uvicorn

SIZES = [1, 10, 64 * 1024, 64 * 1024 + 1, 10 << 20]


@pytest.mark.anyio
@pytest.mark.parametrize("declared", SIZES)
@pytest.mark.parametrize("content_type", ["application/octet-stream", "application/x-www-form-urlencoded"])
async def test_a_declared_body_that_never_comes_is_a_408(declared: int, content_type: str) -> None:
    async def handler(request: Request, response: Response, log: object) -> None:
        response.set_body(await request.body())

    never = anyio.Event()

    async def receive() -> Message:
        await never.wait()
        raise AssertionError("unreachable")

    sent: list[Message] = []

    async def send(message: Message) -> None:
        sent.append(message)

    scope = http_scope("POST", "/", [("content-length", str(declared)), ("content-type", content_type)])
    started = time.monotonic()
    with anyio.fail_after(5):
        await App(handler, limits=Limits(read_timeout=0.3))(scope, receive, send)
    assert Answer(sent).status == 408
    assert time.monotonic() - started < 0.3 * 1.5 + 1


@pytest.mark.anyio
async def test_a_body_that_keeps_coming_is_read_however_long_it_takes() -> None:
    """The watchdog's deadline moves ahead while messages come: ten, a
    third of the timeout apart, span twice the timeout and are all read."""

    async def handler(request: Request, response: Response, log: object) -> None:
        response.set_body(b"%d" % len(await request.body()))

    pieces = [b"x" * 10_000] * 10

    async def receive() -> Message:
        await anyio.sleep(0.1)
        body = pieces.pop()
        return {"type": "http.request", "body": body, "more_body": bool(pieces)}

    sent: list[Message] = []

    async def send(message: Message) -> None:
        sent.append(message)

    scope = http_scope("POST", "/", [("content-length", "100000"), ("content-type", "application/octet-stream")])
    started = time.monotonic()
    await App(handler, limits=Limits(read_timeout=0.3))(scope, receive, send)
    assert time.monotonic() - started > 2 * 0.3
    answer = Answer(sent)
    assert (answer.status, answer.body) == (200, b"100000")


@pytest.mark.parametrize("declared", [10, 64 * 1024, 1 << 20])
def test_a_silent_client_under_uvicorn_gets_a_408(declared: int) -> None:
    with run_uvicorn("tests.reliability.apps:impatient") as base:
        port = int(base.rsplit(":", 1)[1])
        with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
            sock.sendall(b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n" % declared)
            started = time.monotonic()
            reply = sock.recv(4096)
        assert reply.startswith(b"HTTP/1.1 408 "), reply
        assert time.monotonic() - started < 5
