"""Real web servers in front of `asyncweb fastcgi`, for the tests and the
benchmark: configs written to a run folder, processes on 127.0.0.1 stopped
by their PID, every path (pid, logs, temp files, sockets) in that folder."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from tests.support import ROOT as ROOT  # re-exported: benchmarks/fastcgi.py runs from it
from tests.support import port_open, stop_process, wait_for

PYTHON = sys.executable
_SBIN = os.pathsep.join(["/usr/local/sbin", "/usr/sbin", "/sbin"])


def find(binary: str) -> str | None:
    """A binary on PATH or in the sbin folders, where Debian puts nginx."""
    return shutil.which(binary, path=os.environ.get("PATH", "") + os.pathsep + _SBIN)


@dataclass
class Process:
    popen: subprocess.Popen[bytes]
    log: Path

    def stop(self, timeout: float = 15) -> int:
        """SIGTERM, then SIGKILL if it does not go in time; its exit status."""
        return stop_process(self.popen, timeout)

    def log_text(self) -> str:
        return self.log.read_text(errors="replace")


@contextmanager
def process(argv: list[str], log: Path, **options: object) -> Iterator[Process]:
    with open(log, "ab") as out:
        popen = subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT, **options)  # type: ignore[call-overload]
    proc = Process(popen, log)
    try:
        yield proc
    finally:
        proc.stop()


@contextmanager
def fastcgi_app(spec: str, run_dir: Path, name: str, *args: str) -> Iterator[tuple[Process, Path]]:
    """`asyncweb fastcgi SPEC` on a Unix socket in `run_dir`."""
    sock = run_dir / f"{name}.sock"
    argv = [PYTHON, "-m", "asyncweb", "fastcgi", spec, "--bind", f"unix:{sock}", *args]
    with process(argv, run_dir / f"{name}.log", cwd=ROOT) as proc:
        wait_for(sock.exists, 20, f"asyncweb fastcgi {spec}", proc.log)
        yield proc, sock


# The CGI variables a FastCGI app needs, as `fastcgi_param` lines. Debian's
# /etc/nginx/fastcgi_params is not used: it sets HTTP_HOST to $host, which
# drops the port the client asked for.
NGINX_PARAMS = """
fastcgi_param REQUEST_METHOD  $request_method;
fastcgi_param QUERY_STRING    $query_string;
fastcgi_param CONTENT_TYPE    $content_type;
fastcgi_param CONTENT_LENGTH  $content_length;
fastcgi_param REQUEST_URI     $request_uri;
fastcgi_param SERVER_PROTOCOL $server_protocol;
fastcgi_param REQUEST_SCHEME  $scheme;
fastcgi_param HTTPS           $https if_not_empty;
fastcgi_param REMOTE_ADDR     $remote_addr;
fastcgi_param REMOTE_PORT     $remote_port;
fastcgi_param SERVER_ADDR     $server_addr;
fastcgi_param SERVER_PORT     $server_port;
fastcgi_param SERVER_NAME     $host;
"""


@dataclass
class Mount:
    """An app under a URL prefix ("" for the site's root)."""

    prefix: str
    socket: Path

    def nginx(self, name: str, keep_conn: bool, buffering: bool) -> str:
        if self.prefix:
            where = f"location {self.prefix}/"
            split = f"fastcgi_split_path_info ^({self.prefix})(/.*)$;"
            script = f"fastcgi_param SCRIPT_NAME {self.prefix};\n"
            script += "fastcgi_param PATH_INFO $fastcgi_path_info;"
        else:
            where, split = "location /", ""
            script = 'fastcgi_param SCRIPT_NAME "";\nfastcgi_param PATH_INFO $uri;'
        return f"""
        {where} {{
            fastcgi_pass {name};
            fastcgi_keep_conn {"on" if keep_conn else "off"};
            fastcgi_request_buffering {"on" if buffering else "off"};
            {split}
            {NGINX_PARAMS}
            {script}
        }}"""


def nginx_config(run_dir: Path, sites: dict[int, tuple[bool, bool]], mounts: list[Mount]) -> str:
    """One server per port, each with its (keep_conn, request_buffering)."""
    upstreams = "".join(f"upstream app{i} {{ server unix:{m.socket}; keepalive 16; }}\n" for i, m in enumerate(mounts))
    servers = ""
    for port, (keep_conn, buffering) in sites.items():
        locations = "".join(m.nginx(f"app{i}", keep_conn, buffering) for i, m in enumerate(mounts))
        servers += f"server {{ listen 127.0.0.1:{port}; {locations}\n}}\n"
    return nginx_main(run_dir, upstreams + servers)


def nginx_main(run_dir: Path, http: str, log_level: str = "info", connections: int = 1024) -> str:
    """A whole nginx.conf for one foreground worker run as root, its pid,
    logs and temp folders in `run_dir`, around the `http` block's content."""
    temp = run_dir / "nginx-temp"
    temp.mkdir(exist_ok=True)
    return f"""
user root;
worker_processes 1;
daemon off;
pid {run_dir}/nginx.pid;
error_log {run_dir}/nginx-error.log {log_level};
events {{ worker_connections {connections}; }}
http {{
    access_log off;
    client_max_body_size 1g;
    keepalive_requests 1000000;
    client_body_temp_path {temp}/body;
    fastcgi_temp_path {temp}/fastcgi;
    proxy_temp_path {temp}/proxy;
    uwsgi_temp_path {temp}/uwsgi;
    scgi_temp_path {temp}/scgi;
    {http}
}}
"""


@contextmanager
def nginx(run_dir: Path, config: str, ports: list[int]) -> Iterator[Process]:
    binary = find("nginx")
    assert binary is not None
    conf = run_dir / "nginx.conf"
    conf.write_text(config)
    argv = [binary, "-p", str(run_dir), "-c", str(conf), "-e", str(run_dir / "nginx-error.log")]
    with process(argv, run_dir / "nginx.out") as proc:
        wait_for(lambda: all(port_open(p) for p in ports), 20, "nginx", run_dir / "nginx-error.log")
        yield proc


def lighttpd_config(run_dir: Path, port: int, mounts: list[Mount]) -> str:
    """mod_fastcgi with one entry per mount; the root mount last, since
    lighttpd takes the first prefix that matches."""
    entries = []
    for m in sorted(mounts, key=lambda m: m.prefix == ""):
        options = f'"socket" => "{m.socket}", "check-local" => "disable"'
        if not m.prefix:
            options += ', "fix-root-scriptname" => "enable"'
        entries.append(f'"{m.prefix or "/"}" => (( {options} ))')
    docroot = run_dir / "htdocs"
    docroot.mkdir(exist_ok=True)
    return f"""
server.document-root = "{docroot}"
server.bind = "127.0.0.1"
server.port = {port}
server.errorlog = "{run_dir}/lighttpd-error.log"
server.breakagelog = "{run_dir}/lighttpd-breakage.log"
server.pid-file = "{run_dir}/lighttpd.pid"
server.upload-dirs = ("{run_dir}")
server.max-request-size = 1048576
server.modules += ("mod_fastcgi")
fastcgi.server = ( {", ".join(entries)} )
"""


@contextmanager
def lighttpd(run_dir: Path, config: str, port: int) -> Iterator[Process]:
    binary = find("lighttpd")
    assert binary is not None
    conf = run_dir / "lighttpd.conf"
    conf.write_text(config)
    with process([binary, "-D", "-f", str(conf)], run_dir / "lighttpd.out") as proc:
        wait_for(lambda: port_open(port), 20, "lighttpd", run_dir / "lighttpd.out")
        yield proc
