"""HTTP mode: each target behind a real server on 127.0.0.1, loaded by wrk.

One server per target (one worker, no access log, no lifespan), for each
stack: uvicorn with `h11` (h11 on asyncio) or `httptools` (httptools on
uvloop), where the server's own cost is small enough for the framework's
to show, and `granian` (granian's Rust HTTP/1 on uvloop, ASGI). Before
timing, every server's reply to every route is checked against raw's.
Then each round runs wrk for a fixed duration on every (target, route) cell in
a shuffled order; a cell's figures are the medians over rounds of wrk's
requests per second and 99th-percentile latency. Nothing here may time a
cell whose reply is not raw's (`apps.UNLIKE`).
"""

from __future__ import annotations

import contextlib
import http.client
import importlib.util
import random
import re
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

from tests.support import ROOT, free_port, stop_processes, wait_for_port

from .apps import UNLIKE, Reply, compared, expected_of, normalized, untimed
from .report import TARGET_NAMES, Sample, markdown, notes, verdict
from .routes import ROUTES, Route


@dataclass(frozen=True, slots=True)
class Stack:
    """A server and what it runs on, as its command line says it."""

    server: str  # the module run with `python -m`
    loop: str
    protocol: str  # the HTTP implementation
    title: str

    def command(self, app: str, port: int) -> list[str]:
        """The server's command line serving `app` (`module:attribute`) on `port`."""
        if self.server == "granian":
            command = [sys.executable, "-m", "granian", "--interface", "asginl", "--http", "1", "--no-ws"]
            command += ["--workers", "1", "--loop", self.loop, "--host", "127.0.0.1", "--port", str(port)]
            return [*command, "--no-access-log", "--log-level", "warning", app]
        command = [sys.executable, "-m", "uvicorn", app, "--host", "127.0.0.1", "--port", str(port)]
        command += ["--loop", self.loop, "--http", self.protocol, "--lifespan", "off"]
        return [*command, "--no-access-log", "--log-level", "warning"]

    def modules(self) -> list[str]:
        """What it needs installed besides uvicorn."""
        needed = dict.fromkeys((self.server, self.loop, self.protocol))
        return [name for name in needed if name not in ("uvicorn", "asyncio", "h11")]


STACKS = {
    "h11": Stack("uvicorn", "asyncio", "h11", "uvicorn (h11 on asyncio, 1 worker)"),
    "httptools": Stack("uvicorn", "uvloop", "httptools", "uvicorn (httptools on uvloop, 1 worker)"),
    # The ASGI interface without lifespan (asginl), as uvicorn's --lifespan off.
    "granian": Stack("granian", "uvloop", "granian", "granian (its Rust HTTP/1 on uvloop, ASGI, 1 worker)"),
}
# The goals for asyncweb over httptools/uvloop, as the least of raw's req/s.
GOALS = {"hello": 0.9, "query": 0.85, "form": 0.85, "cookies": 0.85}
WARM_UP_SECONDS = 1
_UNITS = {"us": 1e-3, "ms": 1.0, "s": 1e3}


class WrkError(RuntimeError):
    """wrk failed, or saw errors or non-2xx answers."""


@contextlib.contextmanager
def servers(targets: Sequence[str], stack: str) -> Iterator[dict[str, int]]:
    """One server per target; yields each target's port and stops them all.
    Each serves `benchmarks.apps:TARGET`, the app itself (Django's handler
    bare, as the module says)."""
    processes: list[subprocess.Popen[bytes]] = []
    ports: dict[str, int] = {}
    try:
        for target in targets:
            ports[target] = port = free_port()
            processes.append(subprocess.Popen(STACKS[stack].command(f"benchmarks.apps:{target}", port), cwd=ROOT))
            wait_for_port(port, processes[-1], timeout=20)
        yield ports
    finally:
        stop_processes(*processes)


def fetch(port: int, route: Route) -> Reply:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        headers = {name.decode(): value.decode() for name, value in route.headers}
        connection.request(route.method, route.target, route.body or None, headers)
        answer = connection.getresponse()
        return normalized(answer.status, answer.getheaders(), answer.read())
    finally:
        connection.close()


def check(ports: dict[str, int], routes: Sequence[str], stack: str) -> None:
    """Raise AssertionError unless every server answers every route like raw's
    (or, for a cell of `UNLIKE`, differs just as it says)."""
    for name in routes:
        replies = {target: fetch(port, ROUTES[name]) for target, port in ports.items()}
        for target, reply in replies.items():
            if reply != expected_of(target, name, replies["raw"]):
                raise AssertionError(f"{target} over {stack} answers {name} differently from raw:\n{reply}")


def lua_script(route: Route, directory: Path) -> Path:
    """A wrk script sending the route's method, headers and body (wrk
    writes Content-Length itself and refuses one set here)."""
    lines = [f'wrk.method = "{route.method}"']
    lines += [
        f'wrk.headers["{name.decode()}"] = [==[{value.decode()}]==]'
        for name, value in route.headers
        if name != b"content-length"
    ]
    if route.body:
        lines.append(f"wrk.body = [==[{route.body.decode()}]==]")
    path = directory / f"{route.name}.lua"
    path.write_text("\n".join(lines) + "\n")
    return path


def wrk(port: int, route: Route, script: Path, seconds: int, connections: int) -> tuple[float, float]:
    """(requests per second, p99 latency in ms) of one wrk run."""
    command = ["wrk", "-t1", f"-c{connections}", f"-d{seconds}s", "--latency", "-s", str(script)]
    command.append(f"http://127.0.0.1:{port}{route.target}")
    result = subprocess.run(command, capture_output=True, text=True, timeout=seconds + 30)
    out = result.stdout
    if result.returncode != 0 or "Non-2xx" in out or "Socket errors" in out:
        raise WrkError(f"wrk on {route.name}: {out}{result.stderr}")
    rate = re.search(r"Requests/sec:\s+([\d.]+)", out)
    p99 = re.search(r"^\s+99%\s+([\d.]+)(us|ms|s)\s*$", out, re.MULTILINE)
    if rate is None or p99 is None:
        raise WrkError(f"cannot read wrk's output: {out}")
    return float(rate[1]), float(p99[1]) * _UNITS[p99[2]]


def measure(
    targets: Sequence[str], routes: Sequence[str], stack: str, rounds: int, seconds: int, connections: int
) -> dict[tuple[str, str], tuple[Sample, Sample]]:
    """(req/s, p99 ms) samples of every cell on one server stack."""
    with servers(targets, stack) as ports, tempfile.TemporaryDirectory() as directory:
        check(ports, routes, stack)
        scripts = {name: lua_script(ROUTES[name], Path(directory)) for name in routes}
        cells = [(target, route) for route in routes for target in compared(targets, route)]
        for target, route in cells:
            wrk(ports[target], ROUTES[route], scripts[route], WARM_UP_SECONDS, connections)
        figures: dict[tuple[str, str], list[tuple[float, float]]] = {cell: [] for cell in cells}
        shuffler = random.Random(222)
        for _ in range(rounds):
            shuffler.shuffle(cells)
            for target, route in cells:
                figures[target, route].append(wrk(ports[target], ROUTES[route], scripts[route], seconds, connections))
    return {
        cell: (Sample([rate for rate, _ in runs]), Sample([p99 for _, p99 in runs])) for cell, runs in figures.items()
    }


def table(
    results: dict[tuple[str, str], tuple[Sample, Sample]], targets: Sequence[str], routes: Sequence[str], stack: str
) -> str:
    """A row per target: per route, req/s (median, min-max), the ratio to
    raw's req/s and the median p99; then asyncweb's goals (httptools only)
    and the cells not timed."""
    header = ["target"]
    for route in routes:
        header += [f"{route} req/s (min-max)", f"{route} ratio", f"{route} p99 ms"]
    rows = []
    for target in targets:
        row = [TARGET_NAMES[target]]
        for route in routes:
            row += _cells(results, target, route)
        rows.append(row)
    lines = []
    if stack == "httptools" and "asyncweb" in targets:
        ratios = {route: results["asyncweb", route][0].median / results["raw", route][0].median for route in routes}
        met = [f"{route} {verdict(ratio, GOALS.get(route), at_most=False)}" for route, ratio in ratios.items()]
        lines.append("asyncweb's goals (its req/s over raw's): " + "; ".join(met))
    lines += [
        f"{TARGET_NAMES[target]} on {route}: n/a, {UNLIKE[target, route]}" for target, route in untimed(targets, routes)
    ]
    return markdown(header, rows) + notes(lines)


def _cells(results: dict[tuple[str, str], tuple[Sample, Sample]], target: str, route: str) -> list[str]:
    if (target, route) not in results:  # a reply unlike raw's: not timed
        return ["n/a", "n/a", "n/a"]
    rate, p99 = results[target, route]
    ratio = "-" if target == "raw" else f"{rate.median / results['raw', route][0].median:.2f}x"
    return [f"{rate.median:,.0f} ({rate.spread(0)})", ratio, f"{p99.median:.2f}"]


def run(
    targets: Sequence[str], routes: Sequence[str], stacks: Sequence[str], rounds: int, seconds: int, connections: int
) -> int:
    if shutil.which("wrk") is None:
        print("HTTP mode skipped: wrk is not installed (apt-get install wrk).")
        return 0
    for stack in stacks:
        missing = [name for name in STACKS[stack].modules() if importlib.util.find_spec(name) is None]
        if missing:
            print(f"{stack} stack skipped: {' and '.join(missing)} not installed (pip install -e '.[bench]').\n")
            continue
        print(
            f"Over {STACKS[stack].title}, wrk -t1 -c{connections} for {seconds}s per cell, "
            f"{rounds} rounds (req/s and p99, medians of rounds):\n"
        )
        print(table(measure(targets, routes, stack, rounds, seconds, connections), targets, routes, stack))
        print()
    return 0
