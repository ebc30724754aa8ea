"""Real WSGI servers for the tests: gunicorn (sync workers), waitress and
Apache with mod_wsgi in daemon mode, each on 127.0.0.1 with its logs in a
run folder, stopped by its pid; and what the tests read of their
processes in /proc (peak RSS; descriptors open in a folder: support.open_in).

Every server serves two apps: `tests.wsgi.apps:site_wsgi` (an asyncweb App
run with no event loop) and `tests.wsgi_apps:loop_wsgi` (a raw ASGI app on
the gateway's event loop thread): gunicorn and waitress as two instances,
Apache as two mod_wsgi daemon process groups. Both serve the run folder's
`files/` at /file/NAME, and note which responses went by the server's
wsgi.file_wrapper (its type: `Server.file_wrapper`)."""

from __future__ import annotations

import importlib
import importlib.util
import os
import pwd
import re
import shutil
import subprocess
import sys
from collections.abc import Callable, Iterator, Sequence
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path

from tests.fastcgi import servers
from tests.hosts import apache, common
from tests.support import ROOT, free_port, port_open, wait_for
from tests.wsgi.apps import STOPS_ENV, UPLOAD_DIR_ENV
from tests.wsgi_apps import FILES_ENV, STARTS_ENV, WRAPPED_ENV

SITE_SPEC = "tests.wsgi.apps:site_wsgi"
LOOP_SPEC = "tests.wsgi_apps:loop_wsgi"
MOD_WSGI = apache.MODULES / "mod_wsgi.so"  # Debian's libapache2-mod-wsgi-py3
# What mod_wsgi needs of this checkout to import the two apps.
APP_FILES = (
    "tests/__init__.py",
    "tests/wsgi_apps.py",
    "tests/wsgi/__init__.py",
    "tests/wsgi/apps.py",
    "examples/echo.py",
)


@dataclass
class Served:
    """One app behind the server: where it answers, the files its lifespan
    startup and shutdown append their pid to, the file it notes its
    responses by the server's wsgi.file_wrapper in, and the processes
    that run it."""

    url: str
    starts: Path
    stops: Path  # the site app's on_shutdown (the loop app has none)
    wrapped: Path
    pids: Callable[[], list[int]]

    @classmethod
    def of(cls, url: str, files: dict[str, Path], app: str, pids: Callable[[], list[int]]) -> Served:
        return cls(url, files[f"{app}-starts"], files[f"{app}-stops"], files[f"{app}-wrapped"], pids)

    def start_lines(self) -> list[str]:
        return self.starts.read_text().split()

    def stop_lines(self) -> list[str]:
        return self.stops.read_text().split()

    def wrapped_lines(self) -> list[str]:
        return self.wrapped.read_text().splitlines()


@dataclass
class Server:
    name: str
    site: Served
    loop: Served
    error_log: Path  # where wsgi.errors goes
    upload_dir: Path  # the site App's upload_dir
    file_wrapper: str  # the type of the server's wsgi.file_wrapper, MODULE.NAME
    chunked_url: str = ""  # where a chunked request body reaches the site app (default: site.url)
    buffers_request_body: bool = False  # the whole body is read before the app is called (waitress)

    def __post_init__(self) -> None:
        self.chunked_url = self.chunked_url or self.site.url

    @property
    def files_dir(self) -> Path:
        """What /file/NAME serves (readable by the app processes)."""
        return self.upload_dir.parent / "files"

    def log_text(self) -> str:
        return self.error_log.read_text(errors="replace") if self.error_log.exists() else ""


# -- /proc ------------------------------------------------------------------------
def children(pid: int) -> list[int]:
    try:
        text = Path(f"/proc/{pid}/task/{pid}/children").read_text()
    except OSError:
        return []
    return [int(child) for child in text.split()]


def cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return ""


def peak_rss_kib(pid: int) -> int:
    """VmHWM: the most RAM the process has held at once, in KiB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1])
    raise LookupError(f"no VmHWM for {pid}")


# -- the run folder -------------------------------------------------------------------
def _run_folder(base: Path, name: str, owner: str | None = None) -> tuple[Path, Path, dict[str, Path]]:
    """`base/name` with an upload folder, a folder of files to serve and
    the lifespan and file-wrapper notes in it, the upload folder and the
    notes writable by `owner` (mod_wsgi's daemons run as www-data)."""
    run_dir = base / name
    run_dir.mkdir()
    run_dir.chmod(0o755)
    upload_dir = run_dir / "uploads"
    upload_dir.mkdir()
    (run_dir / "files").mkdir(mode=0o755)
    names = [f"{app}-{event}" for app in ("site", "loop") for event in ("starts", "stops", "wrapped")]
    files = {name: run_dir / f"{name}.txt" for name in names}
    for path in files.values():
        path.touch()
    if owner is not None:
        entry = pwd.getpwnam(owner)
        for path in (upload_dir, *files.values()):
            os.chown(path, entry.pw_uid, entry.pw_gid)
    return run_dir, upload_dir, files


def app_env(upload_dir: Path, files: dict[str, Path], app: str) -> dict[str, str]:
    """What the test apps read: the upload folder, the folder of files to
    serve, and the lifespan and file-wrapper notes of `app`."""
    names = {
        UPLOAD_DIR_ENV: upload_dir,
        FILES_ENV: upload_dir.parent / "files",
        STARTS_ENV: files[f"{app}-starts"],
        STOPS_ENV: files[f"{app}-stops"],
        WRAPPED_ENV: files[f"{app}-wrapped"],
    }
    return {name: str(path) for name, path in names.items()}


# -- gunicorn ---------------------------------------------------------------------------
def has_module(name: str) -> bool:
    return importlib.util.find_spec(name) is not None


def _gunicorn_options() -> list[str]:
    settings = importlib.import_module("gunicorn.config").KNOWN_SETTINGS
    # A newer gunicorn opens a control socket in ~/.gunicorn by default: not here.
    return ["--no-control-socket"] if any(s.name == "control_socket_disable" for s in settings) else []


@contextmanager
def gunicorn_process(
    spec: str, run_dir: Path, name: str, env: dict[str, str], workers: int = 2, options: Sequence[str] = ()
) -> Iterator[tuple[str, Callable[[], list[int]], Path]]:
    """`gunicorn -k sync -w WORKERS [OPTIONS] SPEC` on a free port: its URL,
    its workers' pids, its error log (wsgi.errors)."""
    port = free_port()
    log = run_dir / f"{name}-error.log"
    argv = [sys.executable, "-m", "gunicorn", "--worker-class", "sync", "--workers", str(workers)]
    argv += ["--bind", f"127.0.0.1:{port}", "--error-logfile", str(log), "--graceful-timeout", "5"]
    argv += [*_gunicorn_options(), *options, spec]
    with servers.process(argv, run_dir / f"{name}.out", cwd=ROOT, env={**os.environ, **env}) as proc:

        def pids() -> list[int]:
            return children(proc.popen.pid)

        def ready() -> bool:
            if proc.popen.poll() is not None:
                raise RuntimeError(f"gunicorn exited with {proc.popen.returncode}:\n{proc.log_text()[-3000:]}")
            return port_open(port) and len(pids()) == workers

        wait_for(ready, 30, f"gunicorn {spec}", log)
        yield f"http://127.0.0.1:{port}", pids, log


@contextmanager
def gunicorn(base: Path, name: str = "gunicorn") -> Iterator[Server]:
    """Two gunicorns with 2 sync workers each, their run folder `base/name`."""
    run_dir, upload_dir, files = _run_folder(base, name)
    with ExitStack() as stack:
        site_url, site_pids, log = stack.enter_context(
            gunicorn_process(SITE_SPEC, run_dir, "site", app_env(upload_dir, files, "site"))
        )
        loop_url, loop_pids, _ = stack.enter_context(
            gunicorn_process(LOOP_SPEC, run_dir, "loop", app_env(upload_dir, files, "loop"))
        )
        site = Served.of(site_url, files, "site", site_pids)
        loop = Served.of(loop_url, files, "loop", loop_pids)
        yield Server("gunicorn", site, loop, log, upload_dir, "gunicorn.http.wsgi.FileWrapper")


# -- waitress ---------------------------------------------------------------------------
@contextmanager
def waitress_process(spec: str, run_dir: Path, name: str, env: dict[str, str]) -> Iterator[tuple[str, int, Path]]:
    """`python -m waitress SPEC` (4 threads) on a free port: its URL, its
    pid, and its stderr, where its wsgi.errors goes."""
    port = free_port()
    log = run_dir / f"{name}.log"
    argv = [sys.executable, "-m", "waitress", f"--listen=127.0.0.1:{port}", "--threads=4", spec]
    with servers.process(argv, log, cwd=ROOT, env={**os.environ, **env}) as proc:

        def ready() -> bool:
            if proc.popen.poll() is not None:
                raise RuntimeError(f"waitress exited with {proc.popen.returncode}:\n{proc.log_text()[-3000:]}")
            return port_open(port)

        wait_for(ready, 30, f"waitress {spec}", log)
        yield f"http://127.0.0.1:{port}", proc.popen.pid, log


@contextmanager
def waitress(base: Path, name: str = "waitress") -> Iterator[Server]:
    """Two waitresses, their run folder `base/name`."""
    run_dir, upload_dir, files = _run_folder(base, name)
    with ExitStack() as stack:
        site_url, site_pid, log = stack.enter_context(
            waitress_process(SITE_SPEC, run_dir, "site", app_env(upload_dir, files, "site"))
        )
        loop_url, loop_pid, _ = stack.enter_context(
            waitress_process(LOOP_SPEC, run_dir, "loop", app_env(upload_dir, files, "loop"))
        )
        site = Served.of(site_url, files, "site", lambda: [site_pid])
        loop = Served.of(loop_url, files, "loop", lambda: [loop_pid])
        wrapper = "waitress.buffers.ReadOnlyFileBasedBuffer"
        yield Server("waitress", site, loop, log, upload_dir, wrapper, buffers_request_body=True)


# -- Apache mod_wsgi ----------------------------------------------------------------------
def mod_wsgi_python() -> str | None:
    """The Python version mod_wsgi.so was built for ("3.11"), from the
    libpython it links; None when it is not installed."""
    if not MOD_WSGI.exists():
        return None
    found = re.search(rb"libpython(3\.\d+)", MOD_WSGI.resolve().read_bytes())
    return found.group(1).decode() if found else "unknown"


def system_python() -> str | None:
    """The version of Debian's /usr/bin/python3, the one a www-data venv is made with."""
    if not common.SYSTEM_PYTHON.exists():
        return None
    done = subprocess.run(
        [str(common.SYSTEM_PYTHON), "-c", "import sys; print('%d.%d' % sys.version_info[:2])"],
        capture_output=True,
        text=True,
        timeout=30,
    )
    return done.stdout.strip() or None


def mod_wsgi_missing() -> str | None:
    """Why mod_wsgi's tests cannot run here, or None."""
    if apache.binary() is None:
        return "apache2 is not installed (.ci/run installs Debian's apache2)"
    built_for = mod_wsgi_python()
    if built_for is None:
        return f"no {MOD_WSGI}: libapache2-mod-wsgi-py3 is not installed (.ci/run installs it)"
    system = system_python()
    if system != built_for:
        return f"mod_wsgi is built for Python {built_for}, {common.SYSTEM_PYTHON} is {system}: no venv of it can do"
    return None


def install_apps(folder: Path, python: Path, upload_dir: Path, files: dict[str, Path]) -> dict[str, Path]:
    """The app modules copied to `folder` (readable by www-data, compiled
    ahead: it cannot write __pycache__ there), and one .wsgi script per app
    that sets the environment the test apps read before importing them."""
    folder.mkdir(mode=0o755)
    for name in APP_FILES:
        target = folder / name
        target.parent.mkdir(mode=0o755, parents=True, exist_ok=True)
        shutil.copy(ROOT / name, target)
    scripts = {}
    for name, spec in (("site", SITE_SPEC), ("loop", LOOP_SPEC)):
        module, _, attribute = spec.partition(":")
        script = folder / f"{name}.wsgi"
        settings = "".join(f"os.environ[{k!r}] = {v!r}\n" for k, v in app_env(upload_dir, files, name).items())
        script.write_text(f"import os\n{settings}from {module} import {attribute} as application\n")
        scripts[name] = script
    for path in folder.rglob("*"):
        path.chmod(0o755 if path.is_dir() else 0o644)
    done = subprocess.run([str(python), "-m", "compileall", "-q", str(folder)], capture_output=True, timeout=120)
    assert done.returncode == 0, done.stderr
    return scripts


def mod_wsgi_site(run_dir: Path, venv: Path, app_dir: Path, scripts: dict[str, Path]) -> str:
    """Two daemon process groups (processes=1 threads=4, as www-data): the
    site app at / and at /chunked (where WSGIChunkedRequest is On), the
    loop app at /loop; each in the main interpreter (%{GLOBAL})."""
    daemon = f"processes=1 threads=4 python-home={venv} python-path={app_dir}"
    return f"""
WSGISocketPrefix "{run_dir}/wsgi"
WSGIDaemonProcess site {daemon} display-name=%{{GROUP}}
WSGIDaemonProcess loop {daemon} display-name=%{{GROUP}}
WSGIScriptAlias /loop "{scripts["loop"]}" process-group=loop application-group=%{{GLOBAL}}
WSGIScriptAlias /chunked "{scripts["site"]}" process-group=site application-group=%{{GLOBAL}}
WSGIScriptAlias / "{scripts["site"]}" process-group=site application-group=%{{GLOBAL}}
<Location /chunked>
    WSGIChunkedRequest On
</Location>
<Directory "{app_dir}">
    Require all granted
</Directory>
"""


@contextmanager
def mod_wsgi(base: Path, python: Path, name: str = "mod_wsgi") -> Iterator[Server]:
    """Apache (mpm_event) with mod_wsgi's daemons running as www-data from
    the venv of `python` (Debian's Python, in a folder www-data can read),
    its run folder `base/name`."""
    user = common.www_user()
    run_dir, upload_dir, files = _run_folder(base, name, owner=user)
    scripts = install_apps(run_dir / "app", python, upload_dir, files)
    port = free_port()
    venv = python.parent.parent
    conf = apache.config(run_dir, port, "event", ["wsgi"], mod_wsgi_site(run_dir, venv, run_dir / "app", scripts), user)
    with apache.apache(run_dir, conf, port) as proc:

        def daemons(group: str) -> Callable[[], list[int]]:
            name = f"(wsgi:{group})"  # display-name=%{GROUP}: no longer than apache2's argv[0]
            return lambda: [pid for pid in children(proc.popen.pid) if cmdline(pid).startswith(name)]

        base_url = f"http://127.0.0.1:{port}"
        wait_for(lambda: bool(daemons("site")()) and bool(daemons("loop")()), 20, "mod_wsgi's daemons", proc.log)
        site = Served.of(base_url, files, "site", daemons("site"))
        loop = Served.of(base_url + "/loop", files, "loop", daemons("loop"))
        error_log, wrapper = run_dir / "error.log", "mod_wsgi.FileWrapper"
        yield Server("mod_wsgi", site, loop, error_log, upload_dir, wrapper, chunked_url=base_url + "/chunked")
