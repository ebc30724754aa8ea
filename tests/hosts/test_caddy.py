"""Caddy's FastCGI transport in front of `asyncweb fastcgi`, over a Unix
socket (/app.py) and over TCP (/tcp.py), with `split .py`."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import ExitStack

import pytest

from tests.hosts import caddy, common
from tests.hosts.cases import HostCases, Site
from tests.hosts.conftest import Upload
from tests.support import free_port

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(caddy.binary() is None, reason="caddy is not installed (.ci/run installs Debian's caddy)"),
]


@pytest.fixture(scope="module")
def sites(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Site]]:
    run_dir = tmp_path_factory.mktemp("caddy")  # Caddy runs as this user: no www-data here
    sock, tcp_port, port = run_dir / "app.sock", free_port(), free_port()
    mounts = {"/app.py": f"unix:{sock}", "/tcp.py": f"127.0.0.1:{tcp_port}"}
    with ExitStack() as stack:
        for name, bind in zip(("unix", "tcp"), mounts.values(), strict=True):
            stack.enter_context(common.fastcgi_backend(bind, run_dir / f"{name}.log"))
        stack.enter_context(caddy.caddy(run_dir, caddy.caddyfile(port, mounts), port))
        base = f"http://127.0.0.1:{port}"
        yield {
            "unix": Site("caddy-unix", base + "/app.py", run_dir / "unix.log"),
            "tcp": Site("caddy-tcp", base + "/tcp.py", run_dir / "tcp.log"),
        }


@pytest.fixture(params=["unix", "tcp"])
def site(request: pytest.FixtureRequest, sites: dict[str, Site]) -> Site:
    return sites[request.param]


class TestCaddy(HostCases):
    def test_a_body_with_no_content_type_is_read_as_a_form(self, site: Site) -> None:
        """Caddy sends CONTENT_TYPE=application/x-www-form-urlencoded when
        the client sent none, so the App parses such a body as a form."""
        report = common.curl(site.url + "/echo", "-H", "Content-Type:", "--data-binary", "x=1").json()
        assert dict(report["headers"])["content-type"] == "application/x-www-form-urlencoded"
        assert report["fields"] == [["x", "1"]]

    def test_a_chunked_body_comes_with_content_length_minus_one(self, site: Site, upload: Upload) -> None:
        """Caddy streams a chunked body to the backend with CONTENT_LENGTH=-1:
        the app sees no Content-Length, and the body runs to the empty STDIN."""
        form = ["-F", f"upload=@{upload.path}"]
        report = common.curl(site.url + "/echo", "-H", "Transfer-Encoding: chunked", *form).json()
        headers = dict(report["headers"])
        assert headers["transfer-encoding"] == "chunked"
        assert "content-length" not in headers
        assert report["files"][0][1]["sha256"] == upload.sha256
