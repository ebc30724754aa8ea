"""One ASGI app through every gateway that is not an ASGI server: the CGI
host, `asyncweb call` and FastCGI give the same answer to the same
messages, well-formed or not, because they share one exchange and one
response writer (`asyncweb.cgi.exchange`, `asyncweb.cgi.writer`)."""

from __future__ import annotations

import contextlib
import io
import tempfile
from collections.abc import Callable
from pathlib import Path

import anyio
import pytest

from asyncweb.cgi.call import call
from asyncweb.types import Receive, Scope, Send
from tests.cgi.test_cgi import run_cgi
from tests.fastcgi import wire
from tests.fastcgi.conftest import running_server
from tests.fastcgi.test_server import params

Answer = tuple[int, list[tuple[str, str]], bytes]
START = "http.response.start"
BODY = "http.response.body"
ERROR_500: Answer = (
    500,
    [("content-type", "text/plain; charset=utf-8"), ("content-length", "22")],
    b"Internal Server Error\n",
)


async def app(scope: Scope, receive: Receive, send: Send) -> None:
    """A raw ASGI app: each path sends a different sequence of messages."""
    if scope["type"] != "http":
        return  # lifespan: not supported
    path = scope["path"]
    if path == "/plain":
        await send({"type": START, "status": 201, "headers": [(b"content-type", b"text/plain"), (b"x-a", b"1")]})
        await send({"type": BODY, "body": b"hello"})
    elif path == "/lists":  # the ASGI spec's own examples send lists and bytes-likes
        await send({"type": START, "status": 200, "headers": [[b"x-list", b"yes"]]})
        await send({"type": BODY, "body": bytearray(b"one "), "more_body": True})
        await send({"type": BODY, "body": memoryview(b"two"), "more_body": True})
        await send({"type": BODY, "body": b""})
    elif path == "/echo":
        body = b""
        while True:
            message = await receive()
            body += message.get("body", b"")
            if not message.get("more_body", False):
                break
        await send({"type": START, "status": 200, "headers": []})
        await send({"type": BODY, "body": b"got " + body})
    elif path == "/float-status":
        await send({"type": START, "status": 200.0, "headers": []})
        await send({"type": BODY, "body": b"never"})
    elif path == "/string-status":
        await send({"type": START, "status": "200", "headers": []})
        await send({"type": BODY, "body": b"never"})
    elif path == "/forged-header":
        await send({"type": START, "status": 200, "headers": [(b"x", b"a\r\nSet-Cookie: evil=1")]})
        await send({"type": BODY, "body": b"never"})
    elif path == "/fail-before-start":
        raise RuntimeError("before")
    elif path == "/fail-after-start":
        await send({"type": START, "status": 200, "headers": []})
        raise RuntimeError("after")
    elif path == "/body-before-start":
        await send({"type": BODY, "body": b"early"})
    elif path == "/start-twice":
        await send({"type": START, "status": 200, "headers": []})
        await send({"type": START, "status": 201, "headers": []})
    elif path == "/no-response":
        return


def answer(status: int, headers: list[tuple[str, str]], body: bytes) -> Answer:
    return status, [(name.lower(), value) for name, value in headers], body


def through_cgi(method: str, path: str, body: bytes) -> Answer:
    environ = {"REQUEST_METHOD": method, "SCRIPT_NAME": "", "PATH_INFO": path}
    if body:
        environ["CONTENT_LENGTH"] = str(len(body))
    _, output, _ = run_cgi(app, environ, body)
    return answer(*wire.cgi_response(output))


def through_call(method: str, path: str, body: bytes) -> Answer:
    stdout = io.StringIO()
    with tempfile.TemporaryDirectory() as folder, contextlib.redirect_stdout(stdout):
        items = [method, path]
        if body:
            (Path(folder) / "body.bin").write_bytes(body)
            items.append(f"@{folder}/body.bin")  # the raw body, as `asyncweb call` takes it
        call(app, items, stdin=io.StringIO())
    printed = stdout.getvalue().removesuffix("\n")  # print()'s own line end
    head, _, text = printed.partition("\r\n\r\n")
    status_line, *lines = head.split("\r\n")
    headers = [(name, value) for name, _, value in (line.partition(": ") for line in lines)]
    return answer(int(status_line.split()[1]), headers, text.encode())


def through_fastcgi(method: str, path: str, body: bytes) -> Answer:
    async def main() -> Answer:
        extra = {"CONTENT_LENGTH": str(len(body))} if body else {}
        async with running_server(app, lifespan="off") as address, wire.Client.connect(address) as c:
            await c.send(wire.request(1, params(path, method, **extra), body))
            response = await c.response(1)
        return answer(response.status, response.headers, response.body)

    return anyio.run(main)


GATEWAYS: dict[str, Callable[[str, str, bytes], Answer]] = {
    "cgi": through_cgi,
    "call": through_call,
    "fastcgi": through_fastcgi,
}

CASES: list[tuple[str, str, bytes, Answer]] = [
    ("GET", "/plain", b"", (201, [("content-type", "text/plain"), ("x-a", "1")], b"hello")),
    ("HEAD", "/plain", b"", (201, [("content-type", "text/plain"), ("x-a", "1")], b"")),
    ("GET", "/lists", b"", (200, [("x-list", "yes")], b"one two")),
    ("POST", "/echo", b"a body", (200, [], b"got a body")),
    ("GET", "/float-status", b"", ERROR_500),
    ("GET", "/string-status", b"", ERROR_500),
    ("GET", "/forged-header", b"", ERROR_500),
    ("GET", "/fail-before-start", b"", ERROR_500),
    ("GET", "/fail-after-start", b"", ERROR_500),
    ("GET", "/body-before-start", b"", ERROR_500),
    ("GET", "/start-twice", b"", ERROR_500),
    ("GET", "/no-response", b"", ERROR_500),
]


@pytest.mark.parametrize("gateway", GATEWAYS)
@pytest.mark.parametrize(("method", "path", "body", "expected"), CASES, ids=[f"{m} {p}" for m, p, _, _ in CASES])
def test_the_same_messages_give_the_same_answer(
    gateway: str, method: str, path: str, body: bytes, expected: Answer
) -> None:
    got = GATEWAYS[gateway](method, path, body)
    if gateway == "call":
        # The terminal view completes what HTTP/1.1 needs: a Content-Length
        # for a body the app streamed without one.
        status, headers, text = got
        if ("content-length", str(len(text))) in headers and not any(n == "content-length" for n, _ in expected[1]):
            headers = [pair for pair in headers if pair[0] != "content-length"]
        got = (status, headers, text)
    assert got == expected
