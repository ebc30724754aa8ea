"""One lifespan policy (uvicorn's "auto", "on" and "off"), the same through
both drivers: `Lifespan` on asyncio and `BlockingLifespan` with no loop."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import pytest

from asyncweb.cgi.lifespan import BlockingLifespan, Lifespan, LifespanFailure
from asyncweb.types import ASGIApp, Receive, Scope, Send

DRIVERS = ["asyncio", "blocking"]
# The lifespan's state, and what startup and shutdown raised (None: nothing).
Outcome = tuple[dict[str, Any], str | None, str | None]


def run(driver: str, app: ASGIApp, mode: Any = "auto") -> Outcome:
    """Startup, then shutdown whatever startup did, as the CGI host does."""
    if driver == "blocking":
        blocking = BlockingLifespan(app, mode)
        return blocking.state, failure(blocking.startup), failure(blocking.shutdown)

    async def main() -> Outcome:
        life = Lifespan(app, mode)
        async with asyncio.timeout(5):  # an answer that never comes fails the test, not the run
            start = await async_failure(life.startup)
            stop = await async_failure(life.shutdown)
        return life.state, start, stop

    return asyncio.run(main())


def failure(step: Any) -> str | None:
    try:
        step()
    except LifespanFailure as exc:
        return str(exc)
    return None


async def async_failure(step: Any) -> str | None:
    try:
        await step()
    except LifespanFailure as exc:
        return str(exc)
    return None


class Recorded:
    """A raw app whose lifespan answers both events, and records what it saw."""

    def __init__(self, startup: str = "complete", shutdown: str = "complete") -> None:
        self.answers = {"lifespan.startup": startup, "lifespan.shutdown": shutdown}
        self.seen: list[str] = []

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        assert scope["type"] == "lifespan"
        for _ in range(2):
            event = (await receive())["type"]
            self.seen.append(event)
            if event == "lifespan.startup":
                scope["state"]["db"] = "open"
            answer = self.answers[event]
            await send({"type": f"{event}.{answer}", **({"message": "no database"} if answer == "failed" else {})})
            if answer == "failed":
                return
        self.seen.append("returned")


async def raises_at_once(scope: Scope, receive: Receive, send: Send) -> None:
    raise ValueError("lifespan? never heard of it")


async def returns_at_once(scope: Scope, receive: Receive, send: Send) -> None:
    if scope["type"] != "http":
        return


async def returns_after_startup(scope: Scope, receive: Receive, send: Send) -> None:
    await receive()
    await send({"type": "lifespan.startup.complete"})


@pytest.mark.parametrize("driver", DRIVERS)
@pytest.mark.parametrize("mode", ["auto", "on"])
def test_startup_and_shutdown_are_answered_and_the_state_shared(driver: str, mode: str) -> None:
    app = Recorded()
    assert run(driver, app, mode) == ({"db": "open"}, None, None)
    assert app.seen == ["lifespan.startup", "lifespan.shutdown", "returned"]  # shutdown waits for the app


@pytest.mark.parametrize("driver", DRIVERS)
def test_auto_takes_an_app_that_raises_before_it_answers_as_not_supporting_lifespan(
    driver: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, "asyncweb")
    assert run(driver, raises_at_once, "auto") == ({}, None, None)  # the request goes on
    assert "does not support lifespan" in caplog.text
    assert not any(record.levelno >= logging.ERROR for record in caplog.records)


@pytest.mark.parametrize("driver", DRIVERS)
def test_on_takes_an_app_that_raises_before_it_answers_for_a_failure(driver: str) -> None:
    _, startup, shutdown = run(driver, raises_at_once, "on")
    assert startup == "lifespan.startup failed: ValueError('lifespan? never heard of it')"
    assert shutdown is None  # the one failure is reported once


@pytest.mark.parametrize("driver", DRIVERS)
@pytest.mark.parametrize("mode", ["auto", "on"])
def test_a_failed_startup_is_a_failure_with_the_apps_message(driver: str, mode: str) -> None:
    app = Recorded(startup="failed")
    assert run(driver, app, mode)[1:] == ("lifespan.startup failed: no database", None)
    assert app.seen == ["lifespan.startup"]


@pytest.mark.parametrize("driver", DRIVERS)
def test_a_failed_shutdown_is_a_failure_with_the_apps_message(driver: str) -> None:
    app = Recorded(shutdown="failed")
    assert run(driver, app)[1:] == (None, "lifespan.shutdown failed: no database")


@pytest.mark.parametrize("driver", DRIVERS)
@pytest.mark.parametrize("mode", ["auto", "on"])
@pytest.mark.parametrize("app", [returns_at_once, returns_after_startup])
def test_an_app_that_returned_early_is_shut_down_quietly(driver: str, mode: str, app: ASGIApp) -> None:
    assert run(driver, app, mode) == ({}, None, None)


@pytest.mark.parametrize("driver", DRIVERS)
def test_an_error_after_the_startup_was_answered_is_logged_not_a_failure(
    driver: str, caplog: pytest.LogCaptureFixture
) -> None:
    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        await receive()
        await send({"type": "lifespan.startup.complete"})
        await receive()
        raise KeyError("closing the pool")

    assert run(driver, app, "on") == ({}, None, None)
    assert any(record.exc_info and record.exc_info[0] is KeyError for record in caplog.records)


@pytest.mark.parametrize("driver", DRIVERS)
def test_off_never_calls_the_app(driver: str) -> None:
    app = Recorded()
    assert run(driver, app, "off") == ({}, None, None)
    assert app.seen == []


@pytest.mark.parametrize("driver", DRIVERS)
def test_an_unknown_mode_is_refused(driver: str) -> None:
    with pytest.raises(ValueError, match="'auto', 'on' or 'off'"):
        run(driver, Recorded(), "yes")


def test_the_blocking_driver_runs_the_lifespan_with_no_event_loop() -> None:
    loops: list[bool] = []

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        while True:
            event = (await receive())["type"]
            try:
                asyncio.get_running_loop()
            except RuntimeError:
                loops.append(False)
            else:
                loops.append(True)
            await send({"type": f"{event}.complete"})
            if event == "lifespan.shutdown":
                return

    assert run("blocking", app) == ({}, None, None)
    assert loops == [False, False]
