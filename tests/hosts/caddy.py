"""Caddy for the tests: a Caddyfile in a run folder, `caddy run` as a child
of the test run (admin endpoint off, its storage in the run folder, bound
to 127.0.0.1), stopped by its pid."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from tests.fastcgi import servers
from tests.support import port_open, wait_for


def binary() -> str | None:
    return servers.find("caddy")


def caddyfile(port: int, mounts: dict[str, str]) -> str:
    """One FastCGI `reverse_proxy` per mount: "/app.py" -> "unix:/path.sock"
    or "127.0.0.1:PORT"; `split .py` makes SCRIPT_NAME the mount and
    PATH_INFO the rest, as a CGI host does."""
    routes = ""
    for prefix, backend in mounts.items():
        upstream = "unix/" + backend.removeprefix("unix:") if backend.startswith("unix:") else backend
        routes += f"""
	reverse_proxy {prefix}* {upstream} {{
		transport fastcgi {{
			split .py
		}}
	}}"""
    return f"""{{
	admin off
	auto_https off
}}
http://127.0.0.1:{port} {{
	# Without it Caddy listens on every interface.
	bind 127.0.0.1{routes}
}}
"""


@contextmanager
def caddy(run_dir: Path, config: str, port: int) -> Iterator[servers.Process]:
    executable = binary()
    assert executable is not None
    path = run_dir / "Caddyfile"
    path.write_text(config)
    # Caddy keeps its data (certificates, autosaved config) under HOME/XDG_*.
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": str(run_dir),
        "XDG_DATA_HOME": str(run_dir / "data"),
        "XDG_CONFIG_HOME": str(run_dir / "config"),
    }
    argv = [executable, "run", "--config", str(path), "--adapter", "caddyfile"]
    with servers.process(argv, run_dir / "caddy.log", env=env) as proc:
        wait_for(lambda: port_open(port) or proc.popen.poll() is not None, 20, "caddy", proc.log)
        if proc.popen.poll() is not None:
            raise RuntimeError(f"caddy exited with {proc.popen.returncode}:\n{proc.log_text()[-3000:]}")
        yield proc
