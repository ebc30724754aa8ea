"""One FastCGI request as the ASGI application sees it: `receive` and `send`.

The shared `cgi.exchange.Exchange` holds the receive rules and the one
response writer; this adds what FastCGI needs around them: waiting for the
connection to feed more body, backpressure on the connection while the app
is behind, the response's bytes wrapped in STDOUT records, END_REQUEST
however the app ends. It never touches a socket: the connection does.
"""

from __future__ import annotations

import contextlib
import contextvars
import logging
from collections.abc import Awaitable
from typing import Protocol

import anyio

from .._fieldsyntax import parse_length
from ..cgi.exchange import Exchange
from ..errors import ClientDisconnect
from ..types import ASGIApp, Message, Scope
from .protocol import Connection as Codec

log = logging.getLogger("asyncweb.fastcgi")

# Request body bytes held for an app that is not reading: past this the
# connection is not read any further, so the web server's send blocks.
BODY_HIGH_WATER = 1 << 20

# The connection whose request this task serves (each request's task runs
# in a copy of its connection's context): what its log lines are for.
SERVING: contextvars.ContextVar[Link | None] = contextvars.ContextVar("asyncweb_fastcgi", default=None)


class StderrLog(logging.Handler):
    """Log records made while an app serves a request, sent to the web
    server's error log too, as FCGI_STDERR records of that request (as
    PHP-FPM sends PHP's errors): nginx, Apache and lighttpd log them with
    the request they came with. Records made outside a request, or after
    its END_REQUEST, stay in the process's own log only."""

    def emit(self, record: logging.LogRecord) -> None:
        conn = SERVING.get()
        exchange = None if conn is None else conn.serving()
        if exchange is None or exchange.done or exchange.conn.broken:
            return
        try:
            data = (self.format(record) + "\n").encode("utf-8", "replace")
            exchange.conn.write(exchange.conn.codec.stderr(exchange.request_id, data))
        except ClientDisconnect:
            pass  # the connection closed: the process's own log still has it
        except Exception:
            self.handleError(record)


class Link(Protocol):
    """What an exchange needs from its connection."""

    codec: Codec
    broken: bool

    def write(self, data: bytes) -> Awaitable[None] | None:
        """Send `data`; what to await before the next write when the
        connection is full (None when it is not)."""

    @property
    def reading_paused(self) -> bool:
        """Reading is held back (an app behind on its body, or full slots)."""

    def resume_reading(self) -> None:
        """The body buffer drained (or the request ended): read on."""

    def request_done(self, exchange: FastCGIExchange) -> None:
        """The app returned: forget the request and free its slot."""

    def serving(self) -> FastCGIExchange | None:
        """The request the running task serves, if it can be told."""


class FastCGIExchange(Exchange):
    """One request: its body buffer (fed by the connection) and its
    response (written by the app's task)."""

    __slots__ = ("_changed", "conn", "done", "request_id", "scope")

    def __init__(self, conn: Link, request_id: int, scope: Scope, content_length: str, ended: bool = False) -> None:
        # No CONTENT_LENGTH (a chunked upload nginx does not buffer), or no
        # number: the body ends with the empty STDIN record. `ended`: the
        # request came whole, and no RequestBodyEnd will come: with no
        # length, its body is empty; one declared and not sent ends short.
        length = parse_length(content_length) if content_length else None
        # The base named, not super(): 3.11 builds a super object per call,
        # and these run for every request.
        Exchange.__init__(self, 0 if ended and not length else length, scope["method"] == "HEAD")
        if ended and length:
            Exchange.end_body(self)
        self.conn = conn
        self.request_id = request_id
        self.scope = scope
        self.done = False  # END_REQUEST is written
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

    # -- the connection's side ----------------------------------------------
    def feed(self, data: bytes) -> None:
        Exchange.feed(self, data)
        self._wake()

    def end_body(self) -> None:
        Exchange.end_body(self)
        self._wake()

    def abort(self) -> None:
        Exchange.abort(self)
        self._wake()
        self.conn.resume_reading()

    # -- the app's side ------------------------------------------------------
    async def receive(self) -> Message:
        while True:
            held = self.buffered
            message = self.next_message()
            if message is not None:
                if held and self.conn.reading_paused:  # behind, or the connection's sum was
                    self.conn.resume_reading()
                return message
            self._changed = self._changed or anyio.Event()
            await self._changed.wait()

    async def send(self, message: Message) -> None:
        writer = self.writer
        data = writer.feed(message)
        if not data and not writer.complete:
            return  # the head, held for the first body, or an empty part
        if self.aborted or self.conn.broken:
            raise ClientDisconnect("the web server's client went away")
        # A coroutine per response only when the connection is full.
        waiter = self.conn.write(self._records(data, writer.complete))
        if waiter is not None:
            await waiter

    def _records(self, data: bytes, last: bool, app_status: int = 0) -> bytes:
        """STDOUT records for `data`, and after the last the end of STDOUT
        and END_REQUEST, in one write."""
        if not last:
            return self.conn.codec.stdout(self.request_id, data)
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
        finally:
            try:
                if not self.done:
                    if not failed and not self.disconnected and not self.writer.complete:
                        log.error("app returned without completing the response")
                    with contextlib.suppress(ClientDisconnect):
                        await self._finish(failed)
            finally:
                self.conn.request_done(self)

    async def _finish(self, failed: bool) -> None:
        """End a request the app left unfinished: a 500 if nothing went out
        yet, and END_REQUEST."""
        if self.done:
            return
        if self.conn.broken:
            self.done = True
            return
        data = b"" if self.aborted else self.fail()
        await self._write(self._records(data, True, 1 if failed or data else 0))
