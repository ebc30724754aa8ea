"""File responses through the gateways that are no ASGI server, in
process: the CGI host sends a pathsend's file with sendfile (read and
written where it cannot), `asyncweb call` prints it, the WSGI gateway
hands it to the server's wsgi.file_wrapper (or streams it where there is
none), and FastCGI, which offers no pathsend, streams it. Each time the
bytes come whole, no descriptor stays open, and a file that shrinks cuts
the response short."""

from __future__ import annotations

import io
import logging
import os
import threading
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any
from wsgiref.util import FileWrapper, setup_testing_defaults

import pytest

from asyncweb import App, Request, Response, WSGIGateway
from asyncweb.cgi.call import call
from asyncweb.cgi.host import respond
from asyncweb.cgi.pathsend import FileShrank, SentFile
from asyncweb.filebody import FileBody
from asyncweb.types import PATHSEND, Receive, Scope, Send
from tests.cgi.test_cgi import ENVIRON, split
from tests.support import open_in, wait_until

MiB = 1024 * 1024


@pytest.fixture
def data(tmp_path: Path) -> Path:
    path = tmp_path / "data.bin"
    path.write_bytes(os.urandom(3 * MiB + 11))
    return path


def run_cgi(app: Any, environ: dict[str, str], event_loop: bool | None = None) -> tuple[int, bytes]:
    """`respond` with stdout a pipe that a thread reads as it fills, as a
    CGI host does; (exit code, output)."""
    stdout_r, stdout_w = os.pipe()
    output: list[bytes] = []
    reader = threading.Thread(target=lambda: output.extend(iter(lambda: os.read(stdout_r, MiB), b"")))
    reader.start()
    try:
        code = respond(app, {**ENVIRON, **environ}, stdin=0, stdout=stdout_w, event_loop=event_loop)
    finally:
        os.close(stdout_w)
        reader.join(30)
        os.close(stdout_r)
    return code, b"".join(output)


def nothing_open(folder: Path) -> bool:
    """Nothing open in `folder`, soon: on the gateway's loop thread the
    App closes its own descriptor of the file a moment after it handed
    the path over, while the server already sends it."""
    return wait_until(lambda: not held_in(folder), 5)


def held_in(folder: Path) -> list[str]:
    return open_in(os.getpid(), folder)


def file_handler(path: Path, filename: str | None = "data.bin") -> Callable[[Request, Response, logging.Logger], None]:
    def handler(request: Request, response: Response, log: logging.Logger) -> None:
        response.set_file(path, filename=filename)

    return handler


def pathsend_app(path: str, length: int | None) -> Callable[[Scope, Receive, Send], Any]:
    """A raw ASGI app that sends `path` by pathsend, declaring `length`."""

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return
        assert PATHSEND in scope["extensions"]
        headers = [] if length is None else [(b"content-length", b"%d" % length)]
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        await send({"type": "http.response.pathsend", "path": path})

    return app


@pytest.fixture
def no_streaming(monkeypatch: pytest.MonkeyPatch) -> None:
    """The App may not stream a file itself: the gateway must take the path."""

    async def refused(*args: object) -> bool:
        raise AssertionError("the file was streamed, not sent by its path")

    monkeypatch.setattr(FileBody, "stream", refused)


# -- the CGI host -------------------------------------------------------------------------
@pytest.mark.parametrize("event_loop", [False, True])
def test_the_cgi_host_sends_the_file_with_sendfile(
    data: Path, monkeypatch: pytest.MonkeyPatch, no_streaming: None, event_loop: bool
) -> None:
    calls: list[int] = []
    sendfile = os.sendfile

    def counting(out_fd: int, in_fd: int, offset: int | None, count: int) -> int:
        calls.append(count)
        return sendfile(out_fd, in_fd, offset, count)

    monkeypatch.setattr(os, "sendfile", counting)
    code, output = run_cgi(App(file_handler(data)), {"REQUEST_METHOD": "GET"}, event_loop=event_loop)
    lines, body = split(output)
    assert code == 0
    assert f"content-length: {data.stat().st_size}" in lines
    assert 'content-disposition: attachment; filename="data.bin"' in lines
    assert body == data.read_bytes()
    assert calls and calls[0] == data.stat().st_size
    assert held_in(data.parent) == []


def test_where_sendfile_cannot_write_stdout_the_file_is_read_and_written(data: Path, tmp_path: Path) -> None:
    out = tmp_path / "out.txt"
    # O_APPEND: sendfile refuses it (EINVAL).
    fd = os.open(out, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    try:
        code = respond(App(file_handler(data)), {**ENVIRON, "REQUEST_METHOD": "GET"}, stdin=0, stdout=fd)
    finally:
        os.close(fd)
    assert code == 0
    assert split(out.read_bytes())[1] == data.read_bytes()
    assert held_in(data.parent) == []


def test_the_cgi_host_answers_head_with_the_length_and_no_body(data: Path) -> None:
    code, output = run_cgi(App(file_handler(data)), {"REQUEST_METHOD": "HEAD"}, event_loop=False)
    lines, body = split(output)
    assert (code, body) == (0, b"")
    assert f"content-length: {data.stat().st_size}" in lines


def test_a_file_shorter_than_declared_cuts_the_response_short(data: Path, caplog: pytest.LogCaptureFixture) -> None:
    size = data.stat().st_size
    code, output = run_cgi(pathsend_app(str(data), size + 1000), {"REQUEST_METHOD": "GET"})
    lines, body = split(output)
    assert code == 1  # not a whole response
    assert f"content-length: {size + 1000}" in lines
    assert body == data.read_bytes()  # all there was, no padding
    assert "shrank while it was sent" in caplog.text
    assert held_in(data.parent) == []


def test_no_byte_goes_past_the_declared_length(data: Path) -> None:
    code, output = run_cgi(pathsend_app(str(data), 1000), {"REQUEST_METHOD": "GET"})
    assert (code, split(output)[1]) == (0, data.read_bytes()[:1000])
    code, output = run_cgi(pathsend_app(str(data), None), {"REQUEST_METHOD": "GET"})
    assert (code, split(output)[1]) == (0, data.read_bytes())  # no length declared: the whole file


@pytest.mark.parametrize("path", ["missing.bin", "relative/data.bin", "."])
def test_a_path_that_cannot_be_sent_is_a_500(tmp_path: Path, path: str, caplog: pytest.LogCaptureFixture) -> None:
    target = str(tmp_path / path) if path != "relative/data.bin" else path
    code, output = run_cgi(pathsend_app(target, 10), {"REQUEST_METHOD": "GET"})
    assert code == 0
    assert split(output) == (
        ["Status: 500 Internal Server Error", "content-type: text/plain; charset=utf-8", "content-length: 22"],
        b"Internal Server Error\n",
    )


def test_asyncweb_call_prints_the_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "notes.txt"
    path.write_text("a file, read by its path\n")
    assert call(App(file_handler(path, None)), ["/"], stdin=io.StringIO()) == 0
    printed = capsys.readouterr().out
    assert "Content-Type: text/plain\r\n" in printed
    assert "Content-Length: 25\r\n" in printed
    assert printed.endswith("\r\n\r\na file, read by its path\n\n")
    assert held_in(tmp_path) == []


# -- the WSGI gateway ----------------------------------------------------------------------
def wsgi_call(gateway: WSGIGateway, method: str = "GET", wrapper: Any = FileWrapper) -> tuple[str, dict[str, str], Any]:
    environ: dict[str, Any] = {"REQUEST_METHOD": method, "PATH_INFO": "/", "wsgi.input": io.BytesIO()}
    if wrapper is not None:
        environ["wsgi.file_wrapper"] = wrapper
    setup_testing_defaults(environ)
    seen: list[Any] = []
    result = gateway(environ, lambda status, headers, exc_info=None: seen.extend([status, headers]))
    return seen[0], dict(seen[1]), result


def drain(result: Iterable[bytes]) -> bytes:
    try:
        return b"".join(result)
    finally:
        close = getattr(result, "close", None)
        if close is not None:
            close()


def gateways(path: Path) -> Iterator[WSGIGateway]:
    """The App with no event loop, and on the gateway's loop thread."""

    async def on_a_loop(request: Request, response: Response, log: logging.Logger) -> None:
        file_handler(path)(request, response, log)

    yield WSGIGateway(App(file_handler(path)), event_loop=False)
    yield WSGIGateway(App(on_a_loop), event_loop=True)


@pytest.mark.parametrize("loop", [False, True])
def test_the_wsgi_gateway_returns_the_servers_file_wrapper(data: Path, no_streaming: None, loop: bool) -> None:
    gateway = list(gateways(data))[loop]
    status, headers, result = wsgi_call(gateway)
    try:
        assert (status, headers["content-length"]) == ("200 OK", str(data.stat().st_size))
        assert type(result) is FileWrapper  # the server's own object (wsgiref's here): its isinstance check holds
        assert isinstance(result.filelike, SentFile)
        assert drain(result) == data.read_bytes()
        assert result.filelike.closed
        assert nothing_open(data.parent)
    finally:
        gateway.close()


@pytest.mark.parametrize("loop", [False, True])
def test_a_wrapper_the_server_closes_early_closes_the_file(data: Path, loop: bool) -> None:
    gateway = list(gateways(data))[loop]
    try:
        _, _, result = wsgi_call(gateway)
        next(iter(result))  # the client goes away after one block
        result.close()
        assert nothing_open(data.parent)
    finally:
        gateway.close()


@pytest.mark.parametrize("loop", [False, True])
def test_without_a_file_wrapper_the_gateway_streams_the_file(data: Path, loop: bool) -> None:
    gateway = list(gateways(data))[loop]
    try:
        _, headers, result = wsgi_call(gateway, wrapper=None)
        assert not isinstance(result, FileWrapper)
        pieces = list(result)
        result.close()
        assert b"".join(pieces) == data.read_bytes() and len(pieces) > 1
        assert headers["content-length"] == str(data.stat().st_size)
        assert nothing_open(data.parent)
    finally:
        gateway.close()


@pytest.mark.parametrize("loop", [False, True])
def test_head_through_the_wsgi_gateway_opens_no_wrapper(data: Path, loop: bool) -> None:
    gateway = list(gateways(data))[loop]
    try:
        _, headers, result = wsgi_call(gateway, "HEAD")
        assert (drain(result), headers["content-length"]) == (b"", str(data.stat().st_size))
        assert not isinstance(result, FileWrapper)
        assert nothing_open(data.parent)
    finally:
        gateway.close()


def test_a_file_that_shrinks_under_the_wrapper_raises_for_the_server_to_cut(
    data: Path, caplog: pytest.LogCaptureFixture
) -> None:
    gateway = WSGIGateway(App(file_handler(data)))
    _, _, result = wsgi_call(gateway)
    iterator = iter(result)
    first = next(iterator)
    os.truncate(data, len(first) + 5)
    assert next(iterator) == data.read_bytes()[len(first) :]
    with pytest.raises(FileShrank):  # never an empty read the server would wait on, nor padding
        next(iterator)
    result.close()
    assert "shrank while it was sent" in caplog.text
    assert held_in(data.parent) == []


def test_the_wrapper_reads_no_byte_past_the_declared_length(data: Path) -> None:
    gateway = WSGIGateway(pathsend_app(str(data), 100_000))
    try:
        _, _, result = wsgi_call(gateway)
        with open(data, "ab") as file:
            file.write(b"grown since")
        assert drain(result) == data.read_bytes()[:100_000]
    finally:
        gateway.close()


def test_a_missing_path_through_the_wsgi_gateway_is_a_500(tmp_path: Path) -> None:
    gateway = WSGIGateway(pathsend_app(str(tmp_path / "missing"), 10))
    try:
        status, _, result = wsgi_call(gateway)
        assert (status, drain(result)) == ("500 Internal Server Error", b"Internal Server Error\n")
    finally:
        gateway.close()


def test_sent_file_reads_stop_at_its_end(data: Path) -> None:
    with SentFile(os.open(data, os.O_RDONLY), 10, str(data)) as file:
        assert (file.read(4), file.read(), file.read(100)) == (data.read_bytes()[:4], data.read_bytes()[4:10], b"")


def test_what_an_app_runs_after_its_pathsend_ends_when_the_server_closes_the_file(data: Path) -> None:
    import asyncio

    ended = threading.Event()

    async def lingers(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.pathsend", "path": str(data)})
        try:
            await asyncio.sleep(3600)  # work after the response, that never ends by itself
        finally:
            ended.set()

    gateway = WSGIGateway(lingers)
    try:
        _, _, result = wsgi_call(gateway)
        assert drain(result) == data.read_bytes()
        assert ended.wait(5), "the app's task was left running"
    finally:
        gateway.close()


@pytest.mark.parametrize("loop", [False, True])
def test_a_pathsend_after_a_body_message_is_refused(data: Path, loop: bool, caplog: pytest.LogCaptureFixture) -> None:
    async def late(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"begun", "more_body": True})
        await send({"type": "http.response.pathsend", "path": str(data)})

    gateway = WSGIGateway(late, event_loop=loop)
    try:
        _, _, result = wsgi_call(gateway)
        assert drain(result) == b"begun"  # cut short there, never the file after it
        assert "pathsend sent after http.response.body" in caplog.text
        assert nothing_open(data.parent)
    finally:
        gateway.close()
