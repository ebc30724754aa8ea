"""examples/cgi_app.py as a CGI script under Apache httpd, by ScriptAlias:
mod_cgid with mpm_event (Debian's default) and mod_cgi with mpm_prefork.
The script runs as www-data, so its shebang names a venv in a folder
www-data can read, made with Debian's python3 (the project's .venv is out
of its reach)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.hosts import apache, common
from tests.hosts.cases import HostCases, Site
from tests.hosts.conftest import Upload
from tests.support import free_port

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(apache.binary() is None, reason="apache2 is not installed (.ci/run installs Debian's apache2)"),
]

AFTER_RESPONSE = Path(__file__).resolve().parents[1] / "cgi" / "after_response.py"
MODES = {"cgid": ("event", "cgid"), "cgi-prefork": ("prefork", "cgi")}  # name: (MPM, CGI module)


@pytest.fixture(scope="module", params=list(MODES))
def site(request: pytest.FixtureRequest, www: Path, www_python: Path) -> Iterator[Site]:
    mpm, module = MODES[request.param]
    run_dir = www / f"apache-{request.param}"
    run_dir.mkdir()
    run_dir.chmod(0o755)  # the cgid socket is in it, and www-data connects to it
    script = common.install_cgi_script(run_dir / "cgi-bin", www_python)
    after = script.parent / "after.py"
    after.write_text(f"#!{www_python}\n" + AFTER_RESPONSE.read_text())
    after.chmod(0o755)
    port = free_port()
    directives = apache.cgi_site(run_dir, script, cgid=module == "cgid")
    directives += f'ScriptAlias /after.py "{after}"\n'
    (run_dir / "marks").mkdir(mode=0o777)
    (run_dir / "marks").chmod(0o777)  # the script runs as www-data
    conf = apache.config(run_dir, port, mpm, ["alias", module], directives, common.www_user())
    with apache.apache(run_dir, conf, port):
        url = f"http://127.0.0.1:{port}/app.py"
        yield Site(f"apache-{request.param}", url, run_dir / "error.log")


class TestApacheCgi(HostCases):
    def test_a_chunked_body_comes_with_no_content_length(self, site: Site, upload: Upload) -> None:
        """Apache passes a chunked body on as it streams, de-chunked, with
        HTTP_TRANSFER_ENCODING and no CONTENT_LENGTH: the CGI host reads
        stdin to its end."""
        form = ["-F", f"upload=@{upload.path}"]
        report = common.curl(site.url + "/echo", "-H", "Transfer-Encoding: chunked", *form).json()
        headers = dict(report["headers"])
        assert headers["transfer-encoding"] == "chunked"
        assert "content-length" not in headers
        assert report["files"][0][1]["sha256"] == upload.sha256

    def test_the_response_ends_before_what_runs_after_it(self, site: Site) -> None:
        """mod_cgid gives one socket as stdin and stdout: the CGI host shuts
        it for writing, so the client has its answer while the lifespan
        shutdown (3 s here) still runs. Under mod_cgi the answer waits for
        the process's exit. Either way the shutdown is not cut short."""
        import time

        from tests.support import wait_until

        marker = site.log.parent / "marks" / "shutdown-ran"
        started = time.monotonic()
        reply = httpx.get(
            site.url.replace("/app.py", "/after.py"), params={"marker": str(marker), "pause": "3"}, timeout=30
        )
        answered = time.monotonic() - started
        assert (reply.status_code, reply.text) == (200, "answered")
        if site.name == "apache-cgid":
            assert answered < 3, f"the response took {answered:.2f} s: it waited for the process"
        else:  # mod_cgi holds the response until the process exits, whatever it closes: the README says so
            assert answered >= 3
        assert wait_until(marker.exists, timeout=15), site.log_text()[-2000:]
