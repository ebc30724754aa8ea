"""Scale-out, proven: three `asyncweb fastcgi` backends, each in a network
namespace of its own (its own address, as separate hosts would be), behind
one nginx upstream in the root namespace. Under a bounded load of GETs and
1 MiB uploads, one backend is stopped (SIGTERM: it drains) and another is
killed (SIGKILL). nginx retries what it may on the next backend, so the
only failures allowed are uploads in flight on the killed backend (nginx
does not resend a POST it has sent), and every upload answered 200 is
intact.

The namespaces, veth pairs and addresses (10.200.X.0/30, inside the pairs
this test makes) are made and removed by the test, by name; no traffic
leaves them and the loopback."""

from __future__ import annotations

import hashlib
import json
import os
import re
import signal
import socket
import subprocess
import threading
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path

import httpx
import pytest

from tests.fastcgi import servers, wire
from tests.support import ROOT, free_port, wait_for

pytestmark = pytest.mark.slow

BACKENDS = 3
PORT = 9000
CLIENTS = 4
LOAD_SECONDS = 10.0
TERM_AT, KILL_AT = 3.0, 5.0  # seconds into the load: backend 1 drains, backend 2 dies
# nginx learns within milliseconds that a killed backend's connections
# closed; a POST it sent on one of them before that is not resent either.
NOTICE = 0.25
UPLOAD_SIZE = 1 << 20
_PREFIX = "asyncweb-scale"


def ip_binary() -> str:
    binary = servers.find("ip")
    if binary is None:
        pytest.skip("ip not installed (Debian package iproute2)")
    return binary


def ip(*args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    done = subprocess.run([ip_binary(), *args], capture_output=True, text=True, timeout=30)
    if check and done.returncode:
        raise RuntimeError(f"ip {' '.join(args)}: {done.stderr.strip()}")
    return done


@dataclass
class Host:
    """A backend's own network: a namespace, a veth pair into it."""

    netns: str
    veth: str  # the root namespace's end; the peer is in netns
    address: str  # the backend's, inside netns
    gateway: str  # the root namespace's end of the pair

    @property
    def upstream(self) -> str:
        return f"{self.address}:{PORT}"


def free_octets(count: int) -> list[int]:
    """Third octets X of 10.200.X.0/30 that no address of the root
    namespace uses, so that the test's routes shadow nothing."""
    used = {int(m) for m in re.findall(r"inet 10\.200\.(\d+)\.", ip("-o", "-4", "addr", "show").stdout)}
    return [x for x in range(1, 255) if x not in used][:count]


@contextmanager
def hosts(count: int) -> Iterator[list[Host]]:
    """`count` namespaces, each with a veth pair to the root namespace;
    all removed on the way out, by name, whatever happened."""
    if os.geteuid() != 0:
        pytest.skip("network namespaces need root")
    tag = str(os.getpid() % 100000)
    made: list[Host] = []
    try:
        for n, octet in enumerate(free_octets(count), 1):
            host = Host(f"{_PREFIX}-{tag}-{n}", f"awv{tag}h{n}", f"10.200.{octet}.2", f"10.200.{octet}.1")
            added = ip("netns", "add", host.netns, check=False)
            if added.returncode:
                pytest.skip(f"ip netns add failed: {added.stderr.strip()}")
            made.append(host)
            peer = f"awv{tag}n{n}"
            veth = ip("link", "add", host.veth, "type", "veth", "peer", "name", peer, "netns", host.netns, check=False)
            if veth.returncode:
                pytest.skip(f"no veth pair: {veth.stderr.strip()}")
            ip("addr", "add", f"{host.gateway}/30", "dev", host.veth)
            ip("link", "set", host.veth, "up")
            ip("-n", host.netns, "addr", "add", f"{host.address}/30", "dev", peer)
            ip("-n", host.netns, "link", "set", peer, "up")
            ip("-n", host.netns, "link", "set", "lo", "up")
        yield made
    finally:
        for host in made:
            # Deleting the namespace deletes the peer, and with it the pair.
            ip("netns", "del", host.netns, check=False)
            if ip("link", "show", host.veth, check=False).returncode == 0:
                ip("link", "del", host.veth, check=False)


@contextmanager
def backend(host: Host, run_dir: Path, name: str) -> Iterator[servers.Process]:
    """`asyncweb fastcgi` on the host's own address, inside its namespace
    (`ip netns exec` execs, so the pid is the server's)."""
    command = [servers.PYTHON, "-m", "asyncweb", "fastcgi", "tests.fastcgi.apps:app"]
    command += ["--bind", host.upstream, "--shutdown-timeout", "20"]
    with servers.process(
        [ip_binary(), "netns", "exec", host.netns, *command], run_dir / f"{name}.log", cwd=ROOT
    ) as proc:
        yield proc


def serving(proc: servers.Process) -> bool:
    return "serving FastCGI on" in proc.log_text()


def nginx_config(run_dir: Path, port: int, backends: list[Host]) -> str:
    upstreams = "".join(f"server {host.upstream};\n" for host in backends)
    return servers.nginx_main(
        run_dir,
        f"""
    upstream backends {{
        {upstreams}
        keepalive 16;
    }}
    server {{
        listen 127.0.0.1:{port};
        location / {{
            fastcgi_pass backends;
            fastcgi_keep_conn on;
            # nginx's defaults, written out: the next backend after a failed
            # connect or a failure before the response began, never for a
            # POST already sent.
            fastcgi_next_upstream error timeout;
            fastcgi_connect_timeout 2s;
            add_header X-Upstream $upstream_addr always;
            {servers.NGINX_PARAMS}
            fastcgi_param SCRIPT_NAME "";
            fastcgi_param PATH_INFO $uri;
        }}
    }}
""",
    )


@dataclass
class Result:
    kind: str  # "get", "slow" or "upload"
    started: float
    ended: float
    status: int = 0
    upstream: str = ""  # the last backend nginx tried
    tries: int = 0  # how many backends nginx tried
    intact: bool = True  # an upload's report matches what was sent
    error: str = ""


@dataclass
class Load:
    base: str
    bodies: list[tuple[bytes, str]]
    t0: float
    stop: threading.Event = field(default_factory=threading.Event)
    results: list[Result] = field(default_factory=list)

    def now(self) -> float:
        return time.monotonic() - self.t0

    def wait_until(self, moment: float) -> None:
        time.sleep(max(0.0, moment - self.now()))

    def run(self, client_number: int) -> None:
        kinds = ("get", "upload", "slow", "upload")
        with httpx.Client(base_url=self.base, timeout=30) as client:
            i = 0
            while not self.stop.is_set():
                kind = kinds[(i + client_number) % len(kinds)]
                self.results.append(self._one(client, kind, i))
                i += 1

    def _one(self, client: httpx.Client, kind: str, i: int) -> Result:
        result = Result(kind, self.now(), 0.0)
        try:
            if kind == "upload":
                body, sha256 = self.bodies[i % len(self.bodies)]
                # The app takes its time before reading: uploads are in
                # flight on a backend when it is stopped or killed.
                reply = client.post("/hold?seconds=0.1", content=body)
            elif kind == "slow":
                reply = client.get("/slow?seconds=0.2")
            else:
                reply = client.get(f"/echo?i={i}")
            result.status = reply.status_code
            tried = reply.headers.get("x-upstream", "").split(", ")
            result.upstream, result.tries = tried[-1], len(tried)
            if kind == "upload" and reply.status_code == 200:
                report = json.loads(reply.content)
                result.intact = (report["body_sha256"], report["body_size"]) == (sha256, len(body))
                result.intact &= report["state"] == ["started"]  # the backend's own lifespan
        except (httpx.HTTPError, ValueError) as exc:
            result.error = f"{type(exc).__name__}: {exc}"
        result.ended = self.now()
        return result


def drain_witness(host: Host) -> socket.socket:
    """A request sent to the backend itself, which will still be running
    (for 2 s) when the backend gets SIGTERM."""
    sock = socket.create_connection((host.address, PORT), timeout=30)
    params = [("REQUEST_METHOD", "GET"), ("SCRIPT_NAME", ""), ("PATH_INFO", "/slow")]
    sock.sendall(wire.request(1, [*params, ("QUERY_STRING", "seconds=2")], keep_conn=False))
    return sock


def read_response(sock: socket.socket) -> wire.Response | None:
    data = b""
    while chunk := sock.recv(65536):
        data += chunk
    return wire.collect(wire.parse(data)[0], 1)


def test_backends_in_their_own_namespaces_survive_a_drain_and_a_kill(tmp_path: Path) -> None:
    if servers.find("nginx") is None:
        pytest.skip("nginx not installed")
    ip_binary()
    bodies = [(data, hashlib.sha256(data).hexdigest()) for data in (os.urandom(UPLOAD_SIZE) for _ in range(4))]
    port = free_port()
    names: list[str] = []
    with ExitStack() as stack:
        made = stack.enter_context(hosts(BACKENDS))
        names = [host.netns for host in made]
        procs = [stack.enter_context(backend(host, tmp_path, f"backend{n}")) for n, host in enumerate(made, 1)]
        for proc in procs:
            wait_for(partial(serving, proc), 30, "a backend", proc.log)
        stack.enter_context(servers.nginx(tmp_path, nginx_config(tmp_path, port, made), [port]))
        drained, killed, survivor = made

        load = Load(f"http://127.0.0.1:{port}", bodies, time.monotonic())
        threads = [threading.Thread(target=load.run, args=(n,)) for n in range(CLIENTS)]
        for thread in threads:
            thread.start()
        try:
            load.wait_until(TERM_AT - 0.5)
            witness = drain_witness(drained)
            load.wait_until(TERM_AT)
            procs[0].popen.send_signal(signal.SIGTERM)
            term_at = load.now()
            load.wait_until(KILL_AT)
            procs[1].popen.send_signal(signal.SIGKILL)
            kill_at = load.now()
            load.wait_until(LOAD_SECONDS)
        finally:
            load.stop.set()
            for thread in threads:
                thread.join(60)
        with witness:
            witnessed = read_response(witness)
        drained_code = procs[0].popen.wait(30)
        drained_log = procs[0].log_text()
        error_log = (tmp_path / "nginx-error.log").read_text(errors="replace")
    leftovers = [name for name in names if name in ip("netns", "list").stdout]
    assert not leftovers, leftovers

    results = load.results
    by_kind = Counter(r.kind for r in results)
    failed = [r for r in results if r.error or r.status != 200]
    # An upload nginx had sent to the killed backend, in flight at the kill.
    lost = [
        r
        for r in failed
        if (r.kind, r.status, r.upstream) == ("upload", 502, killed.upstream)
        and r.started < kill_at + NOTICE
        and r.ended > kill_at
    ]
    figures = {
        "requests": len(results),
        **by_kind,
        "per second": round(len(results) / LOAD_SECONDS),
        "answered by": dict(Counter(r.upstream for r in results if r.status == 200)),
        "retried by nginx": dict(Counter(r.kind for r in results if r.tries > 1 and r.status == 200)),
        "failed": len(failed),
        "lost uploads (502, in flight on the killed backend)": len(lost),
        "nginx connect() refused": error_log.count("(111: Connection refused)"),
        "nginx upstream reset/closed": error_log.count("(104: Connection reset by peer)")
        + error_log.count("prematurely closed"),
    }
    print(f"\nscale-out: {figures}")

    assert not [r for r in failed if r not in lost], [r for r in failed if r not in lost]
    assert len(lost) <= CLIENTS  # one request in flight per client at most
    assert all(r.intact for r in results if r.kind == "upload" and r.status == 200)
    assert by_kind["upload"] >= 20 and by_kind["get"] >= 20, by_kind
    # Spread over all three while all three were up; the drained backend
    # took nothing new once stopped, the dead one nothing after its death.
    early = {r.upstream for r in results if r.status == 200 and r.ended < term_at}
    assert early == {host.upstream for host in made}, early
    assert not [r for r in results if r.upstream == drained.upstream and r.started > term_at + 0.5]
    assert not [r for r in results if r.upstream == killed.upstream and r.status == 200 and r.started > kill_at]
    assert {r.upstream for r in results if r.started > kill_at + 0.5} == {survivor.upstream}
    # SIGTERM drained: the request in flight on the stopped backend finished.
    assert witnessed is not None and witnessed.status == 200
    assert json.loads(witnessed.body)["path"] == "/slow"
    assert drained_code == 0, drained_log
    assert "shutting down" in drained_log and "cancelling" not in drained_log
