"""Apps the reliability tests run under a real uvicorn (`tests.reliability.apps:NAME`).

`upload_echo` is examples/echo.py's handler with the upload folder taken from
ASYNCWEB_TEST_UPLOAD_DIR, so a test can watch that folder; `hostile` does
what a careless handler might do with request data (put it in headers,
cookies, redirects) and fails in ways that must not leak anything.
"""

from __future__ import annotations

import logging
import os

from asyncweb import App, Limits, Request, Response
from examples.echo import echo

UPLOAD_DIR_ENV = "ASYNCWEB_TEST_UPLOAD_DIR"


def _upload_dir() -> str | None:
    return os.environ.get(UPLOAD_DIR_ENV) or None


upload_echo = App(echo, upload_dir=_upload_dir())
trusted_echo = App(echo, trust_proxy=True)


async def hostile_handler(request: Request, response: Response, log: logging.Logger) -> None:
    value = request.query.get("v") or ""
    if request.path == "/header":
        response.set_header("X-Echo", value)
    elif request.path == "/add-header":
        response.add_header(value or "X", "1")
    elif request.path == "/cookie":
        response.set_cookie("c", value)
    elif request.path == "/cookie-path":
        response.set_cookie("c", "1", path=value)
    elif request.path == "/redirect":
        response.redirect(value)
    elif request.path == "/reason":
        response.set_status(200, value)
    elif request.path == "/boom":
        raise RuntimeError(f"cannot open {os.path.abspath(__file__)}: secret=hunter2")
    response.set_body("ok")


hostile = App(hostile_handler, upload_dir=_upload_dir(), spool_size=1024)


async def _read_body(request: Request, response: Response, log: logging.Logger) -> None:
    response.set_body(b"got %d bytes" % len(await request.body()))


# A short read timeout, so that tests of silent clients end quickly.
impatient = App(_read_body, parse_forms=True, limits=Limits(read_timeout=0.5))
