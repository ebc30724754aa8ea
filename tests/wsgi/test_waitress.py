"""asyncweb's WSGIGateway under a real waitress (4 threads, one process).

waitress reads a whole request body before it calls the app (into memory,
then a temp file of its own past 512 KiB), and de-chunks a chunked one:
the app gets CONTENT_LENGTH and no HTTP_TRANSFER_ENCODING."""

from __future__ import annotations

import os
import signal
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.hosts.common import curl
from tests.support import wait_until
from tests.wsgi import cases, servers
from tests.wsgi.cases import WSGIServerCases
from tests.wsgi.servers import Server

MISSING = "waitress is not installed: pip install -e '.[test]'"
pytestmark = [pytest.mark.slow, pytest.mark.skipif(not servers.has_module("waitress"), reason=MISSING)]


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    with servers.waitress(tmp_path_factory.mktemp("waitress")) as running:
        yield running


class TestWaitress(WSGIServerCases):
    def test_a_chunked_body_is_de_chunked_with_a_content_length(self, server: Server) -> None:
        form = ["-H", "Transfer-Encoding: chunked", "-d", "a=1&b=2"]
        report = curl(server.chunked_url + "/echo", *form).json()
        headers = dict(report["headers"])
        assert headers["content-length"] == "7"
        assert "transfer-encoding" not in headers
        assert report["fields"] == [["a", "1"], ["b", "2"]]


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    with open(f"/proc/{pid}/stat") as stat:  # a zombie waits only for its parent to reap it
        return stat.read().split(") ", 1)[1][:1] != "Z"


def test_the_shutdown_hook_runs_at_sigint(tmp_path: Path) -> None:
    """waitress stops on SIGINT (Ctrl-C) by a KeyboardInterrupt, so atexit
    runs the gateway's lifespan shutdown. On SIGTERM it installs no handler:
    Python's default ends the process at once, and no shutdown hook runs."""

    def interrupt(server: Server) -> None:
        pids = server.site.pids()
        for pid in pids:
            os.kill(pid, signal.SIGINT)
        # Let atexit run the shutdown before the context's own SIGTERM,
        # which would end the process at once.
        assert wait_until(lambda: not any(_alive(pid) for pid in pids), 15), pids

    cases.check_shutdown(lambda: servers.waitress(tmp_path), stop=interrupt)
