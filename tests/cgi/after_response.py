"""A CGI script whose App has work to do after its response: an
on_shutdown hook that takes a while and leaves a mark, where the query's
`marker` says, after `pause` seconds. lighttpd sends SIGTERM as soon as a
response is complete; Apache's mod_cgid holds the response open while the
process has the socket."""

from __future__ import annotations

import logging
import time
from pathlib import Path

import asyncweb
from asyncweb import App, Request, Response

_asked: list[tuple[str, float]] = []  # (marker, pause) of this process's one request


def handler(request: Request, response: Response, log: logging.Logger) -> None:
    _asked.append((request.get_field("marker", ""), float(request.get_field("pause", "0.5"))))
    response.set_body("answered")


async def slow_shutdown() -> None:
    if _asked:
        marker, pause = _asked[0]
        time.sleep(pause)  # no event loop here: a blocking pause, as a real clean-up would be
        if marker:
            Path(marker).write_text("the shutdown ran to its end")


if __name__ == "__main__":
    asyncweb.run(App(handler, on_shutdown=slow_shutdown))
