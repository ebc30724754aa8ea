"""asyncweb's WSGIGateway under Apache httpd (mpm_event) with Debian's
mod_wsgi in daemon mode: the daemons run as www-data, from a venv made
with Debian's python3 (the Python mod_wsgi was built for) in a folder
www-data can read, the test apps copied beside it.

mod_wsgi refuses a chunked request body itself, with Apache's 411 page,
unless `WSGIChunkedRequest On`; with it, the body streams to the app with
HTTP_TRANSFER_ENCODING, no CONTENT_LENGTH and `wsgi.input_terminated`."""

from __future__ import annotations

import pwd
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.hosts.common import curl
from tests.support import wait_until
from tests.wsgi import cases, servers
from tests.wsgi.cases import WSGIServerCases
from tests.wsgi.servers import Server

MISSING = servers.mod_wsgi_missing()
pytestmark = [pytest.mark.slow, pytest.mark.skipif(MISSING is not None, reason=MISSING or "")]


@pytest.fixture(scope="module")
def server(www: Path, www_python: Path) -> Iterator[Server]:
    with servers.mod_wsgi(www, www_python) as running:
        yield running


class TestModWsgi(WSGIServerCases):
    def test_the_daemons_run_as_www_data(self, server: Server) -> None:
        for pid in server.site.pids() + server.loop.pids():
            assert Path(f"/proc/{pid}").stat().st_uid == pwd.getpwnam("www-data").pw_uid

    def test_a_chunked_body_is_refused_unless_wsgi_chunked_request_is_on(self, server: Server) -> None:
        reply = curl(server.site.url + "/echo", "-H", "Transfer-Encoding: chunked", "-d", "a=1")
        assert reply.status == 411
        assert b"<title>411 Length Required</title>" in reply.body  # Apache's page: the app never ran
        assert wait_until(lambda: "chunked transfer encoding has not been enabled" in server.log_text(), 5)

    def test_with_wsgi_chunked_request_on_the_body_comes_with_no_content_length(self, server: Server) -> None:
        report = curl(server.chunked_url + "/echo", "-H", "Transfer-Encoding: chunked", "-d", "a=1&b=2").json()
        headers = dict(report["headers"])
        assert headers["transfer-encoding"] == "chunked"
        assert "content-length" not in headers
        assert report["fields"] == [["a", "1"], ["b", "2"]]
        assert report["base_url"] == server.chunked_url  # SCRIPT_NAME is the mount


def test_the_shutdown_hook_runs_once_per_daemon_when_apache_stops(www: Path, www_python: Path) -> None:
    cases.check_shutdown(lambda: servers.mod_wsgi(www, www_python, name="mod_wsgi-shutdown"), stop=None)
