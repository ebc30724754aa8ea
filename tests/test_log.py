"""The handler's default `log`: the "asyncweb" logger, with `logging`
imported only when it is first used (`asyncweb._log`)."""

from __future__ import annotations

import logging
import pickle
import subprocess
import sys

import pytest

from asyncweb import App, Request, Response, _log
from asyncweb.testing import client
from tests.support import ROOT

REAL = logging.getLogger("asyncweb")


def test_the_default_log_is_the_asyncweb_logger_in_every_way_a_handler_sees() -> None:
    log = _log.log
    assert isinstance(log, logging.Logger)
    assert log == REAL and hash(log) == hash(REAL)
    assert log in [REAL]  # REAL == log: the logger's own comparison defers to the stand-in
    assert (log.name, repr(log)) == ("asyncweb", repr(REAL))
    assert pickle.loads(pickle.dumps(log)) is REAL
    assert log.getChild("db") is logging.getLogger("asyncweb.db")


def test_what_is_set_on_the_log_is_set_on_the_logger() -> None:
    log = _log.log
    level = REAL.level
    try:
        log.setLevel(logging.DEBUG)
        assert REAL.level == logging.DEBUG
        log.level = logging.WARNING
        assert REAL.level == logging.WARNING and log.isEnabledFor(logging.WARNING)
        log.marker = "set through the stand-in"  # type: ignore[attr-defined]
        assert REAL.marker == "set through the stand-in"  # type: ignore[attr-defined]
        del log.marker  # type: ignore[attr-defined]
        assert not hasattr(REAL, "marker")
    finally:
        REAL.setLevel(level)


@pytest.mark.anyio
async def test_a_record_names_the_handler_that_logged_it(caplog: pytest.LogCaptureFixture) -> None:
    async def handler(request: Request, response: Response, log: logging.Logger) -> None:
        log.warning("from the handler")
        response.set_body("ok")

    with caplog.at_level(logging.WARNING, logger="asyncweb"):
        async with client(App(handler)) as http:
            assert (await http.get("/")).text == "ok"
    [record] = [record for record in caplog.records if record.getMessage() == "from the handler"]
    assert (record.name, record.funcName, record.pathname) == ("asyncweb", "handler", __file__)


def test_when_loaded_runs_at_once_once_logging_is_imported() -> None:
    ran: list[str] = []
    _log.when_loaded(lambda: ran.append("ran"))
    assert ran == ["ran"]


def test_a_configuration_asked_for_again_before_logging_loads_waits_once(monkeypatch: pytest.MonkeyPatch) -> None:
    # A process that serves many CGI requests (a test run, a wrapper) before
    # logging is imported holds one pending configuration, not one a request.
    monkeypatch.delitem(sys.modules, "logging")
    monkeypatch.setattr(_log, "_pending", [])
    ran: list[str] = []

    def configure() -> None:
        ran.append("ran")

    for _ in range(3):
        _log.when_loaded(configure)
    assert _log._pending == [configure] and ran == []


CGI_SCRIPT = """\
import sys
import asyncweb

async def handler(request, response, log):
    if request.path == "/fail":
        raise RuntimeError("for the server's error log")
    response.set_body("Hello, world!")

try:
    asyncweb.run(asyncweb.App(handler))
finally:
    sys.stderr.write(f"logging imported: {'logging' in sys.modules}\\n")
"""


def run_cgi_process(path: str) -> subprocess.CompletedProcess[str]:
    environ = {"GATEWAY_INTERFACE": "CGI/1.1", "SERVER_PROTOCOL": "HTTP/1.1", "REQUEST_METHOD": "GET"}
    environ |= {"SCRIPT_NAME": "/app.py", "PATH_INFO": path, "SERVER_NAME": "127.0.0.1", "SERVER_PORT": "80"}
    environ |= {"PYTHONPATH": str(ROOT / "src")}
    return subprocess.run(
        [sys.executable, "-c", CGI_SCRIPT],
        env=environ,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_a_cgi_request_that_logs_nothing_does_not_import_logging() -> None:
    result = run_cgi_process("/")
    assert result.stdout.startswith("Status: 200 OK\n") and result.stdout.endswith("Hello, world!")
    assert result.stderr == "logging imported: False\n"


def test_a_failing_cgi_request_logs_its_traceback_in_the_hosts_format() -> None:
    result = run_cgi_process("/fail")
    assert result.stdout.startswith("Status: 500 Internal Server Error\n")
    assert result.stderr.startswith("ERROR asyncweb: error in handler for GET /app.py/fail")
    assert "\nTraceback (most recent call last):\n" in result.stderr
    assert "RuntimeError: for the server's error log\n" in result.stderr
    assert result.stderr.endswith("logging imported: True\n")
