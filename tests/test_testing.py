"""asyncweb.testing.client: the app's lifespan runs around the requests,
which httpx's ASGI transport alone never does."""

from __future__ import annotations

import logging

import httpx
import pytest

from asyncweb import App, Request, Response
from asyncweb.testing import LifespanFailure, client
from asyncweb.types import Receive, Scope, Send

pytestmark = pytest.mark.anyio


async def test_startup_runs_before_the_first_request_and_shutdown_after_the_last() -> None:
    events: list[str] = []

    async def up() -> None:
        events.append("up")

    async def down() -> None:
        events.append("down")

    async def handler(request: Request, response: Response, log: logging.Logger) -> None:
        events.append(request.path)
        response.set_body("ok")

    async with client(App(handler, on_startup=up, on_shutdown=down, tune_malloc=False)) as http:
        assert (await http.get("/a")).text == "ok"
        assert events == ["up", "/a"]
    assert events == ["up", "/a", "down"]


async def test_httpx_alone_runs_no_lifespan() -> None:
    # The reason the helper exists: on_startup never runs this way.
    events: list[str] = []

    async def up() -> None:
        events.append("up")

    async def handler(request: Request, response: Response, log: logging.Logger) -> None:
        response.set_body("ok")

    transport = httpx.ASGITransport(app=App(handler, on_startup=up))
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:
        await http.get("/")
    assert events == []


async def test_the_lifespan_state_reaches_the_requests() -> None:
    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await receive()
            scope["state"]["db"] = "connected"
            await send({"type": "lifespan.startup.complete"})
            await receive()
            await send({"type": "lifespan.shutdown.complete"})
            return
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": scope["state"]["db"].encode()})

    async with client(app) as http:
        assert (await http.get("/")).text == "connected"


async def test_a_failed_startup_raises() -> None:
    async def up() -> None:
        raise ConnectionError("no database")

    async def handler(request: Request, response: Response, log: logging.Logger) -> None:
        pass

    with pytest.raises(LifespanFailure, match="no database"):
        async with client(App(handler, on_startup=up)):
            pass
