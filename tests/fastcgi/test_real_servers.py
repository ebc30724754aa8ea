"""`asyncweb fastcgi` behind real servers: nginx (keep-conn on and off,
request buffering on and off), lighttpd's mod_fastcgi and libfcgi's
cgi-fcgi. Three apps run as separate FastCGI processes: a raw ASGI app at
/, examples/echo.py (an asyncweb App) under /echo-app and a Starlette app
under /starlette."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
from collections.abc import Iterator
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import unquote_to_bytes

import httpx
import pytest

from tests.fastcgi import apps, servers, wire
from tests.support import free_port, wait_for

pytestmark = pytest.mark.slow

NGINX_SITES = {  # front name: (fastcgi_keep_conn, fastcgi_request_buffering)
    "nginx-keepconn-buffered": (True, True),
    "nginx-keepconn-streaming": (True, False),
    "nginx-close-buffered": (False, True),
    "nginx-close-streaming": (False, False),
}
FRONTS = [*NGINX_SITES, "lighttpd", "cgi-fcgi"]
UPLOAD_SIZE = (100 << 20) + 12345


@dataclass
class Reply:
    status: int
    headers: list[tuple[str, str]]
    body: bytes
    stderr: bytes = b""  # what cgi-fcgi got as FCGI_STDERR

    def header(self, name: str) -> str | None:
        return next((v for k, v in self.headers if k.lower() == name), None)

    def json(self) -> Any:
        assert self.status == 200, (self.status, self.body[:2000])
        return json.loads(self.body)


@dataclass
class Stack:
    run_dir: Path
    mounts: list[servers.Mount]
    logs: dict[str, Path]
    pids: dict[str, int]
    ports: dict[str, int]


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    run_dir = tmp_path_factory.mktemp("fastcgi-real")
    with ExitStack() as stack:
        mounts, logs, pids = [], {}, {}
        for name, spec, prefix in [
            ("raw", "tests.fastcgi.apps:app", ""),
            ("echo", "examples.echo:main", "/echo-app"),
            ("starlette", "tests.fastcgi.apps:starlette_app", "/starlette"),
        ]:
            proc, sock = stack.enter_context(servers.fastcgi_app(spec, run_dir, name))
            mounts.append(servers.Mount(prefix, sock))
            logs[name] = proc.log
            pids[name] = proc.popen.pid
        ports: dict[str, int] = {}
        if servers.find("nginx"):
            ports.update({name: free_port() for name in NGINX_SITES})
            sites = {ports[name]: modes for name, modes in NGINX_SITES.items()}
            config = servers.nginx_config(run_dir, sites, mounts)
            stack.enter_context(servers.nginx(run_dir, config, list(sites)))
        if servers.find("lighttpd"):
            ports["lighttpd"] = free_port()
            config = servers.lighttpd_config(run_dir, ports["lighttpd"], mounts)
            stack.enter_context(servers.lighttpd(run_dir, config, ports["lighttpd"]))
        yield Stack(run_dir, mounts, logs, pids, ports)


@pytest.fixture(params=FRONTS)
def front(request: pytest.FixtureRequest, stack: Stack) -> str:
    name: str = request.param
    if name.startswith("nginx") and not servers.find("nginx"):
        pytest.skip("nginx not installed")
    if name == "lighttpd" and not servers.find("lighttpd"):
        pytest.skip("lighttpd not installed")
    if name == "cgi-fcgi" and not servers.find("cgi-fcgi"):
        pytest.skip("cgi-fcgi not installed (Debian package libfcgi-bin)")
    return name


def fetch(
    stack: Stack,
    front: str,
    method: str,
    target: str,
    headers: list[tuple[str, str]] | None = None,
    body: bytes = b"",
) -> Reply:
    headers = headers or []
    if front == "cgi-fcgi":
        return _cgi_fcgi(stack, method, target, headers, body)
    url = f"http://127.0.0.1:{stack.ports[front]}{target}"
    with httpx.Client(timeout=120) as client:
        r = client.request(method, url, headers=headers, content=body or None)
    return Reply(r.status_code, list(r.headers.multi_items()), r.content)


def _cgi_fcgi(stack: Stack, method: str, target: str, headers: list[tuple[str, str]], body: bytes) -> Reply:
    """The request as CGI variables, the way a CGI host would set them."""
    raw_path, _, query = target.partition("?")
    by_length = sorted(stack.mounts, key=lambda m: -len(m.prefix))
    mount = next(m for m in by_length if raw_path.startswith(m.prefix + "/"))
    env: dict[bytes, bytes] = {
        b"REQUEST_METHOD": method.encode(),
        b"SCRIPT_NAME": mount.prefix.encode(),
        b"PATH_INFO": unquote_to_bytes(raw_path[len(mount.prefix) :]),
        b"QUERY_STRING": query.encode(),
        b"SERVER_NAME": b"localhost",
        b"SERVER_PORT": b"80",
        b"SERVER_PROTOCOL": b"HTTP/1.1",
        b"REMOTE_ADDR": b"127.0.0.1",
        b"REMOTE_PORT": b"50000",
        b"HTTP_HOST": b"localhost",
    }
    if body:
        env[b"CONTENT_LENGTH"] = str(len(body)).encode()
    for name, value in headers:
        key = name.upper().replace("-", "_").encode()
        key = key if key in (b"CONTENT_TYPE", b"CONTENT_LENGTH") else b"HTTP_" + key
        # A CGI host merges repeated fields into one variable.
        env[key] = env[key] + b"; " + value.encode() if key in env else value.encode()
    binary = servers.find("cgi-fcgi")
    assert binary is not None
    done = subprocess.run(
        [binary, "-bind", "-connect", str(mount.socket)],
        input=body,
        env=env,
        capture_output=True,
        timeout=120,
    )  # its exit status is the app status: 1 after an app error
    status, reply_headers, reply_body = wire.cgi_response(done.stdout)
    return Reply(status, [(k.lower(), v) for k, v in reply_headers], reply_body, done.stderr)


def multipart(fields: list[tuple[str, str]], files: list[tuple[str, str, bytes]]) -> tuple[str, bytes]:
    boundary = "asyncweb-" + os.urandom(8).hex()
    parts = [
        f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n{value}\r\n'.encode()
        for name, value in fields
    ]
    for name, filename, data in files:
        head = f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"; filename="{filename}"\r\n'
        parts.append(head.encode() + b"Content-Type: application/octet-stream\r\n\r\n" + data + b"\r\n")
    parts.append(f"--{boundary}--\r\n".encode())
    return f"multipart/form-data; boundary={boundary}", b"".join(parts)


@pytest.fixture(scope="module")
def upload() -> bytes:
    """Just over 100 MiB of incompressible bytes, made fresh for the run."""
    block = os.urandom(1 << 20)
    return block * (UPLOAD_SIZE >> 20) + block[: UPLOAD_SIZE % (1 << 20)]


def headers_of(report: dict[str, Any]) -> dict[str, str]:
    return {name: value for name, value in report["headers"]}


def test_get_with_query_and_encoded_path(stack: Stack, front: str) -> None:
    got = fetch(stack, front, "GET", "/echo/a%20b/caf%C3%A9?x=1&y=%20&z").json()
    assert got["method"] == "GET"
    assert got["path"] == "/echo/a b/café"
    assert got["root_path"] == ""
    assert got["query_string"] == "x=1&y=%20&z"
    assert got["client"][0] == "127.0.0.1"
    assert got["body_size"] == 0 and not got["disconnected"]
    if front != "cgi-fcgi":
        assert headers_of(got)["host"] == f"127.0.0.1:{stack.ports[front]}"
        assert got["server"][1] == stack.ports[front]


def test_post_urlencoded(stack: Stack, front: str) -> None:
    form = [("Content-Type", "application/x-www-form-urlencoded")]
    body = b"a=1&b=%C3%A9+x&a=2"
    got = fetch(stack, front, "POST", "/echo-app/form?q=1", form, body).json()
    assert got["method"] == "POST"
    assert got["fields"] == [["a", "1"], ["b", "é x"], ["a", "2"]]
    assert got["query"] == [["q", "1"]]
    raw = fetch(stack, front, "POST", "/echo", form, body).json()
    assert raw["body_sha256"] == hashlib.sha256(body).hexdigest()
    assert headers_of(raw)["content-length"] == str(len(body))


def test_multipart_upload_of_100_mib(stack: Stack, front: str, upload: bytes) -> None:
    content_type, body = multipart([("note", "big one")], [("file", "data.bin", upload)])
    got = fetch(stack, front, "POST", "/echo-app/upload", [("Content-Type", content_type)], body).json()
    assert got["fields"] == [["note", "big one"]]
    [[name, described]] = got["files"]
    assert name == "file" and described["filename"] == "data.bin"
    assert described["size"] == UPLOAD_SIZE
    assert described["sha256"] == hashlib.sha256(upload).hexdigest()


def test_two_cookie_headers(stack: Stack, front: str) -> None:
    cookies = [("Cookie", "a=1"), ("Cookie", "b=2")]
    raw = fetch(stack, front, "GET", "/echo", cookies).json()
    assert headers_of(raw)["cookie"] == "a=1; b=2"
    assert fetch(stack, front, "GET", "/echo-app/", cookies).json()["cookies"] == {"a": "1", "b": "2"}


def test_redirect(stack: Stack, front: str) -> None:
    reply = fetch(stack, front, "GET", "/redirect")
    assert reply.status == 302
    assert reply.header("location") == "/echo?from=redirect"


def test_head(stack: Stack, front: str) -> None:
    reply = fetch(stack, front, "HEAD", "/echo")
    assert reply.status == 200
    assert reply.body == b""
    assert int(reply.header("content-length") or 0) > 0


def test_large_streamed_response(stack: Stack, front: str) -> None:
    reply = fetch(stack, front, "GET", "/stream?mib=64")
    assert reply.status == 200
    assert len(reply.body) == 64 << 20
    assert reply.body == apps.pattern_block() * (len(reply.body) // apps.CHUNK)


def test_handler_error_is_a_logged_500(stack: Stack, front: str) -> None:
    log = stack.logs["raw"]
    before = log.stat().st_size
    reply = fetch(stack, front, "GET", "/error?from=" + front)
    assert reply.status == 500
    assert reply.body == b"Internal Server Error\n"
    with open(log, "rb") as f:
        f.seek(before)
        logged = f.read().decode()
    assert "ERROR asyncweb.fastcgi: error in ASGI app for GET /error" in logged
    assert "RuntimeError: handler failed on purpose" in logged  # with its traceback
    # The STDERR record reaches the web server's own error log.
    if front.startswith("nginx"):
        error_log = (stack.run_dir / "nginx-error.log").read_text()
        assert "FastCGI sent in stderr" in error_log and "RuntimeError" in error_log
    elif front == "lighttpd":
        assert "RuntimeError" in (stack.run_dir / "lighttpd-error.log").read_text()
    else:
        assert b"RuntimeError" in reply.stderr


def test_starlette_app(stack: Stack, front: str) -> None:
    got = fetch(stack, front, "GET", "/starlette/echo/x%20y?q=1", [("Cookie", "a=1"), ("Cookie", "b=2")]).json()
    assert got["path"] == "/starlette/echo/x y"
    assert got["route_path"] == "x y"
    assert got["root_path"] == "/starlette"
    assert got["query"] == {"q": "1"}
    assert got["cookies"] == {"a": "1", "b": "2"}
    host = "localhost" if front == "cgi-fcgi" else f"127.0.0.1:{stack.ports[front]}"
    # Starlette builds request.url from the decoded path, as under uvicorn.
    assert got["url"] == f"http://{host}/starlette/echo/x y?q=1"

    data = os.urandom(3 << 20)
    content_type, body = multipart([("title", "t")], [("doc", "d.bin", data)])
    got = fetch(stack, front, "POST", "/starlette/upload", [("Content-Type", content_type)], body).json()
    assert got == {"files": {"doc": hashlib.sha256(data).hexdigest()}, "fields": {"title": "t"}}

    reply = fetch(stack, front, "GET", "/starlette/redirect")
    assert reply.status == 303
    assert reply.header("location") == f"http://{host}/starlette/echo/moved"

    assert fetch(stack, front, "GET", "/starlette/error").status == 500
    # Starlette answers 500 before it re-raises for the server to log.
    log = stack.logs["starlette"]
    wait_for(lambda: "handler failed on purpose" in log.read_text(), 10, "the log line")


def peak_rss(pid: int) -> int:
    """The process's peak resident set (VmHWM), in bytes."""
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024
    raise AssertionError("no VmHWM")


def test_1_gib_upload_through_unbuffered_nginx_keeps_memory_flat(stack: Stack) -> None:
    if "nginx-keepconn-streaming" not in stack.ports:
        pytest.skip("nginx not installed")
    size, block = 1 << 30, os.urandom(1 << 16)
    digest = hashlib.sha256()

    def chunks() -> Iterator[bytes]:
        for _ in range(size // len(block)):
            digest.update(block)
            yield block

    url = f"http://127.0.0.1:{stack.ports['nginx-keepconn-streaming']}/echo"
    headers = {"Content-Length": str(size), "Content-Type": "application/octet-stream"}
    with httpx.Client(timeout=300) as client:
        reply = client.post(url, content=chunks(), headers=headers)
    got = reply.json()
    assert (got["body_size"], got["body_sha256"]) == (size, digest.hexdigest())
    assert peak_rss(stack.pids["raw"]) < 150 << 20
