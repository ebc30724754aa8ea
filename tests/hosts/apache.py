"""Apache httpd (Debian's apache2) for the tests: a whole httpd.conf in a
run folder (no /etc/apache2, no system service), `apache2 -f CONF
-DFOREGROUND` as a child of the test run, stopped by its pid."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from tests.fastcgi import servers
from tests.support import port_open, wait_for

MODULES = Path("/usr/lib/apache2/modules")  # Debian's; `apxs -q LIBEXECDIR` elsewhere


def binary() -> str | None:
    return servers.find("apache2") or servers.find("httpd")


def _load(*names: str) -> str:
    return "\n".join(f"LoadModule {name}_module {MODULES}/mod_{name}.so" for name in names)


def config(run_dir: Path, port: int, mpm: str, modules: list[str], site: str, user: str) -> str:
    """httpd.conf: `mpm` (event, prefork), the base modules plus `modules`,
    pid, logs and runtime files in `run_dir`, and `site`'s directives."""
    htdocs = run_dir / "htdocs"
    htdocs.mkdir(exist_ok=True)
    return f"""
ServerRoot "{run_dir}"
ServerName 127.0.0.1
Listen 127.0.0.1:{port}
PidFile "{run_dir}/httpd.pid"
DefaultRuntimeDir "{run_dir}"
ErrorLog "{run_dir}/error.log"
LogLevel warn
# The children (and the CGI scripts they start) run as this user.
User {user}
Group {user}
{_load(f"mpm_{mpm}", "authz_core", "mime", *modules)}
TypesConfig /etc/mime.types
DocumentRoot "{htdocs}"
{site}
"""


def cgi_site(run_dir: Path, script: Path, cgid: bool) -> str:
    """`script` as /app.py: SCRIPT_NAME=/app.py, the rest of the path as PATH_INFO."""
    sock = f'ScriptSock "{run_dir}/cgid.sock"' if cgid else ""
    return f"""
{sock}
ScriptAlias /app.py "{script}"
<Directory "{script.parent}">
    Require all granted
</Directory>
"""


def proxy_fcgi_site(mounts: dict[str, str]) -> str:
    """One ProxyPass per mount: "/app.py" -> "unix:/path.sock" or "127.0.0.1:PORT"."""
    lines = [
        # Without it mod_proxy_fcgi sends the whole path as SCRIPT_NAME and
        # no PATH_INFO; `SetEnv` for the same variable comes too late.
        "SetEnvIf Request_URI . proxy-fcgi-pathinfo=first-dot",
    ]
    for prefix, backend in mounts.items():
        if backend.startswith("unix:"):
            lines.append(f'ProxyPass "{prefix}" "{backend}|fcgi://localhost{prefix}"')
        else:
            lines.append(f'ProxyPass "{prefix}" "fcgi://{backend}{prefix}"')
    return "\n".join(lines)


@contextmanager
def apache(run_dir: Path, conf: str, port: int) -> Iterator[servers.Process]:
    executable = binary()
    assert executable is not None
    path = run_dir / "httpd.conf"
    path.write_text(conf)
    argv = [executable, "-f", str(path), "-DFOREGROUND"]
    # A session of its own: when it stops, mpm_prefork's parent sends SIGTERM
    # to its whole process group, which would otherwise be the test run's.
    with servers.process(argv, run_dir / "apache.out", start_new_session=True) as proc:
        wait_for(lambda: port_open(port) or proc.popen.poll() is not None, 20, "apache2", run_dir / "apache.out")
        if proc.popen.poll() is not None:
            raise RuntimeError(f"apache2 exited with {proc.popen.returncode}:\n{proc.log_text()[-3000:]}")
        yield proc
