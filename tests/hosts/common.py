"""What the host tests share: a folder and a virtualenv the web server's
user (www-data) can use, the CGI script, `asyncweb fastcgi` backends, and a
curl client that shows exactly what came back."""

from __future__ import annotations

import functools
import json
import pwd
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.fastcgi import servers
from tests.support import ROOT, port_open, wait_for

WWW_USER = "www-data"  # Debian's user for Apache's children
SYSTEM_PYTHON = Path("/usr/bin/python3")  # one www-data can run: not under /root
EXAMPLES = ROOT / "examples"
APP_SPEC = "examples.cgi_app:main"  # the same app the CGI script serves
INSTALL_TIMEOUT = 300


def www_user() -> str:
    """www-data, or a skip where there is none."""
    try:
        pwd.getpwnam(WWW_USER)
    except KeyError:
        pytest.skip(f"no user {WWW_USER!r}: Apache's CGI children run as it")
    return WWW_USER


def _traversable(path: Path) -> bool:
    """Every folder from / down to `path` lets others in (o+x)."""
    return all(folder.stat().st_mode & 0o001 for folder in [path, *path.parents])


def www_folder() -> Path:
    """A new folder, mode 755 up to /, for what www-data must reach: the
    venv, the CGI script and the sockets (pytest's own temp folders are 700)."""
    for base in (Path(tempfile.gettempdir()), Path("/tmp")):
        if base.is_dir() and _traversable(base):
            folder = Path(tempfile.mkdtemp(prefix="asyncweb-hosts-", dir=base))
            folder.chmod(0o755)
            return folder
    pytest.skip("no temp folder www-data can enter (the temp dir and /tmp are not o+x)")


def _run(argv: list[str], what: str) -> None:
    try:
        done = subprocess.run(argv, capture_output=True, timeout=INSTALL_TIMEOUT, umask=0o022)
    except subprocess.TimeoutExpired:
        pytest.skip(f"{what} took over {INSTALL_TIMEOUT}s")
    if done.returncode != 0:
        tail = (done.stdout + done.stderr).decode(errors="replace")[-2000:]
        pytest.skip(f"{what} failed ({done.returncode}):\n{tail}")


def www_venv(folder: Path) -> Path:
    """A venv in `folder` made with Debian's Python, asyncweb installed into
    it from this checkout (with its dependencies from PyPI); its python.
    The project's .venv will not do: it lives where www-data cannot go,
    and its python may be a link into /root."""
    if not SYSTEM_PYTHON.exists() or not SYSTEM_PYTHON.resolve().stat().st_mode & 0o001:
        pytest.skip(f"no {SYSTEM_PYTHON} that {WWW_USER} can run, to make a venv for the CGI script")
    venv = folder / "venv"
    _run([str(SYSTEM_PYTHON), "-m", "venv", str(venv)], f"{SYSTEM_PYTHON} -m venv (Debian: python3-venv)")
    python = venv / "bin" / "python"
    pip = [str(python), "-m", "pip", "install", "-q", "--disable-pip-version-check", str(ROOT)]
    _run(pip, "pip install asyncweb into the www-data venv")
    return python


def install_cgi_script(folder: Path, python: Path) -> Path:
    """examples/cgi_app.py as `folder`/app.py, its shebang naming `python`
    (a CGI host runs the file itself: `#!/usr/bin/env python3` would find a
    Python without asyncweb), with echo.py beside it, compiled ahead so that
    no request pays for it (www-data cannot write __pycache__ there)."""
    folder.mkdir(mode=0o755)
    script = folder / "app.py"
    script.write_text(f"#!{python}\n" + (EXAMPLES / "cgi_app.py").read_text())
    script.chmod(0o755)
    shutil.copy(EXAMPLES / "echo.py", folder / "echo.py")
    (folder / "echo.py").chmod(0o644)
    _run([str(python), "-m", "compileall", "-q", str(folder)], "compiling the CGI script's folder")
    return script


@contextmanager
def fastcgi_backend(bind: str, log: Path) -> Iterator[servers.Process]:
    """`asyncweb fastcgi examples.cgi_app:main` on `bind` (unix:PATH, made
    mode 666 for the web server's user, or 127.0.0.1:PORT), run as this
    user with the project's Python."""
    argv = [sys.executable, "-m", "asyncweb", "fastcgi", APP_SPEC, "--bind", bind]
    ready: Callable[[], bool]
    if bind.startswith("unix:"):
        argv += ["--socket-mode", "666"]
        ready = Path(bind.removeprefix("unix:")).exists
    else:
        ready = functools.partial(port_open, int(bind.rpartition(":")[2]))
    with servers.process(argv, log, cwd=ROOT) as proc:
        wait_for(ready, 20, f"asyncweb fastcgi on {bind}", log)
        yield proc


# -- the client -------------------------------------------------------------------
@dataclass
class Reply:
    status: int
    headers: list[tuple[str, str]]  # names lower-cased, in the order they came
    body: bytes

    def header(self, name: str) -> str | None:
        return next((value for key, value in self.headers if key == name), None)

    def header_list(self, name: str) -> list[str]:
        return [value for key, value in self.headers if key == name]

    def json(self) -> Any:
        assert self.status == 200, (self.status, self.body[:2000])
        assert self.header("content-type") == "application/json", self.headers
        return json.loads(self.body)


def parse_response(raw: bytes) -> Reply:
    """curl -i's output: the final response, past any 100 Continue."""
    while True:
        head, blank, body = raw.partition(b"\r\n\r\n")
        assert blank, f"no header block in {raw[:300]!r}"
        status_line, *lines = head.decode("latin-1").split("\r\n")
        status = int(status_line.split()[1])
        if status >= 200:
            fields = (line.partition(":") for line in lines)
            return Reply(status, [(name.strip().lower(), value.strip()) for name, _, value in fields], body)
        raw = body


def curl(url: str, *args: str, timeout: float = 30) -> Reply:
    """`curl -sS -i ARGS URL`; an AssertionError names curl's complaint
    (a cut-off response, an empty reply) when it exits non-zero."""
    binary = shutil.which("curl")
    if binary is None:
        pytest.skip("curl is not installed (.ci/run installs it)")
    argv = [binary, "-sS", "-i", "--max-time", str(timeout), *args, url]
    done = subprocess.run(argv, capture_output=True, timeout=timeout + 10)
    assert done.returncode == 0, f"curl exited {done.returncode}: {done.stderr.decode(errors='replace').strip()}"
    return parse_response(done.stdout)
