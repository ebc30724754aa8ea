"""One request outside a server: `PulledExchange` pulls the body as the app
asks for it and pushes the response out as it comes; `serve_request` runs
it on asyncio, `serve_request_blocking` with no event loop at all."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Generator, Iterator
from typing import Any

import pytest

from asyncweb import App, Request, Response
from asyncweb.cgi.one_request import PulledExchange, serve_request, serve_request_blocking
from asyncweb.types import NO_EVENT_LOOP, Message, Receive, Scope, Send

START: Message = {"type": "http.response.start", "status": 200, "headers": []}
ERROR_500 = b"Status: 500 Internal Server Error\r\n"


def http_scope(method: str = "GET", path: str = "/") -> Scope:
    return {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": method,
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "root_path": "",
        "query_string": b"",
        "headers": [],
        "client": None,
        "server": ("localhost", 80),
        "extensions": {},
    }


class Chunks:
    """A body iterator that counts how far it was pulled."""

    def __init__(self, *chunks: bytes) -> None:
        self.chunks = list(chunks)
        self.pulled = 0

    def __iter__(self) -> Iterator[bytes]:
        return self

    def __next__(self) -> bytes:
        if self.pulled == len(self.chunks):
            raise StopIteration
        self.pulled += 1
        return self.chunks[self.pulled - 1]


def exchange(chunks: Iterator[bytes] | None = None, length: int | None = 0) -> tuple[PulledExchange, list[bytes]]:
    """An exchange (no body unless given) and the list its bytes go to."""
    out: list[bytes] = []
    return PulledExchange(chunks or iter(()), length, out.append), out


@pytest.mark.anyio
async def test_the_body_is_pulled_only_as_far_as_the_app_reads() -> None:
    chunks = Chunks(b"hel", b"lo", b"EXTRA")
    ex, _ = exchange(chunks, 5)
    assert chunks.pulled == 0
    assert await ex.receive() == {"type": "http.request", "body": b"hel", "more_body": True}
    assert chunks.pulled == 1
    assert await ex.receive() == {"type": "http.request", "body": b"lo", "more_body": False}
    assert chunks.pulled == 2  # the declared length is read: the rest is not the app's


@pytest.mark.anyio
async def test_a_body_that_runs_out_short_of_its_length_is_a_disconnect() -> None:
    ex, _ = exchange(Chunks(b"abc"), 10)
    assert (await ex.receive())["more_body"] is True
    assert await ex.receive() == {"type": "http.disconnect"}


@pytest.mark.anyio
async def test_the_response_goes_to_the_sink_as_the_app_sends_it() -> None:
    ex, out = exchange()
    await ex.send(START)
    assert out == []  # the head waits for the first body
    await ex.send({"type": "http.response.body", "body": b"a", "more_body": True})
    await ex.send({"type": "http.response.body", "body": b"b"})
    assert out == [b"Status: 200 OK\r\n\r\na", b"b"]
    assert ex.complete


@pytest.mark.anyio
async def test_receive_after_the_body_waits_until_the_response_is_complete() -> None:
    ex, _ = exchange()
    assert (await ex.receive())["more_body"] is False
    listener = asyncio.ensure_future(ex.receive())  # as Starlette listens while it streams
    await ex.send(START)
    await ex.send({"type": "http.response.body", "body": b"part", "more_body": True})
    await asyncio.sleep(0.01)
    assert not listener.done()
    await ex.send({"type": "http.response.body", "body": b""})
    assert await asyncio.wait_for(listener, 5) == {"type": "http.disconnect"}


@pytest.mark.anyio
async def test_complete_is_a_whole_response_the_apps_or_the_500() -> None:
    whole, _ = exchange()
    await whole.send(START)
    await whole.send({"type": "http.response.body", "body": b"done"})
    whole.finish()
    assert whole.complete and not whole.writer.cut

    nothing, out = exchange()
    nothing.finish()
    assert nothing.complete and out[0].startswith(ERROR_500)

    cut, out = exchange()
    await cut.send(START)
    await cut.send({"type": "http.response.body", "body": b"par", "more_body": True})
    cut.finish()
    assert not cut.complete and cut.writer.cut and out == [b"Status: 200 OK\r\n\r\npar"]


class Echo:
    """A raw app with a lifespan that puts a greeting in the state; it
    answers with the body and the greeting, then changes its own copy."""

    def __init__(self) -> None:
        self.state_at_shutdown: dict[str, Any] = {}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            while True:
                event = (await receive())["type"]
                if event == "lifespan.startup":
                    scope["state"]["greeting"] = "hello"
                else:
                    self.state_at_shutdown = dict(scope["state"])
                await send({"type": f"{event}.complete"})
                if event == "lifespan.shutdown":
                    return
        body = b""
        while True:
            message = await receive()
            body += message.get("body", b"")
            if not message.get("more_body"):
                break
        greeting = scope["state"]["greeting"].encode()
        scope["state"]["greeting"] = "changed by the request"
        await send(START)
        await send({"type": "http.response.body", "body": b"got %s, %s" % (body, greeting)})


@pytest.mark.parametrize("blocking", [True, False])
def test_the_app_runs_inside_its_lifespan_with_a_copy_of_its_state(blocking: bool) -> None:
    app = Echo()
    ex, out = exchange(Chunks(b"a ", b"body"), 6)
    scope = http_scope("POST")
    if blocking:
        serve_request_blocking(app, scope, ex)
    else:
        asyncio.run(serve_request(app, scope, ex))
    assert b"".join(out) == b"Status: 200 OK\r\n\r\ngot a body, hello"
    assert ex.complete
    assert app.state_at_shutdown == {"greeting": "hello"}
    assert (NO_EVENT_LOOP in scope["extensions"]) is blocking


def test_serve_request_blocking_runs_an_app_with_no_loop_and_says_so_in_the_scope() -> None:
    seen: dict[str, Any] = {}

    async def handler(request: Request, response: Response, log: logging.Logger) -> None:
        try:
            asyncio.get_running_loop()
        except RuntimeError:
            seen["loop"] = False
        seen["extensions"] = dict(request.scope["extensions"])
        response.set_body(b"body: " + await request.body())

    ex, out = exchange(Chunks(b"x" * 3), 3)
    scope = http_scope("POST")
    scope["extensions"] = {"other": {}}
    serve_request_blocking(App(handler), scope, ex)
    assert ex.complete
    assert out[-1].endswith(b"body: xxx")
    assert seen == {"loop": False, "extensions": {"other": {}, NO_EVENT_LOOP: {}}}


class NeedsLoop:
    """What only an event loop could resume (an asyncio future, say)."""

    def __await__(self) -> Generator[Any, None, None]:
        yield "a future"


def test_with_no_loop_an_await_that_needs_one_raises_a_runtime_error_the_app_can_trap() -> None:
    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return
        try:
            await NeedsLoop()
        except RuntimeError as exc:
            message = str(exc).encode()
        await send(START)
        await send({"type": "http.response.body", "body": message})

    ex, out = exchange()
    serve_request_blocking(app, http_scope(), ex)
    assert ex.complete
    assert out == [b"Status: 200 OK\r\n\r\nawaited 'a future', which needs an event loop"]


def test_with_no_loop_a_failed_startup_is_a_500_without_calling_the_app(caplog: pytest.LogCaptureFixture) -> None:
    called: list[str] = []

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            called.append(scope["path"])
            return
        event = (await receive())["type"]
        await send({"type": f"{event}.failed", "message": "database down"})

    ex, out = exchange()
    serve_request_blocking(app, http_scope(), ex)
    assert called == []
    assert ex.complete and out[0].startswith(ERROR_500)
    assert "lifespan.startup failed: database down" in caplog.text


@pytest.mark.parametrize("blocking", [True, False])
def test_an_app_that_raises_is_logged_and_answered_500(blocking: bool, caplog: pytest.LogCaptureFixture) -> None:
    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            raise LookupError("a bug")

    ex, out = exchange()
    if blocking:
        serve_request_blocking(app, http_scope(path="/broken"), ex)
    else:
        asyncio.run(serve_request(app, http_scope(path="/broken"), ex))
    assert ex.complete and out[0].startswith(ERROR_500)
    assert "error in the app for GET /broken" in caplog.text
    assert any(record.exc_info and record.exc_info[0] is LookupError for record in caplog.records)
