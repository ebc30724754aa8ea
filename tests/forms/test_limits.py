"""Limits answer 413 and malformed bodies 400, at once, leaving nothing behind."""

from __future__ import annotations

import logging
import os
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from asyncweb import App, Limits, Request, Response
from asyncweb.types import Message
from tests.forms.helpers import MULTIPART_TYPE, file_part, multipart, open_fds, text_part
from tests.support import asgi_client

URLENCODED_TYPE = {"content-type": "application/x-www-form-urlencoded"}


async def handler(request: Request, response: Response, log: logging.Logger) -> None:
    response.set_body(f"{len(request.fields)} fields, {len(request.files)} files")


async def post(app: App, body: bytes | AsyncIterator[bytes], headers: dict[str, str]) -> tuple[int, str]:
    async with asgi_client(app) as client:
        reply = await client.post("/", content=body, headers=headers)
    return reply.status_code, reply.text


@pytest.fixture
def upload_dir(tmp_path: Path) -> Path:
    return tmp_path


LIMIT_CASES = [
    ("max_body_size", Limits(max_body_size=10_000), multipart(file_part(b"f", b"f", b"x" * 20_000))),
    ("max_file_size", Limits(max_file_size=10_000), multipart(file_part(b"f", b"f", b"x" * 20_000))),
    ("max_files", Limits(max_files=2), multipart(*[file_part(b"f", b"f", b"x")] * 3)),
    ("max_fields", Limits(max_fields=5), multipart(*[text_part(b"t", b"x")] * 6)),
    ("max_field_size", Limits(max_field_size=100), multipart(text_part(b"t", b"x" * 101))),
    (
        "max_part_header_size",
        Limits(max_part_header_size=200),
        multipart(b"X-Long: " + b"a" * 300 + b"\r\n" + text_part(b"t", b"x")),
    ),
    ("max_part_headers", Limits(max_part_headers=3), multipart(b"X-A: 1\r\n" * 3 + text_part(b"t", b"x"))),
]


@pytest.mark.anyio
@pytest.mark.parametrize(("limit", "limits", "body"), LIMIT_CASES, ids=[case[0] for case in LIMIT_CASES])
async def test_every_limit_answers_413_and_leaves_nothing(
    limit: str, limits: Limits, body: bytes, upload_dir: Path
) -> None:
    before = open_fds()
    app = App(handler, limits=limits, upload_dir=str(upload_dir), spool_size=1000)
    status, text = await post(app, body, MULTIPART_TYPE)
    assert status == 413, text
    assert os.listdir(upload_dir) == [] and open_fds() == before


@pytest.mark.anyio
async def test_urlencoded_limits() -> None:
    app = App(handler, limits=Limits(max_fields=3, max_field_size=50))
    assert (await post(app, b"a=1&b=2&c=3", URLENCODED_TYPE))[0] == 200
    assert (await post(app, b"a=1&b=2&c=3&d=4", URLENCODED_TYPE))[0] == 413
    assert (await post(app, b"a=" + b"x" * 60, URLENCODED_TYPE))[0] == 413


@pytest.mark.anyio
async def test_the_rest_of_an_oversized_body_is_never_read() -> None:
    pulled = 0

    async def endless() -> AsyncIterator[bytes]:
        nonlocal pulled
        for _ in range(1000):
            pulled += 1
            yield b"x" * 65536

    app = App(handler, limits=Limits(max_body_size=1_000_000))
    head = b'--XyZ\r\nContent-Disposition: form-data; name="f"; filename="f"\r\n\r\n'

    async def body() -> AsyncIterator[bytes]:
        yield head
        async for chunk in endless():
            yield chunk

    sent: list[Message] = []
    chunks = body()

    async def receive() -> Message:
        chunk = await chunks.__anext__()
        return {"type": "http.request", "body": chunk, "more_body": True}

    async def send(message: Message) -> None:
        sent.append(message)

    scope = {
        "type": "http",
        "method": "POST",
        "path": "/",
        "query_string": b"",
        "headers": [(b"content-type", b"multipart/form-data; boundary=XyZ")],
    }
    await app(scope, receive, send)
    assert sent[0]["status"] == 413
    assert pulled <= 17  # 1 MB / 64 KiB, plus the chunk that crossed the line


@pytest.mark.anyio
async def test_ten_thousand_tiny_parts() -> None:
    body = multipart(*[text_part(b"t", b"x")] * 10_000)
    assert (await post(App(handler), body, MULTIPART_TYPE))[0] == 413
    status, text = await post(App(handler, limits=Limits(max_fields=10_000)), body, MULTIPART_TYPE)
    assert (status, text) == (200, "1 fields, 0 files")


MALFORMED = [
    ("no boundary", {"content-type": "multipart/form-data"}, multipart(text_part(b"a", b"1"))),
    ("empty boundary", {"content-type": "multipart/form-data; boundary="}, multipart(text_part(b"a", b"1"))),
    ("boundary too long", {"content-type": "multipart/form-data; boundary=" + "b" * 71}, b"--"),
    ("bad boundary chars", {"content-type": 'multipart/form-data; boundary="a\tb"'}, b"--"),
    ("cut in data", MULTIPART_TYPE, multipart(file_part(b"f", b"f", b"x" * 100))[:-30]),
    ("cut before closing", MULTIPART_TYPE, multipart(text_part(b"a", b"1"))[:-9]),
    ("cut in headers", MULTIPART_TYPE, b"--XyZ\r\nContent-Disposition: form-data; na"),
    ("empty body", MULTIPART_TYPE, b""),
    ("wrong boundary", MULTIPART_TYPE, multipart(text_part(b"a", b"1"), boundary=b"Other")),
    ("no disposition", MULTIPART_TYPE, multipart(b"Content-Type: text/plain\r\n\r\nx")),
    ("not form-data", MULTIPART_TYPE, multipart(b'Content-Disposition: attachment; name="a"\r\n\r\nx')),
    ("no name", MULTIPART_TYPE, multipart(b"Content-Disposition: form-data\r\n\r\nx")),
    ("header without colon", MULTIPART_TYPE, multipart(b"garbage line\r\n\r\nx")),
    ("garbage", MULTIPART_TYPE, os.urandom(5000)),
    ("raw CR/LF in a filename", MULTIPART_TYPE, multipart(file_part(b"f", b"evil\r\nX-Injected: 1", b"x"))),
]


@pytest.mark.anyio
@pytest.mark.parametrize(("case", "headers", "body"), MALFORMED, ids=[case[0] for case in MALFORMED])
async def test_malformed_multipart_answers_400(
    case: str, headers: dict[str, str], body: bytes, upload_dir: Path
) -> None:
    before = open_fds()
    status, text = await post(App(handler, upload_dir=str(upload_dir), spool_size=10), body, headers)
    assert status == 400, text
    assert "Traceback" not in text and len(text) < 200
    assert os.listdir(upload_dir) == [] and open_fds() == before


@pytest.mark.anyio
async def test_strict_parsing_refuses_bad_urlencoded_bodies() -> None:
    assert (await post(App(handler, strict_parsing=True), b"a=%zz", URLENCODED_TYPE))[0] == 400
    assert (await post(App(handler, strict_parsing=True), b"a=%ff", URLENCODED_TYPE))[0] == 400
    assert (await post(App(handler), b"a=%zz", URLENCODED_TYPE))[0] == 200


@pytest.mark.anyio
async def test_a_client_gone_mid_upload_leaves_nothing(upload_dir: Path) -> None:
    calls = []

    async def never(request: Request, response: Response, log: logging.Logger) -> None:
        calls.append(1)

    messages: list[Message] = [
        {"type": "http.request", "body": b'--XyZ\r\nContent-Disposition: form-data; name="f"; filename="f"\r\n\r\n'},
        {"type": "http.request", "body": b"x" * 100_000, "more_body": True},
        {"type": "http.disconnect"},
    ]
    messages[0]["more_body"] = True
    sent: list[Message] = []

    async def receive() -> Message:
        return messages.pop(0)

    async def send(message: Message) -> None:
        sent.append(message)

    before = open_fds()
    app = App(never, upload_dir=str(upload_dir), spool_size=1000)
    scope: dict[str, Any] = {
        "type": "http",
        "method": "POST",
        "path": "/",
        "query_string": b"",
        "headers": [(b"content-type", b"multipart/form-data; boundary=XyZ")],
    }
    await app(scope, receive, send)
    assert sent == [] and calls == []
    assert os.listdir(upload_dir) == [] and open_fds() == before


@pytest.mark.anyio
@pytest.mark.parametrize("declared", [None, "200000"])
async def test_a_client_gone_idle_mid_body_gets_408_and_leaves_nothing(upload_dir: Path, declared: str | None) -> None:
    import anyio

    head = b'--XyZ\r\nContent-Disposition: form-data; name="f"; filename="f"\r\n\r\n' + b"x" * 100_000
    messages: list[Message] = [{"type": "http.request", "body": head, "more_body": True}]

    async def receive() -> Message:
        if messages:
            return messages.pop(0)
        await anyio.sleep_forever()
        raise AssertionError

    sent: list[Message] = []

    async def send(message: Message) -> None:
        sent.append(message)

    headers = [(b"content-type", b"multipart/form-data; boundary=XyZ")]
    if declared is not None:
        headers.append((b"content-length", declared.encode()))
    scope: dict[str, Any] = {"type": "http", "method": "POST", "path": "/", "query_string": b"", "headers": headers}
    before = open_fds()
    app = App(handler, limits=Limits(read_timeout=0.2), upload_dir=str(upload_dir), spool_size=1000)
    with anyio.fail_after(5):
        await app(scope, receive, send)
    assert sent[0]["status"] == 408
    assert os.listdir(upload_dir) == [] and open_fds() == before
