"""The CGI mode in process: the response writer, and `serve` over pipes."""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import os
import subprocess
import sys
import threading
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from starlette.applications import Starlette
from starlette.requests import Request as StarletteRequest
from starlette.responses import JSONResponse, StreamingResponse
from starlette.routing import Route

from asyncweb import App, Request, Response
from asyncweb.cgi.host import respond
from asyncweb.cgi.multipart_body import MultipartBody
from asyncweb.cgi.variables import InvalidLength, content_length
from asyncweb.cgi.writer import ResponseWriter
from asyncweb.types import Message, Receive, Scope, Send
from examples.cgi_app import main as cgi_app
from tests.support import ROOT

ENVIRON = {"GATEWAY_INTERFACE": "CGI/1.1", "SERVER_NAME": "example.org", "SERVER_PORT": "80", "SCRIPT_NAME": "/s"}


def test_writer_renders_status_headers_and_body() -> None:
    writer = ResponseWriter()
    start = {"type": "http.response.start", "status": 404, "headers": [(b"content-type", b"text/plain")]}
    assert writer.feed(start) == b""  # held back to go out with the body
    first = writer.feed({"type": "http.response.body", "body": b"no", "more_body": True})
    assert first == b"Status: 404 Not Found\r\ncontent-type: text/plain\r\n\r\nno"
    assert writer.feed({"type": "http.response.body", "body": b"pe"}) == b"pe"


def test_writer_drops_the_body_of_a_head_response() -> None:
    writer = ResponseWriter(head_only=True)
    writer.feed({"type": "http.response.start", "status": 200, "headers": [(b"content-length", b"5")]})
    assert writer.feed({"type": "http.response.body", "body": b"hello"}) == (
        b"Status: 200 OK\r\ncontent-length: 5\r\n\r\n"
    )


@pytest.mark.parametrize(
    "headers", [[(b"x-a", b"1\r\nStatus: 200")], [(b"x-a\nb", b"1")], [(b"x-a", b"1\nLocation: /evil")]]
)
def test_writer_refuses_header_injection(headers: list[tuple[bytes, bytes]]) -> None:
    with pytest.raises(ValueError):
        ResponseWriter().feed({"type": "http.response.start", "status": 200, "headers": headers})


def test_writer_names_unknown_statuses() -> None:
    writer = ResponseWriter()
    writer.feed({"type": "http.response.start", "status": 599, "headers": []})
    assert writer.feed({"type": "http.response.body"}).startswith(b"Status: 599 Unknown\r\n")


@pytest.mark.parametrize(("value", "expected"), [("", 0), ("0", 0), ("17", 17), (" 5 ", 5), ("-1", None)])
def test_content_length(value: str, expected: int | None) -> None:
    # None: the body runs to the end of stdin (Caddy's -1 for a chunked body).
    assert content_length({"CONTENT_LENGTH": value}) == expected


def test_a_chunked_body_without_content_length_runs_to_eof() -> None:
    # Apache httpd passes a chunked request on with no CONTENT_LENGTH.
    assert content_length({"HTTP_TRANSFER_ENCODING": "chunked"}) is None


@pytest.mark.parametrize("value", ["1e3", "-2", "²", "5 5"])
def test_invalid_content_length(value: str) -> None:
    with pytest.raises(InvalidLength):
        content_length({"CONTENT_LENGTH": value})


def run_cgi(
    app: Any, environ: dict[str, str], body: bytes = b"", close_stdin: bool = True, event_loop: bool | None = None
) -> tuple[int, bytes, int]:
    """`respond` with pipes for stdin and stdout; returns (exit code, output,
    bytes left unread on stdin). In this process asyncio is imported, so
    `event_loop=None` means asyncio: `False` runs an App as a CGI script
    that imports no async library would."""
    stdin_r, stdin_w = os.pipe()
    stdout_r, stdout_w = os.pipe()
    # A thread feeds stdin: a body larger than the pipe's buffer would block.
    feeder = threading.Thread(target=feed, args=(stdin_w, body, close_stdin))
    try:
        feeder.start()
        code = respond(app, {**ENVIRON, **environ}, stdin=stdin_r, stdout=stdout_w, event_loop=event_loop)
        os.close(stdout_w)
        output = b"".join(iter(lambda: os.read(stdout_r, 65536), b""))
        feeder.join()
        if not close_stdin:
            os.close(stdin_w)
        left = len(b"".join(iter(lambda: os.read(stdin_r, 65536), b"")))
        return code, output, left
    finally:
        for fd in (stdin_r, stdout_r):
            os.close(fd)


def feed(fd: int, body: bytes, close: bool) -> None:
    os.write(fd, body)
    if close:
        os.close(fd)


def split(output: bytes) -> tuple[list[str], bytes]:
    head, _, body = output.partition(b"\r\n\r\n")
    return head.decode("latin-1").split("\r\n"), body


def test_serves_a_get_from_the_environment() -> None:
    code, output, _ = run_cgi(cgi_app, {"REQUEST_METHOD": "GET", "PATH_INFO": "/echo", "QUERY_STRING": "a=1"})
    lines, body = split(output)
    assert code == 0
    assert lines[0] == "Status: 200 OK"
    assert "content-type: application/json" in lines
    report = json.loads(body)
    assert (report["url"], report["query"]) == ("http://example.org/s/echo", [["a", "1"]])


def test_head_gets_the_headers_of_a_get_and_no_body() -> None:
    code, output, _ = run_cgi(cgi_app, {"REQUEST_METHOD": "HEAD", "PATH_INFO": "/echo"})
    lines, body = split(output)
    assert code == 0
    assert lines[0] == "Status: 200 OK"
    assert int(dict(line.split(": ", 1) for line in lines[1:])["content-length"]) > 0
    assert body == b""


def test_reads_at_most_content_length_bytes() -> None:
    # The server may send more than CONTENT_LENGTH, and may keep stdin open.
    environ = {"REQUEST_METHOD": "POST", "PATH_INFO": "/sha256", "CONTENT_LENGTH": "5"}
    code, output, left = run_cgi(cgi_app, environ, b"helloEXTRA", close_stdin=False)
    assert code == 0
    assert split(output)[1] == b"5 2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824\n"
    assert left == len(b"EXTRA")


class Recorder:
    """A raw ASGI app that records what it receives, then answers 200."""

    def __init__(self) -> None:
        self.messages: list[Message] = []

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            raise ValueError("no lifespan here")
        while True:
            message = await receive()
            self.messages.append(message)
            if message["type"] == "http.disconnect":
                # Asking again, as Starlette does, must not hang.
                self.messages.append(await receive())
                break
            if not message.get("more_body"):
                break
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"ok"})


def test_a_body_shorter_than_content_length_is_a_disconnect() -> None:
    app = Recorder()
    code, _, _ = run_cgi(app, {"REQUEST_METHOD": "POST", "CONTENT_LENGTH": "100"}, b"only 9 by")
    assert [message["type"] for message in app.messages] == ["http.request", "http.disconnect", "http.disconnect"]
    assert app.messages[0]["body"] == b"only 9 by" and app.messages[0]["more_body"] is True
    assert code == 0


def test_no_content_length_means_no_body() -> None:
    app = Recorder()
    run_cgi(app, {"REQUEST_METHOD": "POST"}, b"not announced")
    assert app.messages == [{"type": "http.request", "body": b"", "more_body": False}]


@pytest.mark.parametrize(
    "environ",
    [
        {"HTTP_TRANSFER_ENCODING": "chunked"},  # Apache httpd (mod_cgi, mod_cgid)
        {"CONTENT_LENGTH": "-1"},  # Caddy
    ],
    ids=["apache-chunked", "caddy-minus-one"],
)
@pytest.mark.parametrize("event_loop", [True, False])
def test_a_body_of_unknown_length_is_read_to_the_end_of_stdin(
    environ: dict[str, str], event_loop: bool, tmp_path: Path
) -> None:
    # The old cgi.FieldStorage saved such an upload; a raw body and a
    # multipart one must both arrive whole, spooled file included.
    data = os.urandom(300_000)
    (tmp_path / "a.bin").write_bytes(data)
    form = MultipartBody([("note", "hi")], [("file", str(tmp_path / "a.bin"))])
    multipart, content_type = b"".join(form.chunks()), form.content_type

    async def handler(request: Request, response: Response, log: logging.Logger) -> None:
        if request.path == "/raw":
            response.set_body(hashlib.sha256(await request.body()).hexdigest())
            return
        upload = request.get_uploaded_file("file")
        assert upload is not None
        response.set_body(f"{request.get_field('note')} {hashlib.sha256(upload.read()).hexdigest()}")

    app = App(handler, upload_dir=str(tmp_path), spool_size=1000)
    raw = {"REQUEST_METHOD": "POST", "PATH_INFO": "/raw", "CONTENT_TYPE": "application/octet-stream", **environ}
    code, output, _ = run_cgi(app, raw, data, event_loop=event_loop)
    assert (code, split(output)[1].decode()) == (0, hashlib.sha256(data).hexdigest())
    upload = {"REQUEST_METHOD": "POST", "PATH_INFO": "/form", "CONTENT_TYPE": content_type, **environ}
    code, output, _ = run_cgi(app, upload, multipart, event_loop=event_loop)
    assert (code, split(output)[1].decode()) == (0, f"hi {hashlib.sha256(data).hexdigest()}")


def test_invalid_content_length_is_a_400_without_calling_the_app() -> None:
    app = Recorder()
    code, output, _ = run_cgi(app, {"REQUEST_METHOD": "POST", "CONTENT_LENGTH": "12x"}, b"x")
    assert split(output)[0][0] == "Status: 400 Bad Request"
    assert app.messages == [] and code == 0


def test_a_raw_app_that_crashes_gets_a_500_and_a_logged_traceback(caplog: pytest.LogCaptureFixture) -> None:
    async def broken(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            raise KeyError("oops")

    code, output, _ = run_cgi(broken, {"REQUEST_METHOD": "GET"})
    assert split(output) == (
        ["Status: 500 Internal Server Error", "content-type: text/plain; charset=utf-8", "content-length: 22"],
        b"Internal Server Error\n",
    )
    assert code == 0  # a whole (500) response went out
    assert any(record.exc_info and record.exc_info[0] is KeyError for record in caplog.records)


def test_an_app_that_fails_after_the_start_gets_a_500() -> None:
    # The head waits for the first body, so nothing went out yet: a clean
    # 500 replaces it, as over FastCGI, rather than an empty 200.
    async def half(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            await send({"type": "http.response.start", "status": 200, "headers": []})
            raise RuntimeError("gone")

    code, output, _ = run_cgi(half, {"REQUEST_METHOD": "GET"})
    assert code == 0
    assert split(output) == (
        ["Status: 500 Internal Server Error", "content-type: text/plain; charset=utf-8", "content-length: 22"],
        b"Internal Server Error\n",
    )


def test_an_app_that_fails_mid_body_is_cut_short() -> None:
    async def half(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            await send({"type": "http.response.start", "status": 200, "headers": []})
            await send({"type": "http.response.body", "body": b"par", "more_body": True})
            raise RuntimeError("gone")

    code, output, _ = run_cgi(half, {"REQUEST_METHOD": "GET"})
    assert (code, output) == (1, b"Status: 200 OK\r\n\r\npar")


def test_stdout_is_closed_as_soon_as_the_response_is_complete() -> None:
    # The CGI host then finishes the request while the app's background
    # work, the lifespan shutdown and the interpreter's exit still run.
    stdout_r, stdout_w = os.pipe()
    os.set_blocking(stdout_r, False)
    seen_after_response: list[bytes] = []

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            await send({"type": "http.response.start", "status": 200, "headers": []})
            await send({"type": "http.response.body", "body": b"done"})
            seen_after_response.extend([os.read(stdout_r, 1024), os.read(stdout_r, 1024)])

    try:
        assert respond(app, {**ENVIRON, "REQUEST_METHOD": "GET"}, stdin=0, stdout=stdout_w) == 0
    finally:
        os.close(stdout_w)
        os.close(stdout_r)
    assert seen_after_response == [b"Status: 200 OK\r\n\r\ndone", b""]  # b"": EOF


@pytest.mark.parametrize("event_loop", [True, False])
def test_an_asyncweb_streamed_body_goes_out_whole(event_loop: bool) -> None:
    async def handler(request: Request, response: Response, log: logging.Logger) -> None:
        async def lines() -> AsyncIterator[bytes]:
            for number in range(3):
                yield b"line %d\n" % number

        await request.body()
        response.set_body(lines())

    environ = {"REQUEST_METHOD": "POST", "CONTENT_LENGTH": "4"}
    code, output, _ = run_cgi(App(handler), environ, b"body", event_loop=event_loop)
    assert code == 0
    assert split(output)[1] == b"line 0\nline 1\nline 2\n"


def test_with_no_event_loop_the_lifespan_hooks_run_around_the_request() -> None:
    events: list[str] = []

    async def handler(request: Request, response: Response, log: logging.Logger) -> None:
        with pytest.raises(RuntimeError):
            asyncio.get_running_loop()  # truly no loop
        events.append(f"{request.method} {request.get_field('a')}")

    async def startup() -> None:
        events.append("startup")

    async def shutdown() -> None:
        events.append("shutdown")

    app = App(handler, on_startup=startup, on_shutdown=shutdown)
    code, output, _ = run_cgi(app, {"REQUEST_METHOD": "GET", "QUERY_STRING": "a=1"}, event_loop=False)
    assert (code, split(output)[0][0]) == (0, "Status: 200 OK")
    assert events == ["startup", "GET 1", "shutdown"]


def test_with_no_event_loop_a_multipart_upload_is_spooled_and_read(tmp_path: Path) -> None:
    # Larger than the spool budget, so the file goes to disk, and than a
    # small body: the read timeout, which needs a loop, is the host's job.
    data = os.urandom(300_000)
    (tmp_path / "a.bin").write_bytes(data)
    form = MultipartBody([("note", "hi")], [("file", str(tmp_path / "a.bin"))])
    body, content_type = b"".join(form.chunks()), form.content_type
    uploads = tmp_path / "uploads"
    uploads.mkdir()

    async def handler(request: Request, response: Response, log: logging.Logger) -> None:
        upload = request.get_uploaded_file("file")
        assert upload is not None and not upload.in_memory
        response.set_body(f"{request.get_field('note')} {upload.filename} {hashlib.sha256(upload.read()).hexdigest()}")

    environ = {"REQUEST_METHOD": "POST", "CONTENT_TYPE": content_type, "CONTENT_LENGTH": str(len(body))}
    app = App(handler, upload_dir=str(uploads), spool_size=1000)
    code, output, _ = run_cgi(app, environ, body, event_loop=False)
    assert (code, split(output)[1].decode()) == (0, f"hi a.bin {hashlib.sha256(data).hexdigest()}")
    assert list(uploads.iterdir()) == []


def test_with_no_event_loop_awaiting_a_loop_is_a_500_that_says_what_to_do(caplog: pytest.LogCaptureFixture) -> None:
    async def handler(request: Request, response: Response, log: logging.Logger) -> None:
        await asyncio.sleep(0)  # a bare checkpoint needs no loop
        await asyncio.sleep(0.01)

    code, output, _ = run_cgi(App(handler), {"REQUEST_METHOD": "GET"}, event_loop=False)
    assert (code, split(output)[0][0]) == (0, "Status: 500 Internal Server Error")
    assert "asyncweb.run(app, event_loop=True)" in caplog.text


class Stubborn:
    """An awaitable that a loop would have to run, awaited again after its
    first refusal."""

    def __await__(self) -> Any:
        yield "a future"


def test_with_no_event_loop_a_handler_that_awaits_on_regardless_still_gets_a_500(
    caplog: pytest.LogCaptureFixture,
) -> None:
    async def handler(request: Request, response: Response, log: logging.Logger) -> None:
        try:
            await Stubborn()
        except RuntimeError:
            await Stubborn()

    code, output, _ = run_cgi(App(handler), {"REQUEST_METHOD": "GET"}, event_loop=False)
    assert (code, split(output)[0][0]) == (0, "Status: 500 Internal Server Error")
    assert "with no event loop to run it" in caplog.text


def test_with_no_event_loop_only_loop_errors_get_the_hint(caplog: pytest.LogCaptureFixture) -> None:
    async def handler(request: Request, response: Response, log: logging.Logger) -> None:
        raise KeyError("a plain bug")

    run_cgi(App(handler), {"REQUEST_METHOD": "GET"}, event_loop=False)
    assert "a plain bug" in caplog.text and "event_loop=True" not in caplog.text


def test_event_loop_true_serves_the_same_handler() -> None:
    async def handler(request: Request, response: Response, log: logging.Logger) -> None:
        await asyncio.sleep(0.01)
        response.set_body("slept")

    code, output, _ = run_cgi(App(handler), {"REQUEST_METHOD": "GET"}, event_loop=True)
    assert (code, split(output)[1]) == (0, b"slept")


def test_stray_prints_go_to_stderr_not_into_the_response(capfd: pytest.CaptureFixture[str]) -> None:
    async def chatty(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            print("debug output")
            await send({"type": "http.response.start", "status": 204, "headers": []})
            await send({"type": "http.response.body"})

    _, output, _ = run_cgi(chatty, {"REQUEST_METHOD": "GET"})
    assert output == b"Status: 204 No Content\r\n\r\n"
    assert "debug output" in capfd.readouterr().err


def starlette_app() -> Starlette:
    from contextlib import asynccontextmanager

    @asynccontextmanager
    async def lifespan(app: Starlette) -> Any:
        yield {"greeting": "hello from lifespan"}

    async def stream(request: StarletteRequest) -> StreamingResponse:
        async def parts() -> Any:
            for word in (b"one ", b"two ", b"three"):
                yield word

        return StreamingResponse(parts(), media_type="text/plain")

    async def state(request: StarletteRequest) -> JSONResponse:
        body = await request.body()
        return JSONResponse({"greeting": request.state.greeting, "body": body.decode()})

    return Starlette(routes=[Route("/stream", stream), Route("/state", state, methods=["POST"])], lifespan=lifespan)


def test_a_starlette_app_streams_under_cgi() -> None:
    # Starlette listens for http.disconnect while it streams: it must only
    # come once the response is complete.
    code, output, _ = run_cgi(starlette_app(), {"REQUEST_METHOD": "GET", "SCRIPT_NAME": "", "PATH_INFO": "/stream"})
    assert code == 0
    assert split(output)[1] == b"one two three"


def test_a_starlette_app_gets_its_lifespan_state_and_body() -> None:
    environ = {"REQUEST_METHOD": "POST", "SCRIPT_NAME": "", "PATH_INFO": "/state", "CONTENT_LENGTH": "3"}
    _, output, _ = run_cgi(starlette_app(), environ, b"abc")
    assert json.loads(split(output)[1]) == {"greeting": "hello from lifespan", "body": "abc"}


def test_a_failed_startup_is_a_500_without_calling_the_handler(caplog: pytest.LogCaptureFixture) -> None:
    called = []

    async def handler(request: Request, response: Response, log: logging.Logger) -> None:
        called.append(request.path)

    async def no_database() -> None:
        raise ConnectionError("database down")

    _, output, _ = run_cgi(App(handler, on_startup=no_database), {"REQUEST_METHOD": "GET"})
    assert split(output)[0][0] == "Status: 500 Internal Server Error"
    assert called == []
    assert "lifespan.startup failed" in caplog.text and "database down" in caplog.text


def cgi_process(command: list[str], environ: dict[str, str], body: bytes = b"") -> subprocess.CompletedProcess[bytes]:
    # An empty environment apart from the CGI variables, as lighttpd gives;
    # PYTHONPATH stays, so that under test_compiled.py these processes run
    # the compiled build as the in-process tests do.
    env = {**ENVIRON, **environ, "CONTENT_LENGTH": str(len(body))}
    if "PYTHONPATH" in os.environ:
        env["PYTHONPATH"] = os.environ["PYTHONPATH"]
    return subprocess.run(command, input=body, env=env, capture_output=True, timeout=30, cwd=ROOT)


def test_asyncweb_cgi_command_serves_one_request() -> None:
    command = [sys.executable, "-m", "asyncweb", "cgi", "examples.starlette_mount:main"]
    result = cgi_process(command, {"REQUEST_METHOD": "GET", "SCRIPT_NAME": "", "PATH_INFO": "/legacy/report/2024"})
    lines, body = split(result.stdout)
    assert result.returncode == 0, result.stderr
    assert lines[0] == "Status: 200 OK"
    assert b"base_url: http://example.org/legacy\n" in body and b"path: /report/2024\n" in body


UNCLOSED = """\
import sys
import asyncweb

journal = open(sys.argv[1], "w")  # never closed, as old CGI scripts do


async def handler(request, response, log):
    journal.write("served " + request.path)  # left in the file's buffer
    response.set_body("ok")


asyncweb.run(asyncweb.App(handler))
"""


def test_what_a_script_never_closed_is_flushed_at_exit(tmp_path: Path) -> None:
    # Ported CGI scripts leave files open. A faster exit (gc.freeze() before
    # it saved 6 ms) lost this file's buffer: nothing may cut teardown short.
    script, journal = tmp_path / "script.py", tmp_path / "journal.txt"
    script.write_text(UNCLOSED)
    result = cgi_process([sys.executable, str(script), str(journal)], {"REQUEST_METHOD": "GET", "PATH_INFO": "/x"})
    assert (result.returncode, split(result.stdout)[1]) == (0, b"ok"), result.stderr
    assert journal.read_text() == "served /x"


PROBE = """\
import atexit, json, sys
import asyncweb
core = sorted(sys.modules)
report = lambda: sys.stderr.write("MODULES " + json.dumps({"core": core, "all": sorted(sys.modules)}) + "\\n")
atexit.register(report)
# Run as a CGI host runs it, but not through runpy, which imports typing.
with open(sys.argv[1]) as script:
    exec(compile(script.read(), sys.argv[1], "exec"), {"__name__": "__main__", "__file__": sys.argv[1]})
"""


def cgi_path_modules() -> tuple[set[str], set[str]]:
    """The modules of examples/cgi_app.py serving a GET: all of them, and
    those `import asyncweb` alone loaded."""
    result = cgi_process(
        [sys.executable, "-c", PROBE, str(ROOT / "examples" / "cgi_app.py")],
        {"REQUEST_METHOD": "GET", "PATH_INFO": "/echo"},
    )
    assert result.stdout.startswith(b"Status: 200 OK\r\n"), result.stderr
    modules = json.loads(result.stderr.decode().rpartition("MODULES ")[2])
    return set(modules["all"]), set(modules["core"])


def test_the_cgi_path_imports_only_what_the_request_needs() -> None:
    everything, core = cgi_path_modules()
    # An App in a script that imports no async library runs with no event
    # loop: asyncio's import is half a CGI process's start-up.
    assert not everything & {"uvicorn", "httpx", "asyncio", "anyio"}
    # What `import asyncweb` loads is the core's business (see the
    # benchmark); the CGI layer adds no argparse or other mode.
    added = everything - core
    assert "asyncweb.cgi.host" in added
    assert not added & {"anyio", "argparse", "asyncweb.cgi.call", "asyncweb.fastcgi", "asyncweb._importer"}


HELLO_SCRIPT = """\
import asyncweb

async def hello(request, response, log):
    response.set_body("Hello, world!")

asyncweb.run(asyncweb.App(hello))
"""


def test_a_hello_imports_no_module_it_does_not_use(tmp_path: Path) -> None:
    # Each of these cost a CGI process more than serving its request:
    # urllib.parse (and the ipaddress it imports) is for escapes and URLs,
    # select for a body left unread, signal's enums for nothing (its C
    # core does the after-response handling).
    script = tmp_path / "hello.py"
    script.write_text(HELLO_SCRIPT)
    result = cgi_process([sys.executable, "-c", PROBE, str(script)], {"REQUEST_METHOD": "GET", "QUERY_STRING": "a=1"})
    assert result.stdout.endswith(b"Hello, world!"), result.stderr
    modules = set(json.loads(result.stderr.decode().rpartition("MODULES ")[2])["all"])
    assert not modules & {"urllib.parse", "ipaddress", "select", "signal"}


COMMAND_PROBE = """\
import sys
from asyncweb.__main__ import main
main(sys.argv[1:])
sys.stderr.write("MODULES " + " ".join(sys.modules))
"""


def test_the_cgi_path_does_not_import_typing() -> None:
    # typing costs a CGI process about 3 ms: its import, and the final GC
    # walking its objects at exit. asyncweb spells TYPE_CHECKING itself.
    everything, _ = cgi_path_modules()
    assert "typing" not in everything
    # Nor does `asyncweb cgi MODULE:APP`, for an app that is not a script.
    command = [sys.executable, "-c", COMMAND_PROBE, "cgi", "examples.cgi_app:main"]
    result = cgi_process(command, {"REQUEST_METHOD": "GET"})
    assert result.stdout.startswith(b"Status: 200 OK\r\n"), result.stderr
    modules = set(result.stderr.decode().rpartition("MODULES ")[2].split())
    assert "asyncweb._importer" in modules and "typing" not in modules
