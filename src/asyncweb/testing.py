"""Testing an app in process: an httpx client around it, its lifespan run.

`async with asyncweb.testing.client(app) as client:` runs the app's
lifespan startup (`on_startup`), yields an `httpx.AsyncClient` that calls
the app through httpx's ASGI transport, request scopes carrying the
lifespan state, and runs the shutdown at the end; a failed startup raises
`LifespanFailure`. httpx's transport alone runs no lifespan. For pytest
with anyio's own plugin (`@pytest.mark.anyio`, nothing else to install),
on asyncio. It opens no socket.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING, Any

import httpx

from .cgi.lifespan import Lifespan, LifespanFailure
from .types import ASGIApp, Receive, Scope, Send

if TYPE_CHECKING:
    from .cgi.lifespan import LifespanMode

__all__ = ["LifespanFailure", "client"]


@contextlib.asynccontextmanager
async def client(
    app: ASGIApp, base_url: str = "http://testserver", *, lifespan: LifespanMode = "auto", **options: Any
) -> AsyncIterator[httpx.AsyncClient]:
    """An httpx client for `app`, inside its lifespan; `options` go to
    `httpx.AsyncClient` (headers, cookies, timeout...)."""
    life = Lifespan(app, lifespan)
    await life.startup()

    async def with_state(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] in ("http", "websocket") and life.state:
            scope["state"] = dict(life.state)
        await app(scope, receive, send)

    try:
        transport = httpx.ASGITransport(app=with_state)
        async with httpx.AsyncClient(transport=transport, base_url=base_url, **options) as http:
            yield http
    finally:
        await life.shutdown()
