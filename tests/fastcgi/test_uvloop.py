"""The connection layer on uvloop, which `asyncweb fastcgi` runs
when uvloop is installed: the in-process tests that lean on the
transport's flow control, closing and cancellation, again on uvloop's
transports (they are not asyncio.Transport subclasses, and pause, resume
and half-close go through libuv)."""

from __future__ import annotations

from typing import Any

import pytest

from tests.fastcgi.test_server import (  # noqa: F401 (collected here with this module's fixtures)
    test_a_client_that_does_not_read_holds_the_app_back,
    test_a_request_cancelled_before_its_task_starts_frees_its_slot,
    test_abort_request_disconnects_the_app,
    test_bad_records_end_the_connection_not_the_server,
    test_closed_connection_disconnects_the_app,
    test_concurrency_limit_makes_requests_wait,
    test_multiplexed_requests_run_concurrently,
    test_shutdown_lets_requests_in_flight_finish,
    test_shutdown_timeout_cancels_stuck_requests,
    test_upload_waits_for_a_slow_reader,
    test_without_keep_conn_the_server_closes,
    test_work_after_the_response_delays_no_other_request,
)

pytest.importorskip("uvloop")
pytestmark = pytest.mark.anyio


@pytest.fixture
def anyio_backend() -> tuple[str, dict[str, Any]]:
    return "asyncio", {"use_uvloop": True}


async def test_these_run_on_uvloop() -> None:
    import asyncio

    import uvloop

    assert isinstance(asyncio.get_running_loop(), uvloop.Loop)
