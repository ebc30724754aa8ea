"""The examples, run as they are: in process and under a real uvicorn."""

from __future__ import annotations

import shutil
import subprocess

import httpx
import pytest

from examples.echo import main as echo_app
from examples.hello import main as hello_app
from examples.starlette_mount import main as mounted_app
from tests.support import asgi_client, run_uvicorn

ECHO_KEYS = {"method", "path", "url", "base_url", "query", "fields", "files", "cookies", "headers", "secure", "browser"}


@pytest.mark.anyio
async def test_hello_in_process() -> None:
    async with asgi_client(hello_app) as client:
        reply = await client.get("/")
    assert reply.status_code == 200
    assert reply.text == "Hello, world!"
    assert reply.headers["content-type"] == "text/plain; charset=utf-8"


def test_hello_under_uvicorn_with_curl_and_httpx() -> None:
    with run_uvicorn("examples.hello:main") as base:
        reply = httpx.get(base + "/", timeout=10)
        assert (reply.status_code, reply.text) == (200, "Hello, world!")
        assert reply.headers["content-length"] == "13"
        head = httpx.head(base + "/", timeout=10)
        assert head.status_code == 200 and head.content == b"" and head.headers["content-length"] == "13"
        if shutil.which("curl"):
            out = subprocess.run(["curl", "-s", "-i", base + "/"], capture_output=True, timeout=10, check=True)
            assert out.stdout.startswith(b"HTTP/1.1 200 OK\r\n") and out.stdout.endswith(b"\r\n\r\nHello, world!")


@pytest.mark.anyio
async def test_echo_reports_what_was_parsed() -> None:
    async with asgi_client(echo_app) as client:
        reply = await client.get(
            "/a/b?x&y=&z=1&z=2",
            headers={"Cookie": "c=1; d=2", "User-Agent": "curl/8.0", "X-Dup": "v"},
        )
    data = reply.json()
    assert reply.headers["content-type"] == "application/json"
    assert set(data) == ECHO_KEYS
    assert data["method"] == "GET" and data["path"] == "/a/b"
    assert data["url"] == "http://testserver/a/b" and data["base_url"] == "http://testserver"
    assert data["query"] == [["x", None], ["y", ""], ["z", "1"], ["z", "2"]]
    assert data["fields"] == data["query"]
    assert data["files"] == []
    assert data["cookies"] == {"c": "1", "d": "2"}
    assert ["x-dup", "v"] in data["headers"]
    assert data["secure"] is False and data["browser"] == "curl"


@pytest.mark.anyio
async def test_starlette_mount_in_process() -> None:
    async with asgi_client(mounted_app) as client:
        home = await client.get("/")
        reply = await client.get("/legacy/report/2024")
    assert home.status_code == 200
    assert reply.text.splitlines() == [
        "url: http://testserver/legacy/report/2024",
        "base_url: http://testserver/legacy",
        "parent: http://testserver/legacy/report",
        "path: /report/2024",
    ]


def test_starlette_mount_under_uvicorn_with_a_root_path() -> None:
    # uvicorn's --root-path puts the prefix in both root_path and path; the
    # Mount adds its own: the URL must hold each prefix exactly once.
    with run_uvicorn("examples.starlette_mount:main", "--root-path", "/site") as base:
        reply = httpx.get(base + "/legacy/report/2024", timeout=10)
    port = base.rsplit(":", 1)[1]
    assert reply.text.splitlines() == [
        f"url: http://127.0.0.1:{port}/site/legacy/report/2024",
        f"base_url: http://127.0.0.1:{port}/site/legacy",
        f"parent: http://127.0.0.1:{port}/site/legacy/report",
        "path: /report/2024",
    ]
