"""An asyncweb handler mounted inside a Starlette app, under /legacy.

`uvicorn examples.starlette_mount:main`, then GET /legacy/report/2024:
the handler's `get_base_url()` is `http://host/legacy` and its `path` is
`/report/2024`, wherever the app is mounted.
"""

import logging

from starlette.applications import Starlette
from starlette.requests import Request as StarletteRequest
from starlette.responses import PlainTextResponse
from starlette.routing import Mount, Route

from asyncweb import App, Request, Response


async def legacy(request: Request, response: Response, log: logging.Logger) -> None:
    response.set_body(
        f"url: {request.get_url()}\n"
        f"base_url: {request.get_base_url()}\n"
        f"parent: {request.get_url(1)}\n"
        f"path: {request.path}\n"
    )


async def home(request: StarletteRequest) -> PlainTextResponse:
    return PlainTextResponse("Starlette home; the asyncweb app lives under /legacy\n")


main = Starlette(routes=[Route("/", home), Mount("/legacy", app=App(legacy))])
