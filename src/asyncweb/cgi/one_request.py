"""One request through any ASGI app, outside any server.

The engine of the CGI host (a process per request) and of `asyncweb call`
(the command-line debug mode): the body comes from a plain iterator of
chunks, the response's bytes (the one `ResponseWriter`'s) go to a plain
callable, a file the app sends by `http.response.pathsend` to another, and
the app runs inside its lifespan. `serve_request` runs it on
bare asyncio, so that nothing heavier (anyio, uvicorn, httpx) is imported
unless the app wants it; `serve_request_blocking` runs an asyncweb App with
no event loop at all (`noloop`). It opens no socket, and no file but the
one a pathsend message names.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Iterator

from .._log import log
from ..app import App
from ..types import NO_EVENT_LOOP, PATHSEND, ASGIApp, Message, Scope
from .exchange import Exchange
from .lifespan import BlockingLifespan, Lifespan, LifespanFailure
from .noloop import run_without_loop

TYPE_CHECKING = False
if TYPE_CHECKING:
    import asyncio

    from .pathsend import SentFile

    FileSink = Callable[[SentFile], bool]  # sends the file whole: False when it shrank on the way

Sink = Callable[[bytes], None]
CHUNK_SIZE = 64 * 1024
_MORE: Message = {"type": "http.response.body", "body": b"", "more_body": True}
_LAST: Message = {"type": "http.response.body", "body": b"", "more_body": False}


def read_chunks(read: Callable[[int], bytes], length: int | None) -> Iterator[bytes]:
    """The body `read(size)` gives (os.read of a descriptor, a stream's
    read), in chunks: `length` bytes at most (a host may send more than
    CONTENT_LENGTH, RFC 3875 4.2: never read to EOF then), or all of it up
    to EOF when the length is unknown."""
    remaining = length
    while remaining is None or remaining > 0:
        chunk = read(CHUNK_SIZE if remaining is None else min(remaining, CHUNK_SIZE))
        if not chunk:
            return
        if remaining is not None:
            remaining -= len(chunk)
        yield chunk


# Imported by an app's module, these mean it may await what only an event
# loop can run. httpcore is httpx's core: httpx imports no loop by itself.
ASYNC_LIBRARIES = ("asyncio", "anyio", "sniffio", "trio", "curio", "httpcore")


def needs_event_loop(app: ASGIApp) -> bool:
    """Whether `app` must run on an event loop: any app but an asyncweb App,
    or an App with an async handler in a process that imported an async
    library. A plain-function handler awaits nothing: it never needs one."""
    if not isinstance(app, App):
        return True
    return not app.is_sync and any(name in sys.modules for name in ASYNC_LIBRARIES)


class PulledExchange(Exchange):
    """An `Exchange` whose body is pulled from `chunks` as the app asks for
    it, and whose response bytes go to `sink` as the app sends them; a
    file sent by `http.response.pathsend` (where the gateway offers it)
    goes to `send_file`, or is read into `sink`."""

    __slots__ = ("_chunks_in", "_finished", "_send_file", "_sink")

    def __init__(
        self,
        chunks: Iterator[bytes],
        length: int | None,
        sink: Sink,
        head_only: bool = False,
        send_file: FileSink | None = None,
    ) -> None:
        super().__init__(length, head_only)
        self._chunks_in = chunks
        self._sink = sink
        self._send_file = send_file
        self._finished: asyncio.Future[None] | None = None

    @property
    def complete(self) -> bool:
        """A whole response went out (the app's, or the 500 that stood in
        for it), not one cut short."""
        return self.writer.complete and not self.writer.cut

    async def receive(self) -> Message:
        while True:
            message = self.next_message()
            if message is not None:
                return message
            if not self.body_complete:
                chunk = await self._pull()
                if chunk is None:
                    self.end_body()
                else:
                    self.feed(chunk)
            else:
                await self._finish_signal()

    async def _pull(self) -> bytes | None:
        """The next chunk of the body, None at its end; a driver that reads
        elsewhere (`wsgi`) waits for it here."""
        return next(self._chunks_in, None)

    async def send(self, message: Message) -> None:
        if message["type"] == PATHSEND:
            await self.send_path(message)
        else:
            self._out(self.respond(message))

    async def send_path(self, message: Message) -> None:
        """A pathsend message: the head, then the file, then the response
        is complete; cut short if the file shrank on the way."""
        head, file = self.take_path(message)
        self._sink(head)
        if file is not None:
            with file:
                whole = (self._send_file or self._read_into_sink)(file)
            if not whole:
                self._out(self.fail())
                return
        self.end_response()

    def take_path(self, message: Message) -> tuple[bytes, SentFile | None]:
        """The file a pathsend message names, opened first: a path that
        cannot be (missing, not absolute, no regular file) raises before a
        byte is out, so the gateway's 500 stands in. Then the head the
        writer held, to go before the file; the response is not complete
        yet. A HEAD response opens no file. After a body message it is an
        error (RuntimeError): ASGI's pathsend stands for the whole body."""
        from .pathsend import SentFile, declared_length, open_path  # here: most responses send no file

        if self.writer.sent:
            raise RuntimeError("http.response.pathsend sent after http.response.body")
        fd = None if self.writer.head_only else open_path(message)
        try:
            head = self.respond(_MORE)  # RuntimeError if no http.response.start came first
            if fd is None:
                return head, None
            end = declared_length(head)
            return head, SentFile(fd, os.fstat(fd).st_size if end is None else end, message["path"])
        except BaseException:
            if fd is not None:
                os.close(fd)
            raise

    def end_response(self) -> None:
        """The last, empty body message: the response is complete."""
        self._out(self.respond(_LAST))

    def _read_into_sink(self, file: SentFile) -> bool:
        from ..filebody import CHUNK_SIZE as FILE_CHUNK_SIZE
        from .pathsend import copy

        return copy(file, self._sink, FILE_CHUNK_SIZE)

    def finish(self) -> None:
        """End a response the app left unfinished (`Exchange.fail`)."""
        self._out(self.fail())

    def _out(self, data: bytes) -> None:
        if data:
            self._sink(data)
        if self.response_complete and self._finished is not None and not self._finished.done():
            self._finished.set_result(None)

    def _finish_signal(self) -> asyncio.Future[None]:
        """Done when the response is: the body is read, and nobody can
        disconnect here. Needs an event loop (none: the App never waits)."""
        import asyncio

        if self._finished is None:
            self._finished = asyncio.get_running_loop().create_future()
        return self._finished


async def serve_request(app: ASGIApp, scope: Scope, exchange: PulledExchange) -> None:
    """Run the app for one request, inside its lifespan; whatever it raises
    is logged with its traceback and, if nothing was sent yet, answered 500."""
    lifespan = Lifespan(app)
    try:
        await lifespan.startup()
    except LifespanFailure as exc:
        log.error("%s", exc)
    else:
        scope["state"] = dict(lifespan.state)
        await call_app(app, scope, exchange)
    exchange.finish()
    try:
        await lifespan.shutdown()
    except LifespanFailure as exc:
        log.error("%s", exc)


def serve_request_blocking(app: ASGIApp, scope: Scope, exchange: PulledExchange) -> None:
    """`serve_request` with no event loop, for an asyncweb App (see
    `noloop.needs_event_loop`). The scope says so (`types.NO_EVENT_LOOP`),
    so the App neither times reads nor watches for a disconnect."""
    scope["extensions"] = {**(scope.get("extensions") or {}), NO_EVENT_LOOP: {}}
    lifespan = BlockingLifespan(app)
    try:
        lifespan.startup()
    except LifespanFailure as exc:
        log.error("%s", exc)
    else:
        scope["state"] = dict(lifespan.state)
        run_without_loop(call_app(app, scope, exchange))
    exchange.finish()  # after a failed startup, or a call that run_without_loop ended
    try:
        lifespan.shutdown()
    except LifespanFailure as exc:
        log.error("%s", exc)


async def call_app(app: ASGIApp, scope: Scope, exchange: PulledExchange) -> None:
    """The app for one request: what it raises is logged with its
    traceback; the caller ends what it left unfinished (`finish`)."""
    try:
        await app(scope, exchange.receive, exchange.send)
    except Exception:
        log.exception("error in the app for %s %s", scope["method"], scope["path"])
    else:
        if not exchange.response_complete and not exchange.aborted:  # a client gone is no app's fault
            log.error("the app returned without a complete response for %s %s", scope["method"], scope["path"])
