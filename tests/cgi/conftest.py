"""A real CGI host for the tests: lighttpd with mod_cgi on 127.0.0.1,
serving examples/cgi_app.py as /app.py with this virtualenv's Python."""

from __future__ import annotations

import shutil
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.support import ROOT, free_port, stop_process, wait_for_port

EXAMPLE = ROOT / "examples" / "cgi_app.py"


@dataclass
class Lighttpd:
    url: str  # the script's URL: http://127.0.0.1:PORT/app.py
    breakage_log: Path  # the CGI scripts' stderr

    def script_errors(self) -> str:
        return self.breakage_log.read_text(errors="replace") if self.breakage_log.exists() else ""


def _config(root: Path, port: int) -> str:
    return f"""
server.modules = ( "mod_cgi" )
server.document-root = "{root / "htdocs"}"
server.bind = "127.0.0.1"
server.port = {port}
server.errorlog = "{root / "error.log"}"
server.breakagelog = "{root / "breakage.log"}"
server.upload-dirs = ( "{root / "uploads"}" )
# The CGI child gets no PATH and no virtualenv: name the interpreter.
cgi.assign = ( ".py" => "{sys.executable}" )
"""


@pytest.fixture(scope="session")
def lighttpd(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Lighttpd]:
    executable = shutil.which("lighttpd") or next(
        (path for path in ("/usr/sbin/lighttpd", "/usr/local/sbin/lighttpd") if Path(path).exists()), None
    )
    if executable is None:
        pytest.skip("lighttpd is not installed (.ci/run installs Debian's lighttpd)")
    root = tmp_path_factory.mktemp("lighttpd")
    (root / "htdocs").mkdir()
    (root / "uploads").mkdir()
    (root / "htdocs" / "app.py").symlink_to(EXAMPLE)
    (root / "htdocs" / "after.py").symlink_to(Path(__file__).parent / "after_response.py")
    port = free_port()
    conf = root / "lighttpd.conf"
    conf.write_text(_config(root, port))
    with open(root / "stderr.log", "wb") as stderr:
        process = subprocess.Popen([executable, "-D", "-f", str(conf)], stdout=stderr, stderr=stderr)
    try:
        wait_for_port(port, process)
        yield Lighttpd(f"http://127.0.0.1:{port}/app.py", root / "breakage.log")
    finally:
        stop_process(process)
