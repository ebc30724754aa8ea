"""A CGI script whose App has work to do after its response: an
on_shutdown hook that takes a while and leaves a mark, where the query's
`marker` says. lighttpd sends SIGTERM as soon as a script's stdout closes."""

from __future__ import annotations

import logging
import time
from pathlib import Path

import asyncweb
from asyncweb import App, Request, Response

_marker: list[str] = []


def handler(request: Request, response: Response, log: logging.Logger) -> None:
    _marker.append(request.get_field("marker", ""))
    response.set_body("answered")


async def slow_shutdown() -> None:
    time.sleep(0.5)  # no event loop here: a blocking pause, as a real clean-up would be
    if _marker and _marker[0]:
        Path(_marker[0]).write_text("the shutdown ran to its end")


if __name__ == "__main__":
    asyncweb.run(App(handler, on_shutdown=slow_shutdown))
