"""Apache httpd's mod_proxy_fcgi in front of `asyncweb fastcgi`, over a
Unix socket (/app.py) and over TCP (/tcp.py). The backends run as this
user with the project's Python; only Apache's children are www-data, so
the socket is made mode 666 in a folder they can enter."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path

import httpx
import pytest

from tests.hosts import apache, common
from tests.hosts.cases import ERROR, HostCases, Site
from tests.support import free_port, wait_until

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(apache.binary() is None, reason="apache2 is not installed (.ci/run installs Debian's apache2)"),
]


@pytest.fixture(scope="module")
def sites(www: Path) -> Iterator[dict[str, Site]]:
    run_dir = www / "apache-fcgi"
    run_dir.mkdir()
    run_dir.chmod(0o755)
    sock, tcp_port, port = run_dir / "app.sock", free_port(), free_port()
    mounts = {"/app.py": f"unix:{sock}", "/tcp.py": f"127.0.0.1:{tcp_port}"}
    with ExitStack() as stack:
        for name, bind in zip(("unix", "tcp"), mounts.values(), strict=True):
            stack.enter_context(common.fastcgi_backend(bind, run_dir / f"{name}.log"))
        modules = ["proxy", "proxy_fcgi", "setenvif"]
        conf = apache.config(run_dir, port, "event", modules, apache.proxy_fcgi_site(mounts), common.www_user())
        stack.enter_context(apache.apache(run_dir, conf, port))
        base = f"http://127.0.0.1:{port}"
        yield {
            "unix": Site("apache-fcgi-unix", base + "/app.py", run_dir / "unix.log"),
            "tcp": Site("apache-fcgi-tcp", base + "/tcp.py", run_dir / "tcp.log"),
        }


@pytest.fixture(params=["unix", "tcp"])
def site(request: pytest.FixtureRequest, sites: dict[str, Site]) -> Site:
    return sites[request.param]


class TestApacheFastCGI(HostCases):
    def test_a_handler_error_reaches_apaches_own_error_log(self, site: Site) -> None:
        """mod_proxy_fcgi logs nothing of a backend but its FCGI_STDERR: the
        App's traceback goes there too, never into the body."""
        apache_log = site.log.parent / "error.log"
        reply = httpx.get(site.url + "/error", timeout=30)
        assert (reply.status_code, reply.text) == (500, "Internal Server Error\n")
        assert wait_until(lambda: ERROR in apache_log.read_text(errors="replace"), 5), apache_log.read_text()[-3000:]
        assert "Traceback (most recent call last)" in apache_log.read_text(errors="replace")
