"""Response.set_file in process: the headers it sets, HEAD, what it refuses
at once, the file closed whatever happens (sent, HEAD, a client gone, a
handler error, a body set over it), no descriptor left behind, pathsend
where a server offers it, and a file that shrinks or grows while it is
sent; then under uvicorn (streamed) and granian (by pathsend), with curl."""

from __future__ import annotations

import contextlib
import importlib.util
import io
import logging
import os
import socket
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import anyio
import pytest

from asyncweb import App, Request, Response
from asyncweb.cgi.noloop import run_without_loop
from asyncweb.filebody import CHUNK_SIZE, FileBody, content_disposition, guess_type
from asyncweb.types import NO_EVENT_LOOP, PATHSEND, Message, Scope
from tests.hosts.common import curl
from tests.support import (
    ROOT,
    SERVER_PIDS,
    asgi_client,
    free_port,
    open_in,
    run_uvicorn,
    stop_process,
    wait_for_port,
    wait_until,
)
from tests.wsgi_apps import FILES_ENV, WRAPPED_ENV

pytestmark = pytest.mark.anyio
MiB = 1024 * 1024


def open_fds() -> set[str]:
    """Every descriptor of this process (/proc/self/fd), with what it points to."""
    targets = set()
    for fd in os.listdir("/proc/self/fd"):
        with contextlib.suppress(OSError):  # the one listdir used
            targets.add(f"{fd} {os.readlink(f'/proc/self/fd/{fd}')}")
    return targets


def held_in(folder: Path) -> list[str]:
    return open_in(os.getpid(), folder)


@pytest.fixture
def data(tmp_path: Path) -> Path:
    path = tmp_path / "data.bin"
    path.write_bytes(os.urandom(3 * MiB + 11))  # several reads, the last one short
    return path


def scope(method: str = "GET", pathsend: bool = False, **extra: Any) -> Scope:
    extensions: dict[str, Any] = {PATHSEND: {}} if pathsend else {}
    return {"type": "http", "method": method, "path": "/", "query_string": b"", "headers": [], "extensions": extensions}


async def serve(app: App, scope: Scope, on_send: Callable[[Message], bool] | None = None) -> list[Message]:
    """The app under a fake server whose client stays until `on_send`,
    called with each message sent, says it went away."""
    sent: list[Message] = []
    gone = anyio.Event()

    async def receive() -> Message:
        await gone.wait()
        return {"type": "http.disconnect"}

    async def send(message: Message) -> None:
        sent.append(message)
        if on_send is not None and on_send(message):
            gone.set()

    with anyio.fail_after(10):
        await app(scope, receive, send)
    return sent


def body_of(sent: list[Message]) -> bytes:
    return b"".join(message.get("body", b"") for message in sent[1:])


def headers_of(sent: list[Message]) -> dict[bytes, bytes]:
    return dict(sent[0]["headers"])


def file_app(path: Path | str, **options: Any) -> App:
    def handler(request: Request, response: Response, log: logging.Logger) -> None:
        response.set_file(path, **options)

    return App(handler)


# -- headers ------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("report.pdf", "application/pdf"),
        ("page.HTML", "text/html"),
        ("notes.txt", "text/plain"),
        ("photo.jpeg", "image/jpeg"),
        ("archive.tar.gz", "application/octet-stream"),  # compressed: sent as it is, never as a Content-Encoding
        ("bare.gz", "application/octet-stream"),
        ("no-extension", "application/octet-stream"),
        ("data:x.txt", "text/plain"),  # a file name, not a data: URL
        ("/srv/files/a.css", "text/css"),
    ],
)
async def test_the_type_is_guessed_from_the_name(name: str, expected: str) -> None:
    assert guess_type(name) == expected


async def test_the_headers_of_a_file(data: Path) -> None:
    sent = await serve(file_app(data), scope())
    assert sent[0]["status"] == 200
    assert headers_of(sent) == {b"content-type": b"application/octet-stream", b"content-length": b"%d" % (3 * MiB + 11)}
    assert body_of(sent) == data.read_bytes()
    assert sent[-1] == {"type": "http.response.body", "body": b"", "more_body": False}
    # Never read whole: no message carries more than a read's worth.
    assert max(len(message.get("body", b"")) for message in sent[1:]) == CHUNK_SIZE


async def test_a_given_type_and_a_download_name(data: Path) -> None:
    sent = await serve(file_app(data, content_type="text/csv; charset=utf-8", filename="report.csv"), scope())
    headers = headers_of(sent)
    assert headers[b"content-type"] == b"text/csv; charset=utf-8"  # as given: no charset is added to a file's type
    assert headers[b"content-disposition"] == b'attachment; filename="report.csv"'


async def test_the_download_name_gives_the_type_when_none_is_given(data: Path) -> None:
    sent = await serve(file_app(data, filename="photo.png", inline=True), scope())
    assert headers_of(sent)[b"content-type"] == b"image/png"
    assert headers_of(sent)[b"content-disposition"] == b'inline; filename="photo.png"'


@pytest.mark.parametrize(
    ("filename", "expected"),
    [
        ("plain.txt", 'attachment; filename="plain.txt"'),
        ('say "hi"\\.txt', 'attachment; filename="say \\"hi\\"\\\\.txt"'),
        ("résumé.pdf", "attachment; filename=\"resume.pdf\"; filename*=UTF-8''r%C3%A9sum%C3%A9.pdf"),
        ("日本 語.txt", "attachment; filename=\"__ _.txt\"; filename*=UTF-8''%E6%97%A5%E6%9C%AC%20%E8%AA%9E.txt"),
        ("€;x=1.txt", "attachment; filename=\"_;x=1.txt\"; filename*=UTF-8''%E2%82%AC%3Bx%3D1.txt"),
    ],
)
async def test_content_disposition(filename: str, expected: str) -> None:
    assert content_disposition(filename) == expected


@pytest.mark.parametrize("filename", ["a\r\nSet-Cookie: x=1", "a\x00b", "a\x85b", "tab\tis\x7f", ""])
async def test_a_bad_download_name_is_refused_and_opens_nothing(data: Path, filename: str) -> None:
    before = open_fds()
    with pytest.raises(ValueError):
        Response().set_file(data, filename=filename)
    with pytest.raises(ValueError):
        Response().set_file(data, content_type="text/plain\r\nX-Evil: 1")
    assert open_fds() == before


# -- refused at once, in the handler ----------------------------------------------------
async def test_a_missing_file_raises_in_the_handler(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError):
        Response().set_file(tmp_path / "missing.bin")


async def test_what_is_no_regular_file_is_refused_without_blocking(tmp_path: Path) -> None:
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    before = open_fds()
    for path in (tmp_path, fifo):  # a FIFO with no writer would block a plain open
        with pytest.raises(ValueError, match="not a regular file"):
            Response().set_file(path)
    assert open_fds() == before


async def test_a_file_object_with_no_descriptor_is_refused() -> None:
    with pytest.raises(TypeError, match="descriptor"):
        Response().set_file(io.BytesIO(b"in memory: set_body"))


async def test_the_handler_sees_the_error_of_a_missing_file(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    sent = await serve(file_app(tmp_path / "missing.bin"), scope())
    assert sent[0]["status"] == 500
    assert "FileNotFoundError" in caplog.text


# -- closed, whatever happens -----------------------------------------------------------
async def test_head_sends_the_length_and_no_body_and_closes_the_file(data: Path) -> None:
    sent = await serve(file_app(data), scope("HEAD"))
    assert headers_of(sent)[b"content-length"] == b"%d" % data.stat().st_size
    assert sent[1:] == [{"type": "http.response.body", "body": b"", "more_body": False}]
    assert held_in(data.parent) == []


async def test_a_client_gone_mid_file_closes_it(data: Path) -> None:
    bodies = 0

    def after_two_reads(message: Message) -> bool:
        nonlocal bodies
        if message["type"] == "http.response.body":
            bodies += 1
        return bodies >= 2

    sent = await serve(file_app(data), scope(), on_send=after_two_reads)
    assert 2 <= len(sent) - 1 < 3 * MiB // CHUNK_SIZE  # the watcher stopped it well before the end
    assert sent[-1]["more_body"] is True  # cut short: the server closes the connection
    assert held_in(data.parent) == []


async def test_a_handler_error_after_set_file_closes_it(data: Path) -> None:
    def handler(request: Request, response: Response, log: logging.Logger) -> None:
        response.set_file(data)
        raise RuntimeError("after the file was set")

    sent = await serve(App(handler), scope())
    assert sent[0]["status"] == 500
    assert held_in(data.parent) == []


async def test_a_body_set_over_a_file_closes_it(data: Path) -> None:
    response = Response()
    response.set_file(data)
    assert held_in(data.parent)
    response.set_file(data)  # a second file closes the first
    assert len(held_in(data.parent)) == 1
    response.error(404)
    assert held_in(data.parent) == []
    assert response.body == b"Not Found\n"


async def test_close_closes_a_file_that_is_not_sent(data: Path) -> None:
    response = Response()
    response.set_file(data)
    assert "streamed body of 3145739 bytes from" in str(response) and str(data) in response.dump()
    response.close()
    assert held_in(data.parent) == []


async def test_a_file_object_is_sent_from_its_position_and_closed(data: Path) -> None:
    file = open(data, "rb")  # noqa: SIM115 - the response takes it over
    file.read(1000)  # buffered: the file's own position is 1000, the descriptor's further on

    def handler(request: Request, response: Response, log: logging.Logger) -> None:
        response.set_file(file)

    sent = await serve(App(handler), scope(pathsend=True))  # no path: never by pathsend
    assert headers_of(sent)[b"content-length"] == b"%d" % (data.stat().st_size - 1000)
    assert headers_of(sent)[b"content-type"] == b"application/octet-stream"
    assert body_of(sent) == data.read_bytes()[1000:]
    assert file.closed


async def test_no_descriptor_is_left_behind(data: Path) -> None:
    before = open_fds()
    async with asgi_client(file_app(data)) as client:
        for method in ("GET", "HEAD", "GET"):
            reply = await client.request(method, "/")
            assert reply.content == (data.read_bytes() if method == "GET" else b"")
    async with asgi_client(file_app(data.parent / "missing")) as client:
        assert (await client.get("/")).status_code == 500
    assert open_fds() == before


# -- pathsend ---------------------------------------------------------------------------
async def test_where_the_server_offers_pathsend_the_path_goes_and_the_file_is_closed(data: Path) -> None:
    sent = await serve(file_app(os.path.relpath(data)), scope(pathsend=True))
    assert headers_of(sent)[b"content-length"] == b"%d" % data.stat().st_size
    assert sent[1:] == [{"type": "http.response.pathsend", "path": str(data)}]  # absolute, and the last message
    assert held_in(data.parent) == []


async def test_head_sends_no_path(data: Path) -> None:
    sent = await serve(file_app(data), scope("HEAD", pathsend=True))
    assert sent[1:] == [{"type": "http.response.body", "body": b"", "more_body": False}]


@pytest.mark.parametrize("change", ["replaced", "deleted", "grown"])
async def test_a_path_that_no_longer_names_the_file_is_streamed_from_it(data: Path, change: str) -> None:
    content = data.read_bytes()

    def handler(request: Request, response: Response, log: logging.Logger) -> None:
        response.set_file(data)
        if change == "replaced":
            (data.parent / "new.bin").write_bytes(b"other")
            os.replace(data.parent / "new.bin", data)
        elif change == "deleted":
            data.unlink()
        else:
            with open(data, "ab") as file:
                file.write(b"appended after the length was taken")

    sent = await serve(App(handler), scope(pathsend=True))
    assert all(message["type"] == "http.response.body" for message in sent[1:])
    assert body_of(sent) == content  # what the open file held when set_file ran: no byte past its length
    assert sent[-1]["more_body"] is False


async def test_a_file_that_shrinks_while_it_is_sent_cuts_the_response_short(
    data: Path, caplog: pytest.LogCaptureFixture
) -> None:
    def shrink(message: Message) -> bool:
        if message["type"] == "http.response.body":
            os.truncate(data, CHUNK_SIZE + 100)
        return False

    sent = await serve(file_app(data), scope(), on_send=shrink)
    assert body_of(sent) == data.read_bytes()  # what there was, no padding
    assert sent[-1]["more_body"] is True  # no last message: the server must cut the response
    assert "shrank while it was sent" in caplog.text
    assert held_in(data.parent) == []


def test_a_response_sends_a_file_as_an_asgi_app_with_no_event_loop(data: Path) -> None:
    sent: list[Message] = []

    async def receive() -> Message:
        return {"type": "http.disconnect"}

    async def send(message: Message) -> None:
        sent.append(message)

    response = Response()
    response.set_file(data)
    run_without_loop(response({**scope(), "extensions": {NO_EVENT_LOOP: {}}}, receive, send))
    assert body_of(sent) == data.read_bytes()
    assert held_in(data.parent) == []


def test_file_body_open_takes_a_path_like(data: Path) -> None:
    body = FileBody.open(data)
    try:
        assert (body.path, body.size, body.offset) == (str(data), data.stat().st_size, 0)
        assert repr(body) == f"<FileBody {data} {data.stat().st_size} bytes>"
    finally:
        body.close()
    assert body.closed


@pytest.fixture
def many(tmp_path: Path) -> Iterator[list[Path]]:
    paths = [tmp_path / f"f{i}.txt" for i in range(50)]
    for path in paths:
        path.write_text(path.name)
    yield paths


async def test_many_files_leave_no_descriptor(many: list[Path]) -> None:
    def handler(request: Request, response: Response, log: logging.Logger) -> None:
        response.set_file(many[int(request.get_field("i", "0"))])

    before = open_fds()
    async with asgi_client(App(handler)) as client:
        for i, path in enumerate(many):
            reply = await client.get(f"/?i={i}")
            assert (reply.text, reply.headers["content-type"]) == (path.name, "text/plain")
    assert open_fds() == before


# -- under uvicorn ----------------------------------------------------------------------
@pytest.mark.slow
def test_under_uvicorn_curl_gets_the_file_byte_for_byte_and_a_client_gone_leaves_it_closed(tmp_path: Path) -> None:
    """uvicorn offers no pathsend: the App streams the file, read in a
    worker thread, and watches for the client going away."""
    path = tmp_path / "download.bin"
    path.write_bytes(os.urandom(64 * MiB + 5))  # more than the socket buffers hold
    with run_uvicorn("tests.wsgi_apps:files_app", env={FILES_ENV: str(tmp_path)}) as base:
        server = SERVER_PIDS[base]
        reply = curl(base + "/file/download.bin", timeout=60)
        assert (reply.status, reply.header("content-length")) == (200, str(path.stat().st_size))
        assert reply.body == path.read_bytes()
        head = curl(base + "/file/download.bin", "--head")
        assert (head.status, head.header("content-length"), head.body) == (200, str(path.stat().st_size), b"")
        port = int(base.rpartition(":")[2])
        with socket.create_connection(("127.0.0.1", port), timeout=30) as sock:
            sock.sendall(b"GET /file/download.bin HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
            assert sock.recv(65536).startswith(b"HTTP/1.1 200 ")
            assert wait_until(lambda: bool(open_in(server, tmp_path)), 10)  # it is being sent
        assert wait_until(lambda: not open_in(server, tmp_path), 10), open_in(server, tmp_path)
        assert curl(base + "/file/missing.bin").status == 404  # and it serves on


# -- under granian, which offers pathsend --------------------------------------------------
@pytest.mark.slow
def test_under_granian_the_app_sends_the_path_and_granian_the_file(tmp_path: Path) -> None:
    if importlib.util.find_spec("granian") is None:
        pytest.skip("granian is not installed (pip install -e '.[bench]')")
    files, note = tmp_path / "files", tmp_path / "pathsends.txt"
    files.mkdir()
    path = files / "download.bin"
    path.write_bytes(os.urandom(5 * MiB + 3))
    port = free_port()
    command = [sys.executable, "-m", "granian", "--interface", "asgi", "--host", "127.0.0.1", "--port", str(port)]
    command += ["--workers", "1", "--log-level", "warning", "tests.wsgi_apps:noting_pathsend"]
    env = {**os.environ, FILES_ENV: str(files), WRAPPED_ENV: str(note)}
    process = subprocess.Popen(command, cwd=ROOT, env=env)
    try:
        wait_for_port(port, process)
        reply = curl(f"http://127.0.0.1:{port}/file/download.bin")
        assert (reply.status, reply.header("content-length")) == (200, str(path.stat().st_size))
        assert reply.body == path.read_bytes()
        head = curl(f"http://127.0.0.1:{port}/file/download.bin", "--head")
        assert (head.status, head.header("content-length"), head.body) == (200, str(path.stat().st_size), b"")
    finally:
        stop_process(process)
    [line] = note.read_text().splitlines()  # the GET went by pathsend; the HEAD sent no path
    assert line.split(" ", 1)[1] == f"http.response.pathsend {path}"
