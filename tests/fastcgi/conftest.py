"""Fixtures for the FastCGI tests: asyncio through anyio's pytest plugin,
and an in-process server on a free loopback port."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import Any

import anyio
import pytest

from asyncweb.fastcgi import listen, serve
from asyncweb.types import ASGIApp

Server = Callable[..., AbstractAsyncContextManager[tuple[str, int]]]


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@asynccontextmanager
async def running_server(app: ASGIApp, **options: Any) -> AsyncIterator[tuple[str, int]]:
    """`async with running_server(app, **serve_options) as address:` serves
    `app` on 127.0.0.1 for the block, then shuts the server down (or sooner,
    when the `shutdown_event` option is set)."""
    sock = listen("127.0.0.1:0")
    address = sock.getsockname()
    stop = options.pop("shutdown_event", None) or anyio.Event()
    options.setdefault("shutdown_timeout", 5)
    async with anyio.create_task_group() as tasks:
        await tasks.start(
            lambda task_status: serve(
                app,
                sock,
                handle_signals=False,
                shutdown_event=stop,
                task_status=task_status,
                **options,
            )
        )
        try:
            yield address
        finally:
            stop.set()


@pytest.fixture
def fastcgi_server() -> Server:
    return running_server
