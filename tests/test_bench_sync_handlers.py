"""benchmarks/sync_handlers.py, run tiny: its variants answer like raw ASGI,
in process and each under its own uvicorn, the plain one really goes through
a worker thread, its tables read right, and its entry point runs in process
(two rounds of two requests, no wrk; no figure is checked)."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import threading

import pytest

# benchmarks/apps.py, whose routes and raw app the benchmark reuses, imports Starlette.
pytest.importorskip("starlette", reason="the benchmarks compare against Starlette (pip install -e '.[test]')")

from asyncweb import App, Request, Response
from benchmarks import sync_handlers
from benchmarks.apps import TARGETS, exchange
from benchmarks.report import Sample
from benchmarks.routes import ROUTES
from benchmarks.sync_handlers import Figures, Load, Variant
from tests.support import ROOT


@pytest.mark.anyio
@pytest.mark.parametrize("route", ROUTES)
async def test_both_forms_answer_the_route_like_raw(route: str) -> None:
    expected = await exchange(TARGETS["raw"], ROUTES[route])
    for name in ("async", "sync", "sync:1"):
        assert await exchange(Variant.parse(name).app(), ROUTES[route]) == expected, name


@pytest.mark.anyio
async def test_the_plain_handler_runs_in_a_worker_thread(monkeypatch: pytest.MonkeyPatch) -> None:
    # What the sync column measures: the hop. Seen through the work both forms call.
    threads: list[threading.Thread] = []
    work = sync_handlers.work

    def watched(request: Request, response: Response) -> None:
        threads.append(threading.current_thread())
        work(request, response)

    monkeypatch.setattr(sync_handlers, "work", watched)
    for name in ("async", "sync"):
        await exchange(Variant.parse(name).app(), ROUTES["hello"])
    assert threads[0] is threading.main_thread() and threads[1] is not threading.main_thread()


def test_variants_are_named_async_sync_or_sync_n() -> None:
    assert Variant.parse("async") == Variant("async", False, None)
    assert Variant.parse("sync") == Variant("sync", True, None)
    assert Variant.parse("sync:4") == Variant("sync:4", True, 4)
    app = Variant.parse("sync:4").app()
    assert isinstance(app, App) and app.is_sync and app.threads == 4
    for bad in ("sync:0", "sync:x", "async:2", "threads"):
        with pytest.raises(ValueError):
            Variant.parse(bad)


def test_the_http_table_gives_sync_over_async() -> None:
    results = {
        ("async", "hello", 32): Load(Sample([1000.0, 1200.0, 1100.0]), Sample([2.0]), Sample([80.0])),
        ("sync", "hello", 32): Load(Sample([550.0]), Sample([5.0]), Sample([120.0])),
        ("async", "hello", 1): Load(Sample([900.0]), Sample([1.0]), Sample([])),  # no /proc
        ("sync", "hello", 1): Load(Sample([300.0]), Sample([1.5]), Sample([])),
    }
    table = sync_handlers.http_table(results, ["async", "sync"], ["hello"], [32, 1])
    assert (
        "| hello | 32 | 1,100 (1000-1200) | 2.00 | 80 | 550 (550-550) | 5.00 | 120 | 0.50x | 2.50x | 1.50x |" in table
    )
    assert "| hello | 1 | 900 (900-900) | 1.00 | - | 300 (300-300) | 1.50 | - | 0.33x | 1.50x | - |" in table


def test_the_in_process_table_gives_the_hop_cost() -> None:
    results = {
        ("async", "hello"): Figures(Sample([4000.0]), Sample([3900.0])),
        ("sync", "hello"): Figures(Sample([60000.0, 50000.0, 70000.0]), Sample([45000.0])),
        ("driver", "hello"): Figures(Sample([1000.0]), Sample([1000.0])),
    }
    table = sync_handlers.in_process_table(results, ["async", "sync"], ["hello"])
    assert "| hello | 4.00 (4.00-4.00) | 3.90 | 60.00 (50.00-70.00) | 45.00 | 15.00x | +56.00 | +41.10 |" in table


def test_a_process_cpu_time_is_read() -> None:
    seconds = sync_handlers.cpu_seconds(os.getpid())
    if seconds is None:
        pytest.skip("no /proc here: the HTTP table says '-' for CPU")
    assert seconds > 0


def test_the_entry_point_runs_a_smoke_iteration_in_process() -> None:
    command = [sys.executable, "-m", "benchmarks.sync_handlers", "inprocess", "--inprocess-rounds", "2"]
    command += ["--iterations", "2", "--variants", "async", "sync", "sync:2"]
    result = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert "sync/async" in result.stdout and "sync:2 - async µs" in result.stdout
    for route in ROUTES:
        assert f"| {route} |" in result.stdout


def test_every_variant_under_uvicorn_answers_like_raw() -> None:
    # The HTTP mode's servers and its check, without wrk: the variant reaches its uvicorn child.
    for name in ("uvloop", "httptools"):
        pytest.importorskip(name, reason="the HTTP mode serves on httptools + uvloop (pip install -e '.[test]')")
    expected = asyncio.run(sync_handlers.expected_replies(list(ROUTES)))
    with sync_handlers.servers(["async", "sync:2"]) as running:
        sync_handlers.check_over_http({name: server.port for name, server in running.items()}, expected)
        assert (
            all(sync_handlers.cpu_seconds(server.pid) is not None for server in running.values()) or os.name != "posix"
        )
