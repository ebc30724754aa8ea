"""nginx -> asyncweb FastCGI, nginx -> fcgisgi and nginx -> uvicorn, side by side.

    .venv/bin/pip install -e '.[bench]'   # fcgisgi, uvloop, httptools, hatch-mypyc
    .venv/bin/python benchmarks/fastcgi.py [--rounds 3] [--duration 10] [--routes hello,cookies]

One nginx (1 worker, keep-alive to each upstream over a Unix socket, request
buffering off) fronts the servers, each serving the same raw ASGI app on
uvloop, so that the servers are compared and not frameworks. wrk times its
GET routes (`--routes`, comma-separated, default both):

- `hello`: GET / answers "Hello, world!";
- `cookies`: GET /cookies, with the Cookie header of benchmarks/routes.py's
  cookies route (10 cookies, a wrk `-H`), answers them as `name=value`
  lines and sets 3 cookies, with that module's raw-ASGI helpers;

and after them, each round, curl posts `--upload-mib` MiB to POST /upload,
which reads and counts the body. asyncweb runs twice: as a release wheel
ships it, its FastCGI hot path compiled with mypyc (built first, from this
tree; needs a C compiler), and as plain Python, what an install from source
runs. Before anything is timed, curl fetches every route from every server
through nginx, and the reply's status, body and Set-Cookie lines are
checked. Rounds run the servers in turn, so that background load on the
machine hits them alike; the table shows, per route and server, medians over
the rounds of req/s, p99 latency and the server's and nginx's CPU time per
request, and the server's req/s over uvicorn's round by round; a second
table the upload's MB/s and each server's peak RSS (`--servers
asyncweb,uvicorn` runs a subset). Needs nginx, wrk and curl.

`--in-process` needs none of them: it times the Python side alone, nginx's
bytes for one route's GET (hello unless `--routes` says otherwise: a
callgrind count covers the whole run) pushed through asyncweb's asyncio
transport layer and through uvicorn's httptools protocol, with fake
transports (asyncweb as this interpreter imports it: PYTHONPATH set to a
compiled build times that one). One extra connection's reply is checked
whole before the clock starts, and every timed reply must end as it did.
Its instruction count is steadier than any timing on a shared machine:

    valgrind --tool=callgrind --callgrind-out-file=/dev/null \
        .venv/bin/python benchmarks/fastcgi.py --in-process --servers asyncweb --repeat 1 --requests N \
        [--routes cookies]

at two values of N (multiples of `--connections`, 64); the difference over
the difference in N is per request.
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
from dataclasses import dataclass
from pathlib import Path
from typing import Any

# Run as a script, the repo root instead of benchmarks/, so that `tests`
# imports and no module here can shadow the standard library; imported (the
# servers, the tests), the path is the importer's.
if not __package__:
    sys.path[0] = str(Path(__file__).resolve().parents[1])

from asyncweb.types import Receive, Scope, Send
from benchmarks.routes import REQUEST_COOKIES, ROUTES, SET_COOKIES, echo, raw_cookies, raw_set_cookie
from tests import compiled
from tests.fastcgi import servers, wire
from tests.support import free_port, wait_for

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
    cookies: list[tuple[bytes, bytes]] = []
    if scope["method"] == "POST":
        size, more = 0, True
        while more:
            message = await receive()
            size += len(message.get("body", b""))
            more = message.get("more_body", False)
        body = b"%d\n" % size
    elif scope["path"] == "/cookies":
        # The raw app's cookies work, by benchmarks/routes.py's helpers (no framework imported).
        body = echo(raw_cookies(scope["headers"]).items()).encode("utf-8")
        cookies = [(b"set-cookie", raw_set_cookie(*cookie)) for cookie in SET_COOKIES]
    headers = [(b"content-type", b"text/plain"), (b"content-length", b"%d" % len(body)), *cookies]
    await send({"type": "http.response.start", "status": 200, "headers": headers})
    await send({"type": "http.response.body", "body": body})


@dataclass(frozen=True, slots=True)
class Reply:
    """What is checked of a reply: status, Set-Cookie values in order, body."""

    status: int
    set_cookies: tuple[str, ...]
    body: bytes


@dataclass(frozen=True, slots=True)
class Get:
    """One route's GET, as wrk and curl send it, and the reply it must get."""

    path: str
    headers: tuple[tuple[str, str], ...]  # sent beside Host
    reply: Reply

    def options(self) -> list[str]:
        """The `-H` options that send `headers`, for wrk and curl alike."""
        return [option for name, value in self.headers for option in ("-H", f"{name}: {value}")]


GETS = {
    "hello": Get("/", (), Reply(200, (), HELLO)),
    "cookies": Get(
        "/cookies",
        (("Cookie", dict(ROUTES["cookies"].headers)[b"cookie"].decode("latin-1")),),
        Reply(
            200,
            tuple(raw_set_cookie(*cookie).decode("latin-1") for cookie in SET_COOKIES),
            echo(REQUEST_COOKIES).encode("utf-8"),
        ),
    ),
}


def expect(server: str, route: str, reply: Reply) -> None:
    """RuntimeError unless `reply` is the one `route` must get."""
    if reply != GETS[route].reply:
        raise RuntimeError(f"{server} answered {route} with {reply}, not {GETS[route].reply}")


def http_reply(data: bytes) -> Reply:
    """One HTTP/1.1 response, whole (uvicorn's bytes, curl -i's output)."""
    head, _, body = data.partition(b"\r\n\r\n")
    status_line, *lines = head.decode("latin-1").split("\r\n")
    fields = [line.partition(":") for line in lines]
    cookies = tuple(value.strip() for name, _, value in fields if name.lower() == "set-cookie")
    return Reply(int(status_line.split()[1]), cookies, body)


def fastcgi_reply(data: bytes) -> Reply:
    """The reply to request 1 in FastCGI records, once they hold its END_REQUEST."""
    response = wire.collect(wire.parse(data)[0], 1)
    if response is None:
        raise RuntimeError(f"no END_REQUEST in {data[:200]!r}")
    cookies = tuple(value for name, value in response.headers if name.lower() == "set-cookie")
    return Reply(response.status, cookies, response.body)


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


def fetch(port: int, get: Get) -> Reply:
    """One `get` through nginx with curl, its reply."""
    out = subprocess.run(
        ["curl", "-sS", "-i", *get.options(), f"http://127.0.0.1:{port}{get.path}"],
        capture_output=True,
        check=True,
        timeout=30,
    ).stdout
    return http_reply(out)


def wrk(port: int, get: Get, duration: int, connections: int) -> tuple[float, float]:
    """(requests per second, p99 latency in ms) of `get` with keep-alive."""
    url = f"http://127.0.0.1:{port}{get.path}"
    out = subprocess.run(
        ["wrk", "-t1", f"-c{connections}", f"-d{duration}s", "--latency", *get.options(), url],
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


def fastcgi_params(get: Get) -> list[tuple[str, str]]:
    """What nginx 1.22 sends asyncweb for wrk's `get` (captured): the
    fastcgi_param lines of nginx_config, then an HTTP_ param per request
    header, Host first."""
    return [
        ("REQUEST_METHOD", "GET"),
        ("QUERY_STRING", ""),
        ("CONTENT_TYPE", ""),
        ("CONTENT_LENGTH", ""),
        ("REQUEST_URI", get.path),
        ("SERVER_PROTOCOL", "HTTP/1.1"),
        ("REQUEST_SCHEME", "http"),
        ("REMOTE_ADDR", "127.0.0.1"),
        ("REMOTE_PORT", "54321"),
        ("SERVER_ADDR", "127.0.0.1"),
        ("SERVER_PORT", "8080"),
        ("SERVER_NAME", "127.0.0.1"),
        ("SCRIPT_NAME", ""),
        ("PATH_INFO", get.path),
        ("HTTP_HOST", "127.0.0.1:8080"),
        *((f"HTTP_{name.upper().replace('-', '_')}", value) for name, value in get.headers),
    ]


def proxied(get: Get) -> bytes:
    """What nginx's proxy_pass sends uvicorn for wrk's `get` (captured):
    the Host it sets, then the client's other headers."""
    lines = [f"GET {get.path} HTTP/1.1", "Host: 127.0.0.1:8080", *(f"{n}: {v}" for n, v in get.headers)]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")


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


class Recorder(Sink):
    """A Sink that also keeps every write, for the reply checked whole."""

    def __init__(self) -> None:
        super().__init__()
        self.written = bytearray()

    def write(self, data: bytes) -> None:
        super().write(data)
        self.written += data


async def in_process(name: str, route: str, requests: int, connections: int) -> float:
    """µs per request of one server's Python side on `route`: `connections`
    protocol objects with fake transports get a request each, the loop runs
    the apps, again and again (the shape of wrk's load, without the kernel).
    RuntimeError for a wrong reply."""
    import asyncio

    get = GETS[route]
    if name == "asyncweb":
        from asyncweb.fastcgi.connection import Connection
        from asyncweb.fastcgi.state import ServerState as FastCGIState

        data = wire.request(1, fastcgi_params(get))
        server = FastCGIState(app, connections, 1 << 20)
        parse = fastcgi_reply

        def connect() -> Any:
            return Connection(server, None)  # type: ignore[arg-type]

        def busy() -> bool:
            return server.slots.free != connections
    else:
        from uvicorn.config import Config
        from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol
        from uvicorn.server import ServerState

        data = proxied(get)
        config = Config(app, http="httptools", access_log=False, log_level="warning", lifespan="off")
        config.load()
        state = ServerState()
        parse = http_reply

        def connect() -> Any:
            return HttpToolsProtocol(config, state, {})

        def busy() -> bool:
            return bool(state.tasks)

    # One request on a connection of its own first, whole reply checked;
    # a constant cost, which callgrind's two values of N cancel.
    recorder = Recorder()
    checked = connect()
    checked.connection_made(recorder)
    checked.data_received(data)
    while busy():
        await asyncio.sleep(0)
    expect(name, route, parse(bytes(recorder.written)))

    protocols = [connect() for _ in range(connections)]
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
    # A Sink keeps the last write alone: asyncweb's whole reply, uvicorn's body.
    wrong = [sink.last for sink in sinks if sink.last != recorder.last]
    if wrong:
        raise RuntimeError(f"{name} answered {route} with {wrong[0][:200]!r}, not {recorder.last[:200]!r}")
    return elapsed / (rounds * connections) * 1e6


def micro(names: tuple[str, ...], routes: tuple[str, ...], requests: int, repeat: int, connections: int) -> int:
    """The Python side of each route's GET, in process (median of `repeat` runs)."""
    import uvloop

    print(f"in process, uvloop, {connections} connections, {requests} requests, median of {repeat} runs")
    for route in routes:
        for name in names:
            times = sorted(uvloop.run(in_process(name, route, requests, connections)) for _ in range(repeat))
            print(f"{route:7} {name:9} {statistics.median(times):6.2f} µs per request (best {times[0]:.2f})")
    return 0


LABELS = {
    "asyncweb": "nginx -> asyncweb FastCGI, mypyc build",
    "asyncweb-py": "nginx -> asyncweb FastCGI, pure Python",
    "fcgisgi": "nginx -> fcgisgi 0.2.3 FastCGI",
    "uvicorn": "nginx -> proxy_pass -> uvicorn (httptools)",
}


def over_uvicorn(rps: list[float], uvicorn: list[float] | None) -> str:
    """A server's req/s over uvicorn's, round by round: the servers of a
    round ran minutes apart at most, so a round's ratio sees less of the
    machine's drift than a ratio of medians."""
    if uvicorn is None:
        return "n/a"
    ratios = sorted(a / u for a, u in zip(rps, uvicorn, strict=True))
    return f"{statistics.median(ratios):.2f}x ({ratios[0]:.2f}-{ratios[-1]:.2f})"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument(
        "--in-process",
        action="store_true",
        help="no nginx: time the Python side of a GET through asyncweb's transport and uvicorn's protocol",
    )
    parser.add_argument(
        "--routes",
        help=f"comma-separated subset of {','.join(GETS)} (default all; with --in-process, hello)",
    )
    parser.add_argument("--requests", type=int, default=64000, help="per --in-process run")
    parser.add_argument("--repeat", type=int, default=5, help="--in-process runs")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--duration", type=int, default=10, help="seconds of wrk per server, route and round")
    parser.add_argument("--connections", type=int, default=64)
    parser.add_argument("--upload-mib", type=int, default=256)
    parser.add_argument("--servers", default=",".join(SERVERS), help="comma-separated subset to run")
    args = parser.parse_args()
    names = tuple(n for n in SERVERS if n in args.servers.split(","))
    chosen = args.routes.split(",") if args.routes else ["hello"] if args.in_process else list(GETS)
    if unknown := set(chosen) - set(GETS):
        parser.error(f"no route {', '.join(sorted(unknown))}: the routes are {', '.join(GETS)}")
    routes = tuple(r for r in GETS if r in chosen)
    if args.in_process:
        return micro(
            tuple(n for n in names if n in ("asyncweb", "uvicorn")),
            routes,
            args.requests,
            args.repeat,
            args.connections,
        )
    for tool in ("nginx", "wrk", "curl"):
        if servers.find(tool) is None:
            print(f"{tool} is not installed", file=sys.stderr)
            return 2
    results: dict[tuple[str, str], dict[str, list[float]]] = {
        (route, n): {"rps": [], "p99": [], "cpu": [], "nginx": []} for route in routes for n in names
    }
    uploads: dict[str, list[float]] = {n: [] for n in names}
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
        for name in names:
            for route in routes:
                expect(name, route, fetch(ports[name], GETS[route]))
        print(f"replies checked through nginx: {', '.join(routes)} from {', '.join(names)}")
        for name in names:  # warm up: connections, caches, lazy imports
            for route in routes:
                wrk(ports[name], GETS[route], min(2, args.duration), args.connections)
            upload(ports[name], data, size)
        for round_ in range(args.rounds):
            shift = round_ % len(names)
            order = names[shift:] + names[:shift]
            for name in order:
                pid = procs[name].popen.pid
                for route in routes:
                    cpu, nginx_cpu = cpu_seconds(pid), cpu_seconds(worker)
                    rps, p99 = wrk(ports[name], GETS[route], args.duration, args.connections)
                    # CPU time per request: steadier than req/s when other work
                    # shares the machine. nginx's own differs by upstream
                    # protocol, and it shares the two cores with the server.
                    us = (cpu_seconds(pid) - cpu) / (rps * args.duration) * 1e6
                    nginx_us = (cpu_seconds(worker) - nginx_cpu) / (rps * args.duration) * 1e6
                    for key, value in (("rps", rps), ("p99", p99), ("cpu", us), ("nginx", nginx_us)):
                        results[route, name][key].append(value)
                    print(
                        f"round {round_ + 1} {name:11} {route:7} {rps:9.0f} req/s  p99 {p99:6.2f} ms  "
                        f"{us:5.0f} us CPU/req (nginx {nginx_us:3.0f})"
                    )
                uploads[name].append(upload(ports[name], data, size))
                print(f"round {round_ + 1} {name:11} upload  {uploads[name][-1]:9.0f} MB/s")
        rss = {name: peak_rss_mib(procs[name].popen.pid) for name in names}
        for name in names:
            procs[name].popen.send_signal(signal.SIGTERM)
    print()
    print(f"Machine: {machine()}")
    gets = ", ".join(f"{route} (GET {GETS[route].path})" for route in routes)
    print(
        f"wrk -t1 -c{args.connections} -d{args.duration}s on {gets}, {args.rounds} interleaved rounds (medians); "
        f"upload: one {args.upload_mib} MiB POST with curl -T"
    )
    print()
    print(
        "| behind nginx (1 worker) | route | req/s | req/s over uvicorn's, round by round | p99 latency "
        "| server CPU per request | nginx CPU per request |"
    )
    print("| --- | --- | ---: | ---: | ---: | ---: | ---: |")
    for route in routes:
        uvicorn = results[route, "uvicorn"]["rps"] if "uvicorn" in names else None
        for name in names:
            r = results[route, name]
            print(
                f"| {LABELS[name]} | {route} | {statistics.median(r['rps']):.0f} | {over_uvicorn(r['rps'], uvicorn)} "
                f"| {statistics.median(r['p99']):.1f} ms | {statistics.median(r['cpu']):.0f} µs "
                f"| {statistics.median(r['nginx']):.0f} µs |"
            )
    print()
    print("| behind nginx (1 worker) | upload MB/s | peak RSS |")
    print("| --- | ---: | ---: |")
    for name in names:
        print(f"| {LABELS[name]} | {statistics.median(uploads[name]):.0f} | {rss[name]:.0f} MiB |")
    return 0


if __name__ == "__main__":
    if sys.argv[1:2] == ["serve-fcgisgi"]:
        serve_fcgisgi(sys.argv[2])
    else:
        sys.exit(main())
