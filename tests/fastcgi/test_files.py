"""A file response over FastCGI, which offers no pathsend: the App streams
it, read in a worker thread, and closes it."""

from __future__ import annotations

import logging
import os
from pathlib import Path

import pytest

from asyncweb import App, Request, Response
from tests.fastcgi import wire
from tests.fastcgi.conftest import Server
from tests.fastcgi.test_server import params
from tests.support import open_in

pytestmark = pytest.mark.anyio


async def test_a_file_streams_whole_and_is_closed(fastcgi_server: Server, tmp_path: Path) -> None:
    path = tmp_path / "data.bin"
    path.write_bytes(os.urandom(5 * 1024 * 1024 + 3))

    def handler(request: Request, response: Response, log: logging.Logger) -> None:
        response.set_file(path, filename="data.bin")

    async with fastcgi_server(App(handler)) as address, wire.Client.connect(address) as client:
        await client.send(wire.request(1, params("/file")))
        got = await client.response(1)
        await client.send(wire.request(2, params("/file", method="HEAD")))
        head = await client.response(2)
    assert (got.status, got.header("content-length"), got.body) == (200, str(path.stat().st_size), path.read_bytes())
    assert got.header("content-disposition") == 'attachment; filename="data.bin"'
    assert (head.status, head.header("content-length"), head.body) == (200, str(path.stat().st_size), b"")
    assert open_in(os.getpid(), tmp_path) == []
