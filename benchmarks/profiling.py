"""Profile mode: cProfile over in-process requests, one route at a time.

Prints, per route, the functions with the most own time, with how many
times each runs per request: a function called more often than the request
needs, or an object built for nothing, shows up at once.
"""

from __future__ import annotations

import asyncio
import cProfile
import pstats
from collections.abc import Sequence

from .apps import TARGETS
from .inprocess import time_batch
from .report import markdown
from .routes import ROUTES

TOP = 20


def _where(function: tuple[str, int, str]) -> str:
    filename, line, name = function
    if filename == "~":  # a builtin
        return name
    short = filename.split("/site-packages/")[-1].split("/src/")[-1]
    return f"{short}:{line} {name}"


def profile_route(target: str, route: str, requests: int) -> str:
    app = TARGETS[target]
    asyncio.run(time_batch(app, ROUTES[route], 100))  # warm-up: imports and caches
    profiler = cProfile.Profile()
    profiler.enable()
    asyncio.run(time_batch(app, ROUTES[route], requests))
    profiler.disable()
    stats = pstats.Stats(profiler).stats  # type: ignore[attr-defined]
    rows = sorted(stats.items(), key=lambda item: item[1][2], reverse=True)[:TOP]
    return markdown(
        ["function", "calls per request", "own µs per request", "total µs per request"],
        [
            [
                f"`{_where(function)}`",
                f"{calls / requests:.2f}",
                f"{own / requests * 1e6:.3f}",
                f"{total / requests * 1e6:.3f}",
            ]
            for function, (_, calls, own, total, _) in rows
        ],
    )


def run(target: str, routes: Sequence[str], requests: int) -> str:
    return "\n\n".join(
        f"{target}, {route} (cProfile, {requests} requests):\n\n{profile_route(target, route, requests)}"
        for route in routes
    )
