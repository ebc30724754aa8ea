"""One FastCGI request as the ASGI application sees it: `receive` and `send`.

The connection layer (`connection` over anyio streams, `transport` over
asyncio transports) feeds the body in and ends the request on disconnect;
an `Exchange` buffers the body for the app, turns its messages into CGI
response bytes and hands them to the connection. It never touches a socket.
"""

from __future__ import annotations

import contextlib
import logging
from collections import deque
from collections.abc import Awaitable
from typing import Protocol

import anyio

from ..cgi.head import render_head
from ..headers import parse_length
from ..types import ASGIApp, Message, Scope
from .protocol import Connection as Codec

log = logging.getLogger("asyncweb.fastcgi")

# Request body bytes held for an app that is not reading: past this the
# connection is not read any further, so the web server's send blocks.
BODY_HIGH_WATER = 1 << 20


class ClientDisconnected(OSError):
    """send() after the web server closed the connection or aborted the
    request (ASGI 2.4 asks for an OSError)."""


class Link(Protocol):
    """What an exchange needs from its connection."""

    codec: Codec
    broken: bool

    def write(self, data: bytes) -> Awaitable[None] | None:
        """Send `data`; what to await before the next write when the
        connection is full (the asyncio layer returns None when it is not)."""

    def resume_reading(self) -> None:
        """The body buffer drained (or the request ended): read on."""

    def request_done(self, exchange: Exchange) -> None:
        """The app returned: forget the request and free its slot."""


_ERROR_HEAD = render_head(500, [(b"content-type", b"text/plain; charset=utf-8")])


class Exchange:
    """One request: its body buffer (fed by the connection) and its
    response (written by the app's task)."""

    __slots__ = (
        "_changed",
        "_chunks",
        "_final_sent",
        "aborted",
        "body_complete",
        "buffered",
        "conn",
        "done",
        "expected",
        "head",
        "head_only",
        "received",
        "request_id",
        "scope",
    )

    def __init__(self, conn: Link, request_id: int, scope: Scope, content_length: str) -> None:
        self.conn = conn
        self.request_id = request_id
        self.scope = scope
        self.head_only = scope["method"] == "HEAD"
        self.expected = parse_length(content_length) if content_length else None
        self._chunks: deque[bytes] = deque()
        self.buffered = 0
        self.received = 0
        self.body_complete = False
        self._final_sent = False
        self.aborted = False
        self.head: bytes | None = None
        self.done = False
        # Created only when the app has to wait: most requests never do.
        self._changed: anyio.Event | None = None

    @property
    def disconnected(self) -> bool:
        return self.aborted or self.conn.broken

    @property
    def over_high_water(self) -> bool:
        """The app is behind: stop reading until it catches up."""
        return self.buffered > BODY_HIGH_WATER and not (self.done or self.disconnected)

    def _wake(self) -> None:
        if self._changed is not None:
            self._changed.set()
            self._changed = None

    # Connection side.

    def feed(self, data: bytes) -> None:
        if self.done:
            return  # the response is complete: the rest of the body is unwanted
        self._chunks.append(data)
        self.buffered += len(data)
        self.received += len(data)
        self._wake()

    def end_body(self) -> None:
        self.body_complete = True
        if self.expected is not None and self.received < self.expected:
            # RFC 3875 / FastCGI 6.2: fewer bytes than CONTENT_LENGTH means
            # the upload was cut off.
            self.aborted = True
        self._wake()

    def abort(self) -> None:
        self.aborted = True
        self._wake()
        self.conn.resume_reading()

    # Application side.

    async def receive(self) -> Message:
        while True:
            if self._chunks and not self.aborted:
                chunks = self._chunks
                data = chunks[0] if len(chunks) == 1 else b"".join(chunks)
                chunks.clear()
                if self.buffered > BODY_HIGH_WATER:
                    self.conn.resume_reading()
                self.buffered = 0
                self._final_sent = self.body_complete
                return {"type": "http.request", "body": data, "more_body": not self.body_complete}
            if self.disconnected or self.done:
                return {"type": "http.disconnect"}
            if self.body_complete and not self._final_sent:
                self._final_sent = True
                return {"type": "http.request", "body": b"", "more_body": False}
            self._changed = self._changed or anyio.Event()
            await self._changed.wait()

    async def send(self, message: Message) -> None:
        kind = message["type"]
        if kind == "http.response.body":
            head = self.head
            if head is None or self.done:
                raise RuntimeError("http.response.body outside a response")
            if self.aborted or self.conn.broken:
                raise ClientDisconnected("the web server's client went away")
            body = b"" if self.head_only else message.get("body", b"")
            if type(body) is not bytes:  # a bytearray or memoryview: the compiled codec takes bytes
                body = bytes(body)
            if head:  # the first body carries the head
                self.head = b""
                body = head + body
            # Inline _write: a coroutine per response only when one must wait.
            waiter = self.conn.write(self._records(body, message.get("more_body", False)))
            if waiter is not None:
                await waiter
        elif kind == "http.response.start":
            if self.head is not None:
                raise RuntimeError("http.response.start sent twice")
            self.head = render_head(message["status"], message.get("headers", ()))

    def _records(self, data: bytes, more: bool, app_status: int = 0) -> bytes:
        """STDOUT records for `data`, and the end of the request after the
        last; a plain call, as the bytes are awaited in the caller's write."""
        if more:
            return self.conn.codec.stdout(self.request_id, data)
        # The last body, the end of STDOUT and END_REQUEST in one write.
        self.done = True
        out = self.conn.codec.stdout_and_end(self.request_id, data, app_status)
        self._wake()
        if self.buffered > BODY_HIGH_WATER:
            self.conn.resume_reading()
        return out

    async def _write(self, data: bytes) -> None:
        waiter = self.conn.write(data)
        if waiter is not None:
            await waiter

    async def run(self, app: ASGIApp) -> None:
        """Call the app, and end the request whatever it does."""
        failed = False
        try:
            await app(self.scope, self.receive, self.send)
        except Exception as exc:
            failed = True
            if self.disconnected:
                log.debug("app stopped after the client went away: %r", exc)
            else:
                log.exception("error in ASGI app for %s %s", self.scope["method"], self.scope["path"])
                if not self.done:  # nothing may follow END_REQUEST
                    note = f"asyncweb: error in the application: {type(exc).__name__}\n"
                    with contextlib.suppress(ClientDisconnected):
                        await self._write(self.conn.codec.stderr(self.request_id, note.encode()))
        finally:
            try:
                if not self.done:
                    if not failed and not self.disconnected:
                        log.error("app returned without completing the response")
                    with contextlib.suppress(ClientDisconnected):
                        await self._finish(failed)
            finally:
                self.conn.request_done(self)

    async def _finish(self, failed: bool) -> None:
        """End a request the app left unfinished."""
        if self.done:
            return
        if self.conn.broken:
            self.done = True
            return
        if self.head != b"" and not self.aborted:
            self.head = b""  # the app's own head, if any, was never sent
            await self._write(self._records(_ERROR_HEAD + b"Internal Server Error\n", False, 1))
        else:
            await self._write(self._records(b"", False, 1 if failed else 0))
