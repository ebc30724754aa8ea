"""In-process mode: each target's ASGI callable awaited directly, no server.

The driver does the least a server does per request: it builds the scope
and keeps what the app sends. That cost is in every figure, raw's included,
and is printed under the table (Django's target also pays for the
server-like receive its handler needs, `apps.server_receive`). Every round
times one batch per (target, route) cell, cells in a shuffled order so no
target always runs first; a cell's figure is the median over rounds of its
batch's mean time per request (`time.perf_counter_ns`). Ratios compare
medians of the same run. A cell whose reply is not raw's (`apps.UNLIKE`)
is never timed.
"""

from __future__ import annotations

import asyncio
import gc
import random
import time
from collections.abc import Sequence

from asyncweb.types import ASGIApp, Message, Receive, Scope, Send

from .apps import TARGETS, UNLIKE, check_in_process, compared, untimed
from .report import TARGET_NAMES, Sample, markdown, notes, verdict
from .routes import ROUTES, Route

# The goals for asyncweb, as the most its time may be over raw's.
GOALS = {"hello": 2.5, "query": 1.2, "form": 1.2, "cookies": 2.0}


async def time_batch(app: ASGIApp, route: Route, iterations: int) -> float:
    """Mean nanoseconds per request over `iterations` requests."""
    return (await time_cpu_batch(app, route, iterations))[0]


async def time_cpu_batch(app: ASGIApp, route: Route, iterations: int) -> tuple[float, float]:
    """Mean wall and CPU nanoseconds per request (the CPU of every thread:
    a plain-function handler's worker's too), both taken after the
    gc.collect, which would weigh on them."""
    message = {"type": "http.request", "body": route.body, "more_body": False}
    sent: list[Message] = []

    async def receive() -> Message:
        return message

    async def send(message: Message) -> None:
        sent.append(message)

    gc.collect()
    start, cpu = time.perf_counter_ns(), time.process_time_ns()
    for _ in range(iterations):
        await app(route.scope(), receive, send)
    return (time.perf_counter_ns() - start) / iterations, (time.process_time_ns() - cpu) / iterations


async def no_app(scope: Scope, receive: Receive, send: Send) -> None:
    """Measured alongside the targets: the driver's own cost per request."""


async def measure(
    targets: Sequence[str], routes: Sequence[str], rounds: int, batch_ms: float, iterations: int | None
) -> dict[tuple[str, str], Sample]:
    """Samples per (target, route) cell, and ("driver", "hello") for the driver alone."""
    await check_in_process(routes, targets)
    apps = {**{target: TARGETS[target] for target in targets}, "driver": no_app}
    # The frameworks' start-up objects (every peer's, all in this process)
    # out of every collection: no target's batches walk the others' objects,
    # and time_batch's gc.collect() stays short.
    gc.collect()
    gc.freeze()
    try:
        return await _measure(apps, routes, rounds, batch_ms, iterations)
    finally:
        gc.unfreeze()


async def _measure(
    apps: dict[str, ASGIApp], routes: Sequence[str], rounds: int, batch_ms: float, iterations: int | None
) -> dict[tuple[str, str], Sample]:
    targets = [target for target in apps if target != "driver"]
    cells = [(target, route) for route in routes for target in compared(targets, route)] + [("driver", "hello")]
    sizes: dict[tuple[str, str], int] = {}
    # Calibration, doubling as warm-up; with --iterations a warm-up alone,
    # no longer than a batch (down to 10 requests: Django's take a thread each).
    warm_up = 200 if iterations is None else min(200, max(10, iterations))
    for target, route in cells:
        per_request = await time_batch(apps[target], ROUTES[route], warm_up)
        sizes[target, route] = iterations or max(10, int(batch_ms * 1e6 / per_request))
    figures: dict[tuple[str, str], list[float]] = {cell: [] for cell in cells}
    shuffler = random.Random(222)
    for _ in range(rounds):
        shuffler.shuffle(cells)
        for cell in cells:
            figures[cell].append(await time_batch(apps[cell[0]], ROUTES[cell[1]], sizes[cell]))
    return {cell: Sample(values) for cell, values in figures.items()}


def table(results: dict[tuple[str, str], Sample], targets: Sequence[str], routes: Sequence[str]) -> str:
    """A row per target: per route, microseconds per request (median,
    min-max) and the ratio to raw's median; then asyncweb's goals, the
    cells not timed and the driver's own cost."""
    header = ["target"]
    for route in routes:
        header += [f"{route} µs (min-max)", f"{route} ratio"]
    rows = []
    for target in targets:
        row = [TARGET_NAMES[target]]
        for route in routes:
            row += _cells(results, target, route)
        rows.append(row)
    lines = []
    if "asyncweb" in targets:
        ratios = {route: results["asyncweb", route].median / results["raw", route].median for route in routes}
        met = [f"{route} {verdict(ratio, GOALS.get(route), at_most=True)}" for route, ratio in ratios.items()]
        lines.append("asyncweb's goals (its time over raw's): " + "; ".join(met))
    lines += [
        f"{TARGET_NAMES[target]} on {route}: n/a, {UNLIKE[target, route]}" for target, route in untimed(targets, routes)
    ]
    driver = results["driver", "hello"]
    lines.append(
        f"Driver alone (scope built, messages kept, no app): {driver.median / 1000:.2f} µs a request, in all figures"
    )
    return markdown(header, rows) + notes(lines)


def _cells(results: dict[tuple[str, str], Sample], target: str, route: str) -> list[str]:
    sample = results.get((target, route))
    if sample is None:  # a reply unlike raw's: not timed
        return ["n/a", "n/a"]
    ratio = "-" if target == "raw" else f"{sample.median / results['raw', route].median:.2f}x"
    return [f"{sample.median / 1000:.2f} ({sample.spread(2, 1000)})", ratio]


def run(targets: Sequence[str], routes: Sequence[str], rounds: int, batch_ms: float, iterations: int | None) -> str:
    results = asyncio.run(measure(targets, routes, rounds, batch_ms, iterations))
    return table(results, targets, routes)
