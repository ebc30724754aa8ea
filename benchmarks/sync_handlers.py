"""Plain-function handlers against async ones: the same work as `def` and as
`async def`, side by side in one run, with the ratio sync/async per route.

    .venv/bin/pip install -e '.[bench]'    # uvloop, httptools (wrk from Debian: apt-get install wrk)
    .venv/bin/python -m benchmarks.sync_handlers                       # in process, then over uvicorn + wrk
    .venv/bin/python -m benchmarks.sync_handlers --rounds 4 --duration 3 --sweep
    .venv/bin/python -m benchmarks.sync_handlers inprocess --variants async sync sync:1

Every variant is an `App` around one handler doing what benchmarks/apps.py's
asyncweb handler does on its routes (hello, query, form, cookies). `async`
is that handler as `async def`; `sync` is it as a plain `def`, which the App
runs in a worker thread (anyio's, at most `threads` at once: anyio's default
of 40 when not given) after it has read and parsed the form; `sync:N` is the
same with `App(threads=N)`. Both forms call one function for the work, so
the only difference is how the App calls it.

- In process (`inprocess`): each App awaited directly by
  benchmarks/inprocess.py's driver (which builds the scope and keeps what
  the app sends), one request at a time, timed with the process's CPU
  time beside the wall time (every thread's: the loop's and the worker's).
  A sync cell minus its async cell is what the hop to a worker thread and
  back costs a request with no server around it, and the CPU part of that
  what it costs apart from waiting for a thread to be woken. On asyncio
  by default, or on uvloop (`--loop uvloop`), the loop uvicorn runs below.
- Over HTTP (`http`): one uvicorn per variant on 127.0.0.1 (httptools on
  uvloop, one worker, no access log, no lifespan), loaded by wrk
  (`-t1 -c32` unless told; `--sweep` runs c=1, 32 and 128, as a thread
  pool behaves differently under load). Cells (variant, route, wrk's -c)
  run in a shuffled order round by round; a cell's figures are the medians
  of its rounds' req/s, 99th-percentile latency and the server process's
  CPU time per request (/proc/PID/stat, all its threads; `-` without
  /proc), the figure least moved by whatever else the machine runs.

Before anything is timed, every variant's reply to every route is checked
against benchmarks/apps.py's raw ASGI app's, in process and over HTTP.

What it does not do: no handler here blocks or waits, so the pool's point
(a slow plain function holds up no other request) is not what it shows,
only what the hop costs when there is nothing to wait for. It touches no
network beyond 127.0.0.1, stops every uvicorn it starts, and its figures,
taken on whatever else the machine runs, are for ratios within one run,
never for comparing across runs.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import functools
import importlib.util
import os
import random
import shlex
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Callable, Coroutine, Iterator, Sequence
from dataclasses import dataclass
from logging import Logger
from pathlib import Path
from typing import Any

from asyncweb import App, Request, Response
from asyncweb.types import ASGIApp
from tests.support import ROOT, free_port, stop_processes, wait_for_port

from .apps import TARGETS, Reply, exchange
from .inprocess import no_app, time_cpu_batch
from .over_http import WARM_UP_SECONDS, fetch, lua_script, wrk
from .report import Sample, markdown
from .routes import HELLO, ROUTES, SET_COOKIES, Route, echo

VARIANT_ENV = "ASYNCWEB_BENCH_VARIANT"  # which variant a uvicorn child serves
SERVED = "benchmarks.sync_handlers:served"  # its app factory (not __name__, which is __main__ under -m)
ALL_ROUTES = ("hello", "query", "form", "cookies")
SWEEP = (1, 32, 128)
LOOPS = ("asyncio", "uvloop")


# -- the handlers ---------------------------------------------------------------


def work(request: Request, response: Response) -> None:
    """benchmarks/apps.py's asyncweb handler, as one function both forms call.
    A copy, not a call from apps.py: the asyncweb target there would pay
    the extra call that raw and the peers do not."""
    path = request.path
    if path == "/hello":
        response.set_body(HELLO)
    elif path == "/query":
        response.set_body(echo(request.query.multi_items()))
    elif path == "/form":
        response.set_body(echo(request.fields.multi_items()))
    elif path == "/cookies":
        response.set_body(echo(request.cookies.items()))
        for name, value, max_age, httponly, samesite in SET_COOKIES:
            response.set_cookie(name, value, max_age=max_age, httponly=httponly, samesite=samesite)
    else:
        response.error(404)


def sync_handler(request: Request, response: Response, log: Logger) -> None:
    work(request, response)


async def async_handler(request: Request, response: Response, log: Logger) -> None:
    work(request, response)


@dataclass(frozen=True, slots=True)
class Variant:
    """`async`, `sync` (anyio's worker threads, its default limiter) or `sync:N` (`App(threads=N)`)."""

    name: str
    is_sync: bool
    threads: int | None

    @classmethod
    def parse(cls, name: str) -> Variant:
        kind, _, threads = name.partition(":")
        if kind == "async" and not threads:
            return cls(name, False, None)
        if kind == "sync" and (not threads or (threads.isdigit() and int(threads) >= 1)):
            return cls(name, True, int(threads) if threads else None)
        raise ValueError(f"a variant is async, sync or sync:N (N threads, at least 1), not {name!r}")

    def app(self) -> App:
        if self.is_sync:
            return App(sync_handler, threads=self.threads)
        return App(async_handler)


def variant(name: str) -> str:
    """argparse's check of a variant's name."""
    try:
        return Variant.parse(name).name
    except ValueError as error:
        raise argparse.ArgumentTypeError(str(error)) from None


def served() -> App:
    """The App a uvicorn child serves (`--factory`): the variant named in its environment."""
    return Variant.parse(os.environ[VARIANT_ENV]).app()


# -- checking that the variants answer alike ---------------------------------------


async def expected_replies(routes: Sequence[str]) -> dict[str, Reply]:
    """raw ASGI's reply to every route (in process): what every variant must answer."""
    replies = {name: await exchange(TARGETS["raw"], ROUTES[name]) for name in routes}
    for name, reply in replies.items():
        if reply.status != 200:
            raise AssertionError(f"raw answers {name} with {reply.status}")
    return replies


async def check_in_process(apps: dict[str, App], expected: dict[str, Reply]) -> None:
    for name, reply in expected.items():
        for label, app in apps.items():
            got = await exchange(app, ROUTES[name])
            if got != reply:
                raise AssertionError(f"{label} answers {name} differently from raw:\n{got}\n{reply}")


def check_over_http(ports: dict[str, int], expected: dict[str, Reply]) -> None:
    for name, reply in expected.items():
        for label, port in ports.items():
            got = fetch(port, ROUTES[name])
            if got != reply:
                raise AssertionError(f"{label} over uvicorn answers {name} differently from raw:\n{got}\n{reply}")


# -- in process --------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Figures:
    """One cell's samples over rounds: wall time per request, and the
    process's CPU time per request, every thread's (the loop's and the
    workers'): what a request costs apart from waiting for a core."""

    time: Sample
    cpu: Sample


Results = dict[tuple[str, str], Figures]


async def measure_in_process(
    variants: Sequence[str], routes: Sequence[str], rounds: int, batch_ms: float, iterations: int | None
) -> Results:
    """Figures per (variant, route) cell, and ("driver", "hello") for the driver alone."""
    apps = {name: Variant.parse(name).app() for name in variants}
    await check_in_process(apps, await expected_replies(routes))
    callables: dict[str, ASGIApp] = {**apps, "driver": no_app}
    cells = [(name, route) for route in routes for name in variants] + [("driver", "hello")]
    sizes: dict[tuple[str, str], int] = {}
    for name, route in cells:  # calibration, doubling as warm-up (the worker threads start here)
        per_request, _ = await time_cpu_batch(callables[name], ROUTES[route], 200)
        sizes[name, route] = iterations or max(10, int(batch_ms * 1e6 / per_request))
    runs: dict[tuple[str, str], list[tuple[float, float]]] = {cell: [] for cell in cells}
    shuffler = random.Random(222)  # the order the other benchmarks shuffle in
    for _ in range(rounds):
        shuffler.shuffle(cells)
        for cell in cells:
            runs[cell].append(await time_cpu_batch(callables[cell[0]], ROUTES[cell[1]], sizes[cell]))
    return {cell: Figures(Sample([t for t, _ in got]), Sample([c for _, c in got])) for cell, got in runs.items()}


def run_on(loop: str, measure: Callable[[], Coroutine[Any, Any, Results]]) -> Results:
    """asyncio.run, on uvloop when asked (the loop uvicorn serves on here)."""
    factory: Callable[[], asyncio.AbstractEventLoop] | None = None
    if loop == "uvloop":
        import uvloop

        factory = uvloop.new_event_loop
    with asyncio.Runner(loop_factory=factory) as runner:
        return runner.run(measure())


def in_process_table(results: Results, variants: Sequence[str], routes: Sequence[str]) -> str:
    """µs per request (median, min-max) and CPU µs per request per variant;
    each sync one's ratio to async and its differences: what the thread hop
    costs a request, and how much of it is CPU rather than waiting."""
    base = variants[0]
    header = ["route"]
    for name in variants:
        header += [f"{name} µs (min-max)", f"{name} CPU µs"]
        if name != base:
            header += [f"{name}/{base}", f"{name} - {base} µs", f"{name} - {base} CPU µs"]
    rows = []
    for route in routes:
        floor, floor_cpu = results[base, route].time.median, results[base, route].cpu.median
        row = [route]
        for name in variants:
            figures = results[name, route]
            median, cpu = figures.time.median, figures.cpu.median
            row += [f"{median / 1000:.2f} ({figures.time.spread(2, 1000)})", f"{cpu / 1000:.2f}"]
            if name != base:
                row += [f"{median / floor:.2f}x", f"{(median - floor) / 1000:+.2f}", f"{(cpu - floor_cpu) / 1000:+.2f}"]
        rows.append(row)
    driver = results["driver", "hello"].time
    note = f"Driver alone (scope built, messages kept, no app): {driver.median / 1000:.2f} µs a request, in all figures"
    return markdown(header, rows) + "\n\n" + note


# -- over HTTP ---------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Server:
    port: int
    pid: int


@contextlib.contextmanager
def servers(variants: Sequence[str]) -> Iterator[dict[str, Server]]:
    """One uvicorn (httptools on uvloop) per variant; yields each one's port
    and pid (one worker: uvicorn serves in the process it starts in), and
    stops them all."""
    processes: list[subprocess.Popen[bytes]] = []
    running: dict[str, Server] = {}
    try:
        for name in variants:
            port = free_port()
            command = [sys.executable, "-m", "uvicorn", "--factory", SERVED, "--host", "127.0.0.1"]
            command += ["--port", str(port), "--loop", "uvloop", "--http", "httptools", "--lifespan", "off"]
            command += ["--workers", "1", "--no-access-log", "--log-level", "warning"]
            environment = {**os.environ, VARIANT_ENV: name}
            processes.append(subprocess.Popen(command, cwd=ROOT, env=environment))
            wait_for_port(port, processes[-1], timeout=20)
            running[name] = Server(port, processes[-1].pid)
        yield running
    finally:
        stop_processes(*processes)


def cpu_seconds(pid: int) -> float | None:
    """User and system CPU seconds of a process, all its threads', from
    /proc/PID/stat (counted in clock ticks, fine enough over a wrk run of
    seconds); None without /proc."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def load(
    server: Server, route: Route, script: Path, seconds: int, connections: int
) -> tuple[float, float, float | None]:
    """One wrk run: (req/s, p99 ms, the server's CPU µs per request)."""
    before = cpu_seconds(server.pid)
    rate, p99 = wrk(server.port, route, script, seconds, connections)
    after = cpu_seconds(server.pid)
    # wrk's rate is its requests over its run, which lasts `seconds`.
    cpu = None if before is None or after is None or not rate else (after - before) * 1e6 / (rate * seconds)
    return rate, p99, cpu


Cell = tuple[str, str, int]  # (variant, route, wrk connections)


@dataclass(frozen=True, slots=True)
class Load:
    """One cell's samples over rounds: req/s, p99 ms, server CPU µs per request (empty without /proc)."""

    rate: Sample
    p99: Sample
    cpu: Sample

    @classmethod
    def of(cls, runs: Sequence[tuple[float, float, float | None]]) -> Load:
        cpu = [cpu for _, _, cpu in runs if cpu is not None]
        return cls(Sample([rate for rate, _, _ in runs]), Sample([p99 for _, p99, _ in runs]), Sample(cpu))


def _median(sample: Sample) -> float | None:
    return sample.median if sample.values else None


def measure_over_http(
    variants: Sequence[str], routes: Sequence[str], connections: Sequence[int], rounds: int, seconds: int
) -> dict[Cell, Load]:
    """Every (variant, route, connections) cell's samples."""
    expected = asyncio.run(expected_replies(routes))
    with servers(variants) as running, tempfile.TemporaryDirectory() as directory:
        check_over_http({name: server.port for name, server in running.items()}, expected)
        scripts = {name: lua_script(ROUTES[name], Path(directory)) for name in routes}
        cells = [(name, route, count) for count in connections for route in routes for name in variants]
        for name, route, count in cells:
            wrk(running[name].port, ROUTES[route], scripts[route], WARM_UP_SECONDS, count)
        runs: dict[Cell, list[tuple[float, float, float | None]]] = {cell: [] for cell in cells}
        shuffler = random.Random(222)  # the order the other benchmarks shuffle in
        for _ in range(rounds):
            shuffler.shuffle(cells)
            for cell in cells:
                name, route, count = cell
                runs[cell].append(load(running[name], ROUTES[route], scripts[route], seconds, count))
    return {
        cell: Load(
            Sample([r for r, _, _ in got]),
            Sample([p for _, p, _ in got]),
            Sample([c for *_, c in got if c is not None]),
        )
        for cell, got in runs.items()
    }


def _ratio(value: float | None, base: float | None) -> str:
    return "-" if value is None or not base else f"{value / base:.2f}x"


def http_table(
    results: dict[Cell, Load], variants: Sequence[str], routes: Sequence[str], connections: Sequence[int]
) -> str:
    """req/s (median, min-max), median p99 and server CPU per request per
    variant; each sync one's ratios to async: req/s (below 1: fewer), p99
    and CPU per request (above 1: slower, dearer)."""
    base = variants[0]
    header = ["route", "wrk -c"]
    for name in variants:
        header += [f"{name} req/s (min-max)", f"{name} p99 ms", f"{name} CPU µs/req"]
        if name != base:
            header += [f"{name}/{base} req/s", f"{name}/{base} p99", f"{name}/{base} CPU"]
    rows = []
    for count in connections:
        for route in routes:
            floor = results[base, route, count]
            row = [route, str(count)]
            for name in variants:
                cell = results[name, route, count]
                cpu = _median(cell.cpu)
                row += [f"{cell.rate.median:,.0f} ({cell.rate.spread(0)})", f"{cell.p99.median:.2f}"]
                row.append("-" if cpu is None else f"{cpu:.0f}")
                if name != base:
                    row += [_ratio(cell.rate.median, floor.rate.median), _ratio(cell.p99.median, floor.p99.median)]
                    row.append(_ratio(cpu, _median(floor.cpu)))
            rows.append(row)
    return markdown(header, rows)


def http_missing() -> str | None:
    """Why the HTTP mode cannot run here, if it cannot."""
    if shutil.which("wrk") is None:
        return "wrk is not installed (apt-get install wrk)"
    missing = [name for name in ("uvloop", "httptools") if importlib.util.find_spec(name) is None]
    if missing:
        return f"{' and '.join(missing)} not installed (pip install -e '.[bench]')"
    return None


# -- the command line ----------------------------------------------------------------


def parser() -> argparse.ArgumentParser:
    parse = argparse.ArgumentParser(
        prog="python -m benchmarks.sync_handlers",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parse.add_argument("mode", nargs="?", default="all", choices=("all", "inprocess", "http"))
    parse.add_argument("--routes", nargs="+", default=list(ALL_ROUTES), choices=ALL_ROUTES, metavar="ROUTE")
    parse.add_argument(
        "--variants",
        nargs="+",
        type=variant,
        default=["async", "sync"],
        metavar="VARIANT",
        help="async, sync, sync:N (threads=N); ratios are to the first (default: async sync)",
    )
    group = parse.add_argument_group("in process")
    group.add_argument("--inprocess-rounds", type=int, default=40, help="interleaved rounds (default 40)")
    group.add_argument("--batch-ms", type=float, default=20, help="time per batch, calibrated (default 20)")
    group.add_argument("--iterations", type=int, help="requests per batch, instead of calibrating")
    group.add_argument("--loop", nargs="+", default=["asyncio"], choices=LOOPS, help="event loops (default asyncio)")
    group = parse.add_argument_group("over uvicorn + wrk")
    group.add_argument("--rounds", type=int, default=4, help="interleaved rounds (default 4)")
    group.add_argument("--duration", type=int, default=3, help="whole seconds of wrk per cell and round (default 3)")
    group.add_argument("--connections", nargs="+", type=int, default=[32], help="wrk -c, one or more (default 32)")
    group.add_argument("--sweep", action="store_true", help=f"wrk -c {' '.join(map(str, SWEEP))}")
    return parse


def machine() -> str:
    from .__main__ import machine as describe  # only reads /proc/cpuinfo: nothing there is run

    return describe()


def main(argv: Sequence[str] | None = None) -> int:
    arguments = list(sys.argv[1:] if argv is None else argv)
    args = parser().parse_args(arguments)
    variants = list(dict.fromkeys(args.variants))
    if len(variants) < 2:
        parser().error("name two variants or more: the figures are ratios")
    if args.mode != "http" and "uvloop" in args.loop and importlib.util.find_spec("uvloop") is None:
        parser().error("--loop uvloop: uvloop is not installed (pip install -e '.[bench]')")
    command = shlex.join(["python", "-m", "benchmarks.sync_handlers", *arguments])
    print(f"`{command}` on {machine()}; ratios are to {variants[0]}, measured in one interleaved run.\n")
    if args.mode in ("all", "inprocess"):
        for loop in args.loop:
            measure = functools.partial(
                measure_in_process, variants, args.routes, args.inprocess_rounds, args.batch_ms, args.iterations
            )
            print(f"In process on {loop}, one request at a time (µs per request, median of rounds):\n")
            print(in_process_table(run_on(loop, measure), variants, args.routes))
            print()
    if args.mode in ("all", "http"):
        why_not = http_missing()
        if why_not is not None:
            print(f"HTTP mode skipped: {why_not}.")
            return 0
        connections = list(SWEEP) if args.sweep else args.connections
        print(
            f"Over uvicorn (httptools on uvloop, 1 worker), wrk -t1 for {args.duration}s per cell, "
            f"{args.rounds} rounds (req/s, p99 and the server's CPU per request, medians of rounds):\n"
        )
        results = measure_over_http(variants, args.routes, connections, args.rounds, args.duration)
        print(http_table(results, variants, args.routes, connections))
    return 0


if __name__ == "__main__":
    sys.exit(main())
