"""asyncweb's WSGIGateway under a real gunicorn with sync workers.

gunicorn passes a chunked request body on as it streams, with
HTTP_TRANSFER_ENCODING, no CONTENT_LENGTH and `wsgi.input_terminated`, so
the gateway reads it to its end."""

from __future__ import annotations

import socket
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.hosts.common import curl
from tests.support import wait_until
from tests.wsgi import cases, servers
from tests.wsgi.cases import WSGIServerCases
from tests.wsgi.servers import Server
from tests.wsgi_apps import STARTS_ENV

MISSING = "gunicorn is not installed: pip install -e '.[test]'"
pytestmark = [pytest.mark.slow, pytest.mark.skipif(not servers.has_module("gunicorn"), reason=MISSING)]


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    with servers.gunicorn(tmp_path_factory.mktemp("gunicorn")) as running:
        yield running


class TestGunicorn(WSGIServerCases):
    def test_a_chunked_body_comes_with_no_content_length(self, server: Server) -> None:
        form = ["-H", "Transfer-Encoding: chunked", "-d", "a=1&b=2"]
        report = curl(server.chunked_url + "/echo", *form).json()
        headers = dict(report["headers"])
        assert headers["transfer-encoding"] == "chunked"
        assert "content-length" not in headers
        assert report["fields"] == [["a", "1"], ["b", "2"]]


def test_the_shutdown_hook_runs_once_per_worker_at_sigterm(tmp_path: Path) -> None:
    cases.check_shutdown(lambda: servers.gunicorn(tmp_path), stop=None)


def test_two_sync_workers_run_the_lifespan_once_each(tmp_path: Path) -> None:
    """tests/wsgi_apps.py's plain_wsgi under `gunicorn -w 2`: one request
    held open in each worker (a sync worker serves one at a time, so the
    second connection can only go to the other), then more requests: the
    startup file has one line per worker pid, not one per request."""
    starts = tmp_path / "starts.txt"

    def lines() -> list[str]:
        return starts.read_text().split() if starts.exists() else []

    env = {STARTS_ENV: str(starts)}
    with servers.gunicorn_process("tests.wsgi_apps:plain_wsgi", tmp_path, "plain", env, workers=2) as (url, pids, _):
        port = int(url.rpartition(":")[2])
        head = b"POST /raw HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/octet-stream\r\n"
        head += b"Content-Length: 5\r\n\r\n"
        held = [socket.create_connection(("127.0.0.1", port), timeout=30) for _ in range(2)]
        try:
            for sock in held:
                sock.sendall(head)  # the body is not sent yet: the worker waits in wsgi.input.read
            assert wait_until(lambda: len(lines()) == 2, 10), lines()
            for sock in held:
                sock.sendall(b"hello")
                reply = b""
                while chunk := sock.recv(65536):
                    reply += chunk
                assert reply.startswith(b"HTTP/1.1 200 ") and reply.endswith(b"\r\n\r\nhello"), reply
        finally:
            for sock in held:
                sock.close()
        for _ in range(10):
            assert curl(url + "/").body == b"hello from a plain function"
        assert Counter(int(pid) for pid in lines()) == dict.fromkeys(pids(), 1)
