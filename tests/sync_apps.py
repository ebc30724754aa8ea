"""Plain-function handlers the tests serve under a real uvicorn
(`tests.sync_apps:NAME`), and call in process, under CGI and `asyncweb call`."""

from __future__ import annotations

import json
import logging
import os
import threading
from pathlib import Path

from asyncweb import App, HTTPError, Request, Response

_arrived = threading.Event()
MARK_ENV = "ASYNCWEB_TEST_MARK"  # a file /first creates when it starts to wait


def rendezvous(request: Request, response: Response, log: logging.Logger) -> None:
    """/first waits for /second: served one after the other, it gives up."""
    if request.path == "/second":
        _arrived.set()
        response.set_body("second")
        return
    mark = os.environ.get(MARK_ENV)
    if mark:  # the test sends /second only once /first waits
        Path(mark).touch()
    met = _arrived.wait(timeout=5)
    _arrived.clear()
    response.set_body("met" if met else "alone")


def report(request: Request, response: Response, log: logging.Logger) -> None:
    """What a plain function sees: fields, files, the raw body, its thread."""
    if request.path == "/error":
        raise RuntimeError("plain functions fail too")
    if request.path == "/forbidden":
        raise HTTPError(403, "members only")
    upload = request.get_uploaded_file("file")
    body = b"" if request.has_form_body else request.read_body()
    response.set_body(
        json.dumps(
            {
                "fields": request.fields.multi_items(),
                "file": None if upload is None else [upload.filename, upload.read().decode()],
                "body": body.decode(),
                "main_thread": threading.current_thread() is threading.main_thread(),
            }
        )
    )
    response.set_header("Content-Type", "application/json")


rendezvous_app = App(rendezvous)
one_thread_app = App(rendezvous, threads=1)
report_app = App(report)
