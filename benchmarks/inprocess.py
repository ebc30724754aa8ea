"""In-process mode: each target's ASGI callable awaited directly, no server.

The driver does the least a server does per request: it builds the scope
and keeps what the app sends. That cost is in every figure, raw's included,
and is printed under the table. Every round times one batch per (target,
route) cell, cells in a shuffled order so no target always runs first; a
cell's figure is the median over rounds of its batch's mean time per
request (`time.perf_counter_ns`). Ratios compare medians of the same run.
"""

from __future__ import annotations

import asyncio
import gc
import random
import time
from collections.abc import Sequence

from asyncweb.types import ASGIApp, Message, Receive, Scope, Send

from .apps import ROUTES, TARGETS, Route, check_in_process
from .report import TARGET_NAMES, Sample, markdown, verdict

# The goals for asyncweb, as the most its time may be over raw's.
GOALS = {"hello": 2.5, "query": 1.2, "form": 1.2, "cookies": 2.0}


async def time_batch(app: ASGIApp, route: Route, iterations: int) -> float:
    """Mean nanoseconds per request over `iterations` requests."""
    message = {"type": "http.request", "body": route.body, "more_body": False}
    sent: list[Message] = []

    async def receive() -> Message:
        return message

    async def send(message: Message) -> None:
        sent.append(message)

    gc.collect()
    start = time.perf_counter_ns()
    for _ in range(iterations):
        await app(route.scope(), receive, send)
    return (time.perf_counter_ns() - start) / iterations


async def no_app(scope: Scope, receive: Receive, send: Send) -> None:
    """Measured alongside the targets: the driver's own cost per request."""


async def measure(
    targets: Sequence[str], routes: Sequence[str], rounds: int, batch_ms: float, iterations: int | None
) -> dict[tuple[str, str], Sample]:
    """Samples per (target, route) cell, and ("driver", "hello") for the driver alone."""
    await check_in_process(routes)
    apps = {**{target: TARGETS[target] for target in targets}, "driver": no_app}
    cells = [(target, route) for route in routes for target in targets] + [("driver", "hello")]
    sizes: dict[tuple[str, str], int] = {}
    for target, route in cells:  # calibration, doubling as warm-up
        per_request = await time_batch(apps[target], ROUTES[route], 200)
        sizes[target, route] = iterations or max(10, int(batch_ms * 1e6 / per_request))
    figures: dict[tuple[str, str], list[float]] = {cell: [] for cell in cells}
    shuffler = random.Random(222)
    for _ in range(rounds):
        shuffler.shuffle(cells)
        for cell in cells:
            figures[cell].append(await time_batch(apps[cell[0]], ROUTES[cell[1]], sizes[cell]))
    return {cell: Sample(values) for cell, values in figures.items()}


def table(results: dict[tuple[str, str], Sample], targets: Sequence[str], routes: Sequence[str]) -> str:
    """Microseconds per request (median, min-max) and ratio to raw."""
    header = ["route"]
    for target in targets:
        header.append(f"{TARGET_NAMES[target]} µs (min-max)")
        if target != "raw":
            header.append(f"{TARGET_NAMES[target]} ratio")
    if "asyncweb" in targets:
        header.append("asyncweb goal")
    rows = []
    for route in routes:
        floor = results["raw", route].median
        row = [route]
        for target in targets:
            sample = results[target, route]
            row.append(f"{sample.median / 1000:.2f} ({sample.spread(2, 1000)})")
            if target != "raw":
                row.append(f"{sample.median / floor:.2f}x")
        if "asyncweb" in targets:
            row.append(verdict(results["asyncweb", route].median / floor, GOALS.get(route), at_most=True))
        rows.append(row)
    driver = results["driver", "hello"]
    note = f"Driver alone (scope built, messages kept, no app): {driver.median / 1000:.2f} µs a request, in all figures"
    return markdown(header, rows) + "\n\n" + note


def run(targets: Sequence[str], routes: Sequence[str], rounds: int, batch_ms: float, iterations: int | None) -> str:
    results = asyncio.run(measure(targets, routes, rounds, batch_ms, iterations))
    return table(results, targets, routes)
