"""ASGI apps the FastCGI tests serve, in process or in a subprocess
(`asyncweb fastcgi tests.fastcgi.apps:app`): a raw ASGI app that reports
what it was given, and a Starlette app."""

from __future__ import annotations

import hashlib
import json
from typing import Any
from urllib.parse import parse_qs

import anyio
from starlette.applications import Starlette
from starlette.datastructures import UploadFile
from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse
from starlette.routing import Route

from asyncweb.types import Message, Receive, Scope, Send

CHUNK = 1 << 16
# What the in-process tests look at after a request: messages the app saw.
seen: dict[str, list[Message]] = {}


async def _reply(send: Send, status: int, body: bytes, headers: list[Any] | None = None) -> None:
    headers = headers or [(b"content-type", b"application/json")]
    headers = [*headers, (b"content-length", str(len(body)).encode())]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


async def _read_body(receive: Receive) -> tuple[str, int, bool]:
    digest, size = hashlib.sha256(), 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            return digest.hexdigest(), size, True
        digest.update(message.get("body", b""))
        size += len(message.get("body", b""))
        if not message.get("more_body", False):
            return digest.hexdigest(), size, False


async def app(scope: Scope, receive: Receive, send: Send) -> None:
    if scope["type"] == "lifespan":
        await _lifespan(scope, receive, send)
        return
    path = scope["path"][len(scope["root_path"]) :] or "/"
    query = {k: v[0] for k, v in parse_qs(scope["query_string"].decode()).items()}
    if path == "/error":
        raise RuntimeError("handler failed on purpose")
    if path == "/redirect":
        await _reply(send, 302, b"", [(b"location", b"/echo?from=redirect")])
        return
    if path == "/stream":
        await _stream(send, int(query.get("mib", "1")))
        return
    if path == "/slow":
        await anyio.sleep(float(query.get("seconds", "1")))
    if path == "/wait-disconnect":
        await _wait_disconnect(scope, receive, send)
        return
    if path == "/hold":
        # Reads nothing for a while: the upload must wait, not pile up.
        await anyio.sleep(float(query.get("seconds", "1")))
    sha256, size, disconnected = await _read_body(receive)
    report = {
        "method": scope["method"],
        "path": scope["path"],
        "raw_path": scope["raw_path"].decode("latin-1"),
        "root_path": scope["root_path"],
        "query_string": scope["query_string"].decode("latin-1"),
        "scheme": scope["scheme"],
        "client": scope["client"],
        "server": scope["server"],
        "headers": [[k.decode("latin-1"), v.decode("latin-1")] for k, v in scope["headers"]],
        "body_sha256": sha256,
        "body_size": size,
        "disconnected": disconnected,
        "state": sorted(scope.get("state", {})),
    }
    await _reply(send, 200, json.dumps(report).encode())


async def _stream(send: Send, mib: int) -> None:
    """`mib` MiB of a known pattern, in chunks, without a Content-Length."""
    headers = [(b"content-type", b"application/octet-stream")]
    await send({"type": "http.response.start", "status": 200, "headers": headers})
    block = pattern_block()
    for _ in range(mib * (1 << 20) // len(block)):
        await send({"type": "http.response.body", "body": block, "more_body": True})
    await send({"type": "http.response.body", "body": b""})


def pattern_block() -> bytes:
    return bytes(range(256)) * (CHUNK // 256)


async def _wait_disconnect(scope: Scope, receive: Receive, send: Send) -> None:
    key = scope["query_string"].decode()
    messages = seen.setdefault(key, [])
    while True:
        message = await receive()
        messages.append(message)
        if message["type"] == "http.disconnect":
            return


async def _lifespan(scope: Scope, receive: Receive, send: Send) -> None:
    while True:
        message = await receive()
        if message["type"] == "lifespan.startup":
            scope["state"]["started"] = True
            await send({"type": "lifespan.startup.complete"})
        else:
            await send({"type": "lifespan.shutdown.complete"})
            return


async def _starlette_echo(request: Request) -> JSONResponse:
    return JSONResponse(
        {
            "path": request.url.path,
            "route_path": request.path_params.get("rest", ""),
            "root_path": request.scope["root_path"],
            "url": str(request.url),
            "query": dict(request.query_params),
            "cookies": request.cookies,
        }
    )


async def _starlette_upload(request: Request) -> JSONResponse:
    form = await request.form()
    files, fields = {}, {}
    for name, value in form.multi_items():
        if isinstance(value, UploadFile):
            digest = hashlib.sha256()
            while chunk := await value.read(CHUNK):
                digest.update(chunk)
            files[name] = digest.hexdigest()
        else:
            fields[name] = value
    return JSONResponse({"files": files, "fields": fields})


async def _starlette_redirect(request: Request) -> RedirectResponse:
    return RedirectResponse(request.url_for("echo", rest="moved"), status_code=303)


async def _starlette_error(request: Request) -> JSONResponse:
    raise RuntimeError("starlette handler failed on purpose")


starlette_app = Starlette(
    routes=[
        Route("/echo/{rest:path}", _starlette_echo, name="echo"),
        Route("/upload", _starlette_upload, methods=["POST"]),
        Route("/redirect", _starlette_redirect),
        Route("/error", _starlette_error),
    ]
)
