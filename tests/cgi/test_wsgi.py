"""The WSGI gateway in process, under the stdlib's wsgiref validator: the
same App as over ASGI, bodies with and without a length, streamed
responses, errors to wsgi.errors, the lifespan once."""

from __future__ import annotations

import io
import json
from collections.abc import Iterable
from typing import Any
from wsgiref.util import setup_testing_defaults
from wsgiref.validate import validator

import pytest

from asyncweb import App, Limits, Request, Response, WSGIGateway
from examples.echo import echo
from tests.forms.helpers import MULTIPART_TYPE, file_part, multipart, text_part
from tests.wsgi_apps import awaits_a_loop, plain

FORM = MULTIPART_TYPE["content-type"]


def call(
    app: Any, method: str = "GET", path: str = "/", body: bytes = b"", validate: bool = True, **environ: Any
) -> tuple[str, list[tuple[str, str]], bytes, str]:
    env: dict[str, Any] = {
        "REQUEST_METHOD": method,
        "SCRIPT_NAME": "",
        "PATH_INFO": path,
        "QUERY_STRING": "",
        "wsgi.input": io.BytesIO(body),
    }
    errors = io.StringIO()
    env["wsgi.errors"] = errors
    if body:
        env["CONTENT_LENGTH"] = str(len(body))
    env.update(environ)
    setup_testing_defaults(env)
    seen: list[Any] = []

    def start_response(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Any:
        seen[:] = [status, headers]
        return lambda data: None

    result: Iterable[bytes] = (validator(app) if validate else app)(env, start_response)
    try:
        data = b"".join(result)
    finally:
        result.close()  # type: ignore[attr-defined]
    return seen[0], seen[1], data, errors.getvalue()


@pytest.mark.parametrize("loop", [False, True])
def test_get_post_and_upload_through_echo(loop: bool) -> None:
    gateway = WSGIGateway(App(echo), event_loop=loop)
    status, headers, body, _ = call(gateway, "GET", "/a/b", QUERY_STRING="x&y=1")
    report = json.loads(body)
    assert status == "200 OK" and ("content-type", "application/json") in headers
    assert report["path"] == "/a/b" and report["query"] == [["x", None], ["y", "1"]]
    data = multipart(text_part(b"t", b"hi"), file_part(b"f", b"a.bin", b"\0" * 300_000))
    status, _, body, _ = call(gateway, "POST", "/up", data, CONTENT_TYPE=FORM)
    report = json.loads(body)
    assert report["fields"] == [["t", "hi"]] and report["files"][0][1]["size"] == 300_000


def test_a_plain_function_runs_in_the_servers_thread_and_streams() -> None:
    gateway = WSGIGateway(App(plain))
    assert call(gateway, "GET", "/")[2] == b"hello from a plain function"
    assert call(gateway, "POST", "/raw", b"raw bytes", CONTENT_TYPE="application/octet-stream")[2] == b"raw bytes"
    assert call(gateway, "GET", "/stream", QUERY_STRING="n=4")[2] == b"0\n1\n2\n3\n"


def test_a_streamed_response_is_yielded_as_it_is_sent() -> None:
    gateway = WSGIGateway(App(plain))
    env: dict[str, Any] = {"REQUEST_METHOD": "GET", "PATH_INFO": "/stream", "QUERY_STRING": "n=3"}
    setup_testing_defaults(env)
    pieces = list(gateway(env, lambda status, headers, exc_info=None: None))
    assert pieces == [b"0\n", b"1\n", b"2\n"]  # the head went to start_response


def test_an_app_that_needs_a_loop_gets_one_with_its_lifespan_state() -> None:
    gateway = WSGIGateway(awaits_a_loop)
    status, _, body, _ = call(gateway, "POST", "/", b"x" * 100_000, CONTENT_TYPE="application/octet-stream")
    assert (status, body) == ("200 OK", b"hi 100000")
    gateway.close()


def test_closing_a_gateway_with_a_loop_leaves_no_descriptor_or_thread() -> None:
    # Its loop runs on a thread of its own: close() must stop and close it
    # (the selector and its self-pipe), not only stop it.
    import os
    import threading

    def open_fds() -> int:
        return len(os.listdir("/proc/self/fd"))

    def serve_one() -> None:
        gateway = WSGIGateway(awaits_a_loop)
        assert call(gateway, "POST", "/", b"x", CONTENT_TYPE="application/octet-stream")[0] == "200 OK"
        gateway.close()

    serve_one()  # the first loads what is loaded once
    threads, fds = threading.active_count(), open_fds()
    for _ in range(3):
        serve_one()
    assert (threading.active_count(), open_fds()) == (threads, fds)


@pytest.mark.parametrize("loop", [False, True])
def test_errors_are_a_clean_500_and_go_to_wsgi_errors(loop: bool) -> None:
    status, _, body, errors = call(WSGIGateway(App(plain), event_loop=loop), "GET", "/error")
    assert (status, body) == ("500 Internal Server Error", b"Internal Server Error\n")
    assert "the plain handler failed" in errors and "Traceback" in errors


@pytest.mark.parametrize("loop", [False, True])
def test_a_body_of_unknown_length_is_read_where_the_server_says_it_ends(loop: bool) -> None:
    gateway = WSGIGateway(App(plain), event_loop=loop)
    body = b"y" * 200_000
    chunked: dict[str, Any] = {"HTTP_TRANSFER_ENCODING": "chunked", "CONTENT_TYPE": "application/octet-stream"}
    env_body: dict[str, Any] = {"wsgi.input": io.BytesIO(body), "wsgi.input_terminated": True}
    status, _, data, _ = call(gateway, "POST", "/raw", **{**chunked, **env_body})
    assert (status, data) == ("200 OK", body)
    status, _, data, _ = call(gateway, "POST", "/raw", **{**chunked, "wsgi.input": io.BytesIO(body)})
    assert status.startswith("411")  # no length, and the server does not say where the body ends


def test_bad_input_gets_the_same_4xx_and_leaves_nothing() -> None:
    gateway = WSGIGateway(App(echo, limits=Limits(max_body_size=1000)))
    # The validator itself refuses such a CONTENT_LENGTH: the gateway alone.
    assert call(gateway, "POST", "/", b"x", validate=False, CONTENT_LENGTH="1x")[0].startswith("400")
    big = multipart(file_part(b"f", b"a.bin", b"\0" * 5000))
    assert call(gateway, "POST", "/", big, CONTENT_TYPE=FORM)[0].startswith("413")
    cut = multipart(file_part(b"f", b"a.bin", b"\0" * 500))[:-20]
    assert call(gateway, "POST", "/", cut, CONTENT_TYPE=FORM)[0].startswith("400")


def test_the_lifespan_runs_once_per_process() -> None:
    events: list[str] = []

    async def up() -> None:
        events.append("up")

    async def down() -> None:
        events.append("down")

    def handler(request: Request, response: Response, log: Any) -> None:
        response.set_body("ok")

    gateway = WSGIGateway(App(handler, on_startup=up, on_shutdown=down))
    for _ in range(3):
        assert call(gateway)[2] == b"ok"
    gateway.close()
    assert events == ["up", "down"]
