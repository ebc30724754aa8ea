"""The benchmark's targets answer alike, and its entry point runs (nothing here is timed)."""

from __future__ import annotations

import subprocess
import sys

import pytest

pytest.importorskip("starlette", reason="the benchmarks compare against Starlette (pip install -e '.[bench]')")

from benchmarks.apps import ROUTES, TARGETS, exchange
from tests.support import ROOT


@pytest.mark.anyio
@pytest.mark.parametrize("route", ROUTES)
async def test_every_target_answers_the_route_like_raw(route: str) -> None:
    expected = await exchange(TARGETS["raw"], ROUTES[route])
    assert expected.status == 200 and expected.body
    for target in ("starlette", "asyncweb"):
        assert await exchange(TARGETS[target], ROUTES[route]) == expected, target


@pytest.mark.anyio
async def test_the_cookie_route_writes_three_cookies_and_echoes_ten() -> None:
    reply = await exchange(TARGETS["asyncweb"], ROUTES["cookies"])
    assert [name for name, _ in reply.headers].count("set-cookie") == 3
    assert reply.body.count(b"\n") == 10


def test_the_entry_point_runs_a_smoke_iteration() -> None:
    command = [sys.executable, "-m", "benchmarks", "inprocess", "--rounds", "1", "--iterations", "2"]
    result = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    for route in ROUTES:
        assert f"| {route} |" in result.stdout
