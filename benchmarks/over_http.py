"""HTTP mode: each target behind a real uvicorn on 127.0.0.1, loaded by wrk.

One uvicorn per target (one worker, no access log, no lifespan), for each
server stack: `h11` (h11 on asyncio) and `httptools` (httptools on uvloop),
where the server's own cost is small enough for the framework's to show.
Before timing, every server's reply to every route is checked against raw's.
Then each round runs wrk for a fixed duration on every (target, route) cell in
a shuffled order; a cell's figures are the medians over rounds of wrk's
requests per second and 99th-percentile latency.
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
from pathlib import Path

from tests.support import ROOT, free_port, stop_processes, wait_for_port

from .apps import ROUTES, Reply, Route, normalized
from .report import TARGET_NAMES, Sample, markdown, verdict

STACKS = {"h11": ("asyncio", "h11"), "httptools": ("uvloop", "httptools")}
# The goals for asyncweb over httptools/uvloop, as the least of raw's req/s.
GOALS = {"hello": 0.9, "query": 0.85, "form": 0.85, "cookies": 0.85}
WARM_UP_SECONDS = 1
_UNITS = {"us": 1e-3, "ms": 1.0, "s": 1e3}


class WrkError(RuntimeError):
    """wrk failed, or saw errors or non-2xx answers."""


@contextlib.contextmanager
def servers(targets: Sequence[str], stack: str) -> Iterator[dict[str, int]]:
    """One uvicorn per target; yields each target's port and stops them all."""
    loop, protocol = STACKS[stack]
    processes: list[subprocess.Popen[bytes]] = []
    ports: dict[str, int] = {}
    try:
        for target in targets:
            ports[target] = port = free_port()
            command = [sys.executable, "-m", "uvicorn", f"benchmarks.apps:{target}", "--host", "127.0.0.1"]
            command += ["--port", str(port), "--loop", loop, "--http", protocol, "--lifespan", "off"]
            command += ["--no-access-log", "--log-level", "warning"]
            processes.append(subprocess.Popen(command, cwd=ROOT))
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


def check(ports: dict[str, int], routes: Sequence[str]) -> None:
    """Raise AssertionError unless every server answers every route like raw's."""
    for name in routes:
        replies = {target: fetch(port, ROUTES[name]) for target, port in ports.items()}
        for target, reply in replies.items():
            if reply != replies["raw"]:
                raise AssertionError(f"{target} over uvicorn answers {name} differently from raw:\n{reply}")


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
        check(ports, routes)
        scripts = {name: lua_script(ROUTES[name], Path(directory)) for name in routes}
        cells = [(target, route) for route in routes for target in targets]
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
    """req/s (median, min-max), ratio to raw's req/s, and median p99."""
    header = ["route"]
    for target in targets:
        header.append(f"{TARGET_NAMES[target]} req/s (min-max)")
        if target != "raw":
            header.append(f"{TARGET_NAMES[target]} ratio")
        header.append(f"{TARGET_NAMES[target]} p99 ms")
    goals = GOALS if stack == "httptools" and "asyncweb" in targets else {}
    if goals:
        header.append("asyncweb goal")
    rows = []
    for route in routes:
        floor = results["raw", route][0].median
        row = [route]
        for target in targets:
            rate, p99 = results[target, route]
            row.append(f"{rate.median:,.0f} ({rate.spread(0)})")
            if target != "raw":
                row.append(f"{rate.median / floor:.2f}x")
            row.append(f"{p99.median:.2f}")
        if goals:
            row.append(verdict(results["asyncweb", route][0].median / floor, goals.get(route), at_most=False))
        rows.append(row)
    return markdown(header, rows)


def run(
    targets: Sequence[str], routes: Sequence[str], stacks: Sequence[str], rounds: int, seconds: int, connections: int
) -> int:
    if shutil.which("wrk") is None:
        print("HTTP mode skipped: wrk is not installed (apt-get install wrk).")
        return 0
    for stack in stacks:
        loop, protocol = STACKS[stack]
        missing = [name for name in (loop, protocol) if importlib.util.find_spec(name) is None]
        if missing:
            print(f"{stack} stack skipped: {' and '.join(missing)} not installed (pip install -e '.[bench]').\n")
            continue
        print(
            f"Over uvicorn ({protocol} on {loop}, 1 worker), wrk -t1 -c{connections} for {seconds}s per cell, "
            f"{rounds} rounds (req/s and p99, medians of rounds):\n"
        )
        print(table(measure(targets, routes, stack, rounds, seconds, connections), targets, routes, stack))
        print()
    return 0
