"""Plain-function handlers: `def handler(request, response, log)`. Under an
ASGI server in a worker thread, after the form is parsed, with the raw body
readable synchronously; called directly with no event loop (CGI, `asyncweb
call`). Same trapping of exceptions, same limits."""

from __future__ import annotations

import io
import json
import logging
import threading
from contextlib import redirect_stdout
from pathlib import Path
from typing import Any

import httpx
import pytest

from asyncweb import App, Limits, Request, Response
from asyncweb.cgi.call import call
from tests.cgi.test_cgi import run_cgi, split
from tests.support import asgi_client, run_uvicorn, wait_until
from tests.sync_apps import MARK_ENV, report_app


@pytest.mark.anyio
async def test_in_a_worker_thread_with_the_form_parsed_and_the_body_readable() -> None:
    async with asgi_client(report_app) as client:
        form = (await client.post("/", data={"a": "1"}, files={"file": ("f.txt", b"hello")})).json()
        raw = (await client.post("/", content=b'{"q": 1}', headers={"content-type": "application/json"})).json()
        query = (await client.get("/?x&y=2")).json()
    assert form["fields"] == [["a", "1"]] and form["file"] == ["f.txt", "hello"] and form["body"] == ""
    assert raw["body"] == '{"q": 1}' and raw["fields"] == []
    assert query["fields"] == [["x", None], ["y", "2"]]
    assert not form["main_thread"] and not raw["main_thread"]


@pytest.mark.anyio
async def test_errors_are_trapped_as_for_async_handlers(caplog: pytest.LogCaptureFixture) -> None:
    async with asgi_client(report_app) as client:
        error = await client.get("/error")
        forbidden = await client.get("/forbidden")
    assert (error.status_code, error.text) == (500, "Internal Server Error\n")
    assert "plain functions fail too" in caplog.text
    assert (forbidden.status_code, forbidden.text) == (403, "members only\n")


@pytest.mark.anyio
async def test_the_body_limits_hold() -> None:
    def handler(request: Request, response: Response, log: logging.Logger) -> None:
        response.set_body(request.read_body())

    async with asgi_client(App(handler, limits=Limits(max_body_size=10))) as client:
        reply = await client.post("/", content=b"x" * 11)
    assert reply.status_code == 413


@pytest.mark.anyio
async def test_read_body_is_for_plain_functions_only() -> None:
    async def handler(request: Request, response: Response, log: logging.Logger) -> None:
        request.read_body()

    async with asgi_client(App(handler)) as client:
        assert (await client.post("/", content=b"x")).status_code == 500


def meet(app: str, mark: Path) -> str:
    """/first, then /second once /first waits; what /first answered."""
    with run_uvicorn(app, env={MARK_ENV: str(mark)}) as base, httpx.Client(base_url=base, timeout=20) as client:
        results: dict[str, str] = {}
        first = threading.Thread(target=lambda: results.update(first=client.get("/first").text))
        first.start()
        assert wait_until(mark.exists, timeout=10)
        assert client.get("/second").text == "second"
        first.join(10)
    return results["first"]


def test_under_uvicorn_a_blocking_handler_blocks_no_other_request(tmp_path: Path) -> None:
    # /first waits for /second: served in turn, it would give up after 5 s.
    assert meet("tests.sync_apps:rendezvous_app", tmp_path / "mark") == "met"


def test_threads_bounds_the_worker_threads(tmp_path: Path) -> None:
    # One thread: /second waits behind /first, which gives up alone.
    assert meet("tests.sync_apps:one_thread_app", tmp_path / "mark") == "alone"


@pytest.mark.parametrize("event_loop", [None, True])
def test_under_cgi_it_is_called_directly_with_no_event_loop(event_loop: bool | None) -> None:
    environ = {"REQUEST_METHOD": "POST", "CONTENT_TYPE": "text/plain", "CONTENT_LENGTH": "4"}
    code, output, _ = run_cgi(report_app, environ, b"data", event_loop=event_loop)
    report: dict[str, Any] = json.loads(split(output)[1])
    assert code == 0 and report["body"] == "data"
    # event_loop=True asks for asyncio: then the handler goes to a worker thread.
    assert report["main_thread"] is (event_loop is None)


def test_asyncweb_call_calls_it_directly() -> None:
    out = io.StringIO()
    with redirect_stdout(out):
        assert call(report_app, ["/", "a=1"], stdin=io.StringIO()) == 0
    report = json.loads(out.getvalue().partition("\r\n\r\n")[2])
    assert report["fields"] == [["a", "1"]] and report["main_thread"] is True


def test_a_handler_that_is_neither_is_refused() -> None:
    with pytest.raises(TypeError):
        App("not callable")  # type: ignore[arg-type]
