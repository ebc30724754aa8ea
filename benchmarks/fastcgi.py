"""nginx -> asyncweb FastCGI, nginx -> fcgisgi and nginx -> uvicorn, side by side.

    .venv/bin/pip install -e '.[bench]'   # fcgisgi, uvloop, httptools, hatch-mypyc
    .venv/bin/python benchmarks/fastcgi.py [--rounds 3] [--duration 10]

One nginx (1 worker, keep-alive to each upstream over a Unix socket, request
buffering off) fronts the servers, each serving the same raw ASGI app on
uvloop: GET / answers "Hello, world!", POST /upload reads and counts the
body. asyncweb runs twice: as a release wheel ships it, its FastCGI hot path
compiled with mypyc (built first, from this tree; needs a C compiler), and
as plain Python, what an install from source runs. Rounds run the servers in
turn, so that background load on the machine hits them alike; the table
shows medians over the rounds (`--servers asyncweb,uvicorn` runs a subset).
Needs nginx, wrk and curl.

`--in-process` needs none of them: it times the Python side alone, nginx's
bytes for the GET pushed through asyncweb's asyncio transport layer and
through uvicorn's httptools protocol, with fake transports (asyncweb as this
interpreter imports it: PYTHONPATH set to a compiled build times that one). Its instruction
count is steadier than any timing on a shared machine:

    valgrind --tool=callgrind --callgrind-out-file=/dev/null \
        .venv/bin/python benchmarks/fastcgi.py --in-process --servers asyncweb --repeat 1 --requests N

at two values of N; the difference over the difference in N is per request.
"""

from __future__ import annotations

import argparse
import os
import platform
import re
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Any

# The repo root instead of benchmarks/, so that `tests` imports and no module
# here can shadow the standard library.
sys.path[0] = str(Path(__file__).resolve().parents[1])

from asyncweb.types import Receive, Scope, Send  # noqa: E402
from tests import compiled  # noqa: E402
from tests.fastcgi import servers  # noqa: E402
from tests.support import free_port, wait_for  # noqa: E402

HELLO = b"Hello, world!"
SERVERS = ("asyncweb", "asyncweb-py", "fcgisgi", "uvicorn")
QUIET_UVLOOP = ["--loop", "uvloop", "--log-level", "warning"]
UVICORN_FAST = ["--http", "httptools", "--no-access-log"]


async def app(scope: Scope, receive: Receive, send: Send) -> None:
    if scope["type"] == "lifespan":
        while (await receive())["type"] != "lifespan.shutdown":
            await send({"type": "lifespan.startup.complete"})
        await send({"type": "lifespan.shutdown.complete"})
        return
    body = HELLO
    if scope["method"] == "POST":
        size, more = 0, True
        while more:
            message = await receive()
            size += len(message.get("body", b""))
            more = message.get("more_body", False)
        body = b"%d\n" % size
    headers = [(b"content-type", b"text/plain"), (b"content-length", b"%d" % len(body))]
    await send({"type": "http.response.start", "status": 200, "headers": headers})
    await send({"type": "http.response.body", "body": body})


def serve_fcgisgi(sock: str) -> None:
    import uvloop
    from fcgisgi import run_asgi_server

    uvloop.run(run_asgi_server(app, bind_address=sock))


@contextmanager
def start(name: str, run_dir: Path, compiled_site: Path | None) -> Iterator[tuple[servers.Process, Path]]:
    sock = run_dir / f"{name}.sock"
    python, spec = servers.PYTHON, "benchmarks.fastcgi:app"
    asyncweb = [python, "-m", "asyncweb", "fastcgi", spec, "--bind", f"unix:{sock}", *QUIET_UVLOOP]
    argv = {
        "asyncweb": asyncweb,
        "asyncweb-py": asyncweb,
        "fcgisgi": [python, "-m", "benchmarks.fastcgi", "serve-fcgisgi", str(sock)],
        "uvicorn": [python, "-m", "uvicorn", spec, "--uds", str(sock), *QUIET_UVLOOP, *UVICORN_FAST],
    }[name]
    env = dict(os.environ)
    if name == "asyncweb":
        assert compiled_site is not None
        env["PYTHONPATH"] = str(compiled_site)
    with servers.process(argv, run_dir / f"{name}.log", cwd=servers.ROOT, env=env) as proc:
        wait_for(sock.exists, 30, name, proc.log)
        os.chmod(sock, 0o666)
        yield proc, sock


def nginx_config(run_dir: Path, ports: dict[str, int], sockets: dict[str, Path]) -> str:
    blocks = ""
    for name, port in ports.items():
        if name == "uvicorn":
            location = f"""
                proxy_pass http://{name};
                proxy_http_version 1.1;
                proxy_set_header Connection "";
                proxy_set_header Host $http_host;
                proxy_request_buffering off;"""
        else:
            location = f"""
                fastcgi_pass {name};
                fastcgi_keep_conn on;
                fastcgi_request_buffering off;
                {servers.NGINX_PARAMS}
                fastcgi_param SCRIPT_NAME "";
                fastcgi_param PATH_INFO $uri;"""
        blocks += f"""
        upstream {name} {{ server unix:{sockets[name]}; keepalive 64; }}
        server {{ listen 127.0.0.1:{port}; location / {{ {location} }} }}"""
    return servers.nginx_main(run_dir, blocks, log_level="warn", connections=4096)


def wrk(port: int, duration: int, connections: int) -> tuple[float, float]:
    """(requests per second, p99 latency in ms) of GET / with keep-alive."""
    out = subprocess.run(
        ["wrk", "-t1", f"-c{connections}", f"-d{duration}s", "--latency", f"http://127.0.0.1:{port}/"],
        capture_output=True,
        text=True,
        check=True,
        timeout=duration + 60,
    ).stdout
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))  # type: ignore[union-attr]
    value, unit = re.search(r"99%\s+([\d.]+)(us|ms|s)", out).groups()  # type: ignore[union-attr]
    p99 = float(value) * {"us": 0.001, "ms": 1.0, "s": 1000.0}[unit]
    if "Non-2xx" in out or "Socket errors" in out:
        raise RuntimeError(f"wrk saw errors:\n{out}")
    return rps, p99


def upload(port: int, path: Path, size: int) -> float:
    """MB/s of one streamed POST of `path` (curl -T, Content-Length known)."""
    start = time.perf_counter()
    out = subprocess.run(
        ["curl", "-sS", "-X", "POST", "-T", str(path), "-H", "Expect:", f"http://127.0.0.1:{port}/upload"],
        capture_output=True,
        check=True,
        timeout=300,
    ).stdout
    elapsed = time.perf_counter() - start
    if out.strip() != str(size).encode():
        raise RuntimeError(f"upload answered {out[:200]!r}")
    return size / elapsed / 1e6


def cpu_seconds(pid: int) -> float:
    """User and system CPU time the process has used so far."""
    with open(f"/proc/{pid}/stat") as stat:
        fields = stat.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def peak_rss_mib(pid: int) -> float:
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def machine() -> str:
    cpu = "unknown CPU"
    with open("/proc/cpuinfo") as info:
        for line in info:
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    return f"{cpu}, {os.cpu_count()} cores, Linux {platform.release()}, Python {platform.python_version()}"


# What nginx sends for wrk's GET / (docs/hosts/nginx.md's fastcgi_param lines, then
# the request's one header), and what its proxy_pass sends uvicorn.
NGINX_GET_PARAMS = [
    ("REQUEST_METHOD", "GET"),
    ("QUERY_STRING", ""),
    ("CONTENT_TYPE", ""),
    ("CONTENT_LENGTH", ""),
    ("REQUEST_URI", "/"),
    ("SERVER_PROTOCOL", "HTTP/1.1"),
    ("REQUEST_SCHEME", "http"),
    ("REMOTE_ADDR", "127.0.0.1"),
    ("REMOTE_PORT", "54321"),
    ("SERVER_ADDR", "127.0.0.1"),
    ("SERVER_PORT", "8080"),
    ("SERVER_NAME", "127.0.0.1"),
    ("SCRIPT_NAME", ""),
    ("PATH_INFO", "/"),
    ("HTTP_HOST", "127.0.0.1:8080"),
]
PROXIED_GET = b"GET / HTTP/1.1\r\nHost: 127.0.0.1:8080\r\n\r\n"


class Sink:
    """A transport that keeps what is written: no kernel, no nginx."""

    def __init__(self) -> None:
        self.last = b""

    def write(self, data: bytes) -> None:
        self.last = data

    def get_extra_info(self, name: str, default: object = None) -> object:
        return {"peername": ("127.0.0.1", 54321), "sockname": ("127.0.0.1", 8080)}.get(name, default)

    def is_closing(self) -> bool:
        return False

    def pause_reading(self) -> None:
        pass

    def resume_reading(self) -> None:
        pass


async def in_process(name: str, requests: int, connections: int) -> float:
    """µs per request of one server's Python side: `connections` protocol
    objects with fake transports get a request each, the loop runs the apps,
    again and again (the shape of wrk's load, without the kernel)."""
    import asyncio

    if name == "asyncweb":
        from asyncweb.fastcgi.connection import Connection
        from asyncweb.fastcgi.state import ServerState as FastCGIState
        from tests.fastcgi import wire

        data = wire.request(1, NGINX_GET_PARAMS)
        server = FastCGIState(app, connections, 1 << 20)
        protocols: list[Any] = [Connection(server, None) for _ in range(connections)]  # type: ignore[arg-type]

        def busy() -> bool:
            return server.slots.free != connections
    else:
        from uvicorn.config import Config
        from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol
        from uvicorn.server import ServerState

        data = PROXIED_GET
        config = Config(app, http="httptools", access_log=False, log_level="warning", lifespan="off")
        config.load()
        state = ServerState()
        protocols = [HttpToolsProtocol(config, state, {}) for _ in range(connections)]

        def busy() -> bool:
            return bool(state.tasks)

    sinks = [Sink() for _ in protocols]
    for protocol, sink in zip(protocols, sinks, strict=True):
        protocol.connection_made(sink)
    rounds = requests // connections
    start = time.perf_counter()
    for _ in range(rounds):
        for protocol in protocols:
            protocol.data_received(data)
        while busy():
            await asyncio.sleep(0)
    elapsed = time.perf_counter() - start
    if not all(HELLO in sink.last for sink in sinks):
        raise RuntimeError(f"{name} answered {sinks[0].last[:200]!r}")
    return elapsed / (rounds * connections) * 1e6


def micro(names: tuple[str, ...], requests: int, repeat: int, connections: int) -> int:
    """The Python side of a hello GET, in process (median of `repeat` runs)."""
    import uvloop

    print(f"in process, uvloop, {connections} connections, {requests} requests, median of {repeat} runs")
    for name in names:
        times = sorted(uvloop.run(in_process(name, requests, connections)) for _ in range(repeat))
        print(f"{name:9} {statistics.median(times):6.2f} µs per request (best {times[0]:.2f})")
    return 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument(
        "--in-process",
        action="store_true",
        help="no nginx: time the Python side of a GET through asyncweb's transport and uvicorn's protocol",
    )
    parser.add_argument("--requests", type=int, default=64000, help="per --in-process run")
    parser.add_argument("--repeat", type=int, default=5, help="--in-process runs")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--duration", type=int, default=10, help="seconds of wrk per run")
    parser.add_argument("--connections", type=int, default=64)
    parser.add_argument("--upload-mib", type=int, default=256)
    parser.add_argument("--servers", default=",".join(SERVERS), help="comma-separated subset to run")
    args = parser.parse_args()
    names = tuple(n for n in SERVERS if n in args.servers.split(","))
    if args.in_process:
        return micro(
            tuple(n for n in names if n in ("asyncweb", "uvicorn")), args.requests, args.repeat, args.connections
        )
    for tool in ("nginx", "wrk", "curl"):
        if servers.find(tool) is None:
            print(f"{tool} is not installed", file=sys.stderr)
            return 2
    results: dict[str, dict[str, list[float]]] = {
        n: {"rps": [], "p99": [], "mbs": [], "cpu": [], "nginx": []} for n in names
    }
    with tempfile.TemporaryDirectory(prefix="asyncweb-bench-") as tmp, ExitStack() as stack:
        run_dir = Path(tmp)
        size = args.upload_mib << 20
        data = run_dir / "upload.bin"
        with open(data, "wb") as f:
            block = os.urandom(1 << 20)
            for _ in range(args.upload_mib):
                f.write(block)
        compiled_site = None
        if "asyncweb" in names:
            try:
                compiled_site = compiled.build(run_dir / "compiled")
            except compiled.Unavailable as exc:
                print(f"asyncweb's compiled build skipped: {exc}", file=sys.stderr)
                names = tuple(n for n in names if n != "asyncweb")
            else:
                if not compiled.is_compiled(compiled_site):
                    raise RuntimeError(f"the build loads {compiled.loaded_files(compiled_site)}")
        procs, sockets = {}, {}
        for name in names:
            procs[name], sockets[name] = stack.enter_context(start(name, run_dir, compiled_site))
        ports = {name: free_port() for name in names}
        config = nginx_config(run_dir, ports, sockets)
        master = stack.enter_context(servers.nginx(run_dir, config, list(ports.values()))).popen.pid
        children = Path(f"/proc/{master}/task/{master}/children")
        wait_for(lambda: bool(children.read_text().split()), 10, "nginx's worker")
        worker = int(children.read_text().split()[0])
        for name in names:  # warm up: connections, caches, lazy imports
            wrk(ports[name], 2, args.connections)
            upload(ports[name], data, size)
        for round_ in range(args.rounds):
            shift = round_ % len(names)
            order = names[shift:] + names[:shift]
            for name in order:
                pid = procs[name].popen.pid
                cpu, nginx_cpu = cpu_seconds(pid), cpu_seconds(worker)
                rps, p99 = wrk(ports[name], args.duration, args.connections)
                # CPU time per request: steadier than req/s when other work
                # shares the machine. nginx's own differs by upstream
                # protocol, and it shares the two cores with the server.
                us = (cpu_seconds(pid) - cpu) / (rps * args.duration) * 1e6
                nginx_us = (cpu_seconds(worker) - nginx_cpu) / (rps * args.duration) * 1e6
                mbs = upload(ports[name], data, size)
                for key, value in (("rps", rps), ("p99", p99), ("mbs", mbs), ("cpu", us), ("nginx", nginx_us)):
                    results[name][key].append(value)
                print(
                    f"round {round_ + 1} {name:9} {rps:9.0f} req/s  p99 {p99:6.2f} ms  "
                    f"{us:5.0f} us CPU/req (nginx {nginx_us:3.0f})  upload {mbs:6.0f} MB/s"
                )
        rss = {name: peak_rss_mib(procs[name].popen.pid) for name in names}
        for name in names:
            procs[name].popen.send_signal(signal.SIGTERM)
    print()
    print(f"Machine: {machine()}")
    print(
        f"wrk -t1 -c{args.connections} -d{args.duration}s, {args.rounds} interleaved rounds (medians); "
        f"upload: one {args.upload_mib} MiB POST with curl -T"
    )
    print()
    print(
        "| behind nginx (1 worker) | req/s | p99 latency | server CPU per request | nginx CPU per request "
        "| upload MB/s | peak RSS |"
    )
    print("| --- | ---: | ---: | ---: | ---: | ---: | ---: |")
    label = {
        "asyncweb": "nginx -> asyncweb FastCGI, mypyc build",
        "asyncweb-py": "nginx -> asyncweb FastCGI, pure Python",
        "fcgisgi": "nginx -> fcgisgi 0.2.3 FastCGI",
        "uvicorn": "nginx -> proxy_pass -> uvicorn (httptools)",
    }
    base = statistics.median(results[names[0]]["rps"])
    for name in names:
        r = results[name]
        rps = statistics.median(r["rps"])
        print(
            f"| {label[name]} | {rps:.0f} ({rps / base:.2f}x) | {statistics.median(r['p99']):.1f} ms "
            f"| {statistics.median(r['cpu']):.0f} µs | {statistics.median(r['nginx']):.0f} µs "
            f"| {statistics.median(r['mbs']):.0f} | {rss[name]:.0f} MiB |"
        )
    if "uvicorn" in names:
        # The servers of a round ran minutes apart at most, so a round's
        # ratio sees less of the machine's drift than a ratio of medians.
        print()
        for name in (n for n in names if n != "uvicorn"):
            ratios = sorted(a / u for a, u in zip(results[name]["rps"], results["uvicorn"]["rps"], strict=True))
            print(
                f"{name} / uvicorn req/s, round by round: median {statistics.median(ratios):.2f}x "
                f"({ratios[0]:.2f}-{ratios[-1]:.2f})"
            )
    return 0


if __name__ == "__main__":
    if sys.argv[1:2] == ["serve-fcgisgi"]:
        serve_fcgisgi(sys.argv[2])
    else:
        sys.exit(main())
