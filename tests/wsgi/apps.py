"""The App the WSGI server tests serve (`tests.wsgi.apps:site_wsgi`):
examples/echo.py's report, tests/wsgi_apps.py's plain routes (/error,
/stream, /raw) and files (/file/NAME), uploads spooled to the folder
$ASYNCWEB_TEST_UPLOAD_DIR names, and a file limit between the big upload
and the oversized one.

Every response says which process served it (`X-Pid`) and how many of
that process's descriptors were open in the upload folder while the
handler ran (`X-Spooled`): the tests read /proc/PID for the rest. Imports
only asyncweb and the apps beside it: mod_wsgi runs a copy of it."""

from __future__ import annotations

import logging
import os

from asyncweb import App, Limits, Request, Response, WSGIGateway
from examples.echo import echo
from tests.wsgi_apps import _started, noting_file_wrappers, plain, serve_file

UPLOAD_DIR_ENV = "ASYNCWEB_TEST_UPLOAD_DIR"
STOPS_ENV = "ASYNCWEB_TEST_STOPS"  # a file each lifespan shutdown appends its pid to
MiB = 1024 * 1024
MAX_FILE_SIZE = 60 * MiB  # the big upload (50 MiB) passes, the oversized one (64 MiB) is a 413
PLAIN_ROUTES = ("/error", "/stream", "/raw")


def spooled(folder: str | None) -> int:
    """This process's descriptors open on a file in `folder` (an unnamed
    O_TMPFILE spool shows as `folder/#INODE (deleted)`)."""
    if not folder:
        return 0
    count = 0
    for fd in os.listdir("/proc/self/fd"):
        try:
            target = os.readlink(f"/proc/self/fd/{fd}")
        except OSError:  # the descriptor listdir itself used
            continue
        count += target.startswith(folder.rstrip("/") + "/")
    return count


async def _stopped() -> None:
    path = os.environ.get(STOPS_ENV)
    if path:
        with open(path, "a") as file:
            file.write(f"{os.getpid()}\n")


def site(request: Request, response: Response, log: logging.Logger) -> None:
    response.set_header("X-Pid", str(os.getpid()))
    if request.path in PLAIN_ROUTES:
        plain(request, response, log)
        return
    if request.path.startswith("/file/"):
        serve_file(request, response, log)
        return
    if request.path == "/hop":
        # A hop-by-hop header, which an ASGI app may send and a WSGI app may not (PEP 3333).
        response.set_header("Connection", "close")
        response.set_body("hop")
        return
    response.set_header("X-Spooled", str(spooled(os.environ.get(UPLOAD_DIR_ENV))))
    # echo is `async def` but awaits nothing: run to its end in one step.
    coroutine = echo(request, response, log)
    try:
        coroutine.send(None)
    except StopIteration:
        pass
    else:  # pragma: no cover - echo awaited something
        coroutine.close()
        raise RuntimeError("examples.echo.echo awaited something")


site_app = App(
    site,
    upload_dir=os.environ.get(UPLOAD_DIR_ENV) or None,
    limits=Limits(max_file_size=MAX_FILE_SIZE),
    on_startup=_started,
    on_shutdown=_stopped,
)
site_wsgi = noting_file_wrappers(WSGIGateway(site_app))
