"""A WSGI gateway (PEP 3333): any ASGI app served by any WSGI server, such
as gunicorn's sync workers, waitress, Apache's mod_wsgi or Passenger.

Each request goes through the one exchange and the one writer: the body is
pulled from `wsgi.input` by the CGI rules (its declared length, or to its
end where the server sets `wsgi.input_terminated`), and the writer's bytes
are split back into WSGI's status, headers and a body streamed as the app
sends it. An asyncweb App whose handler needs no event loop runs in the
server's own thread with none; any other app runs on one event loop in a
thread of its own, while the server's thread reads the body for it and
yields what it sends. Either way the lifespan runs once per process, and
the app's log lines go to `wsgi.errors` too.

Where the server gives a `wsgi.file_wrapper`, the gateway offers
`http.response.pathsend`: the file an app sends by its path goes back as
the server's own wrapper (gunicorn then sends it with sendfile), which
closes it when the server closes the response. So the app runs up to its
first output before the gateway returns. It opens no socket, and no file
but the one a pathsend message names.
"""

from __future__ import annotations

import atexit
import contextvars
import logging
import queue
import threading
from collections.abc import Callable, Generator, Iterable, Iterator, Mapping

from ..app import error_response
from ..filebody import CHUNK_SIZE
from ..types import NO_EVENT_LOOP, PATHSEND, ASGIApp, Message, Scope
from .lifespan import BlockingLifespan, Lifespan, LifespanFailure
from .noloop import Parked, run_without_loop
from .one_request import PulledExchange, call_app, needs_event_loop, read_chunks
from .variables import InvalidLength, content_length, scope_from_environ

TYPE_CHECKING = False
if TYPE_CHECKING:
    import asyncio
    from typing import Any

    from .pathsend import SentFile

    StartResponse = Callable[..., object]
    # What the gateway's generators yield, and return at their end: the file
    # a pathsend message named, for the server's wsgi.file_wrapper, or None.
    Steps = Generator[bytes, None, SentFile | None]

log = logging.getLogger("asyncweb")
_ERRORS: contextvars.ContextVar[Any] = contextvars.ContextVar("asyncweb_wsgi_errors", default=None)


class _ToWSGIErrors(logging.Handler):
    """The asyncweb logger's records, also to the `wsgi.errors` of the
    request being served, where the WSGI server keeps its error log."""

    def emit(self, record: logging.LogRecord) -> None:
        stream = _ERRORS.get()
        if stream is not None:
            try:
                stream.write(self.format(record) + "\n")
            except Exception:  # a closed stream: the server's own log still has it
                self.handleError(record)


class WSGIGateway:
    """`WSGIGateway(app)` is a WSGI application serving the ASGI `app`.

    `event_loop` is as for `asyncweb.run`: None decides by the app (an
    asyncweb App whose handler awaits nothing a loop must run needs none).
    """

    def __init__(self, app: ASGIApp, *, event_loop: bool | None = None) -> None:
        self.app = app
        self._use_loop = needs_event_loop(app) if event_loop is None else event_loop
        self._lock = threading.Lock()
        self._started = False
        self._failure: LifespanFailure | None = None
        self._state: dict[str, Any] = {}
        self._loop: _LoopThread | None = None
        self._blocking: BlockingLifespan | None = None

    def __call__(self, environ: Mapping[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        self._start()
        head_only = environ.get("REQUEST_METHOD", "GET").upper() == "HEAD"
        try:
            scope = self._scope(environ)
            length = content_length(environ)
        except InvalidLength as exc:
            return _answer(error_response(400, str(exc)), environ, start_response)
        if length is None and not environ.get("wsgi.input_terminated"):
            # PEP 3333: reading a body of unknown length past its end may block.
            return _answer(error_response(411, "send a Content-Length"), environ, start_response)
        if self._failure is not None:
            return _answer(error_response(500), environ, start_response)
        body = _Input(environ["wsgi.input"])
        chunks = read_chunks(body.read, length)
        wraps_files = environ.get("wsgi.file_wrapper") is not None
        if wraps_files:
            scope["extensions"][PATHSEND] = {}
        if self._loop is not None:
            bridged = _BridgedExchange(length, head_only, self._loop.loop, body, wraps_files)
            return _respond(self._loop.serve(self.app, scope, chunks, bridged, environ, start_response), environ)
        scope["extensions"][NO_EVENT_LOOP] = {}
        exchange = _SteppedExchange(chunks, length, head_only, body, wraps_files)
        return _respond(_serve_stepwise(self.app, scope, exchange, environ, start_response), environ)

    def _scope(self, environ: Mapping[str, Any]) -> Scope:
        scope = scope_from_environ(environ)
        scheme = environ.get("wsgi.url_scheme")
        if scheme in ("http", "https"):
            scope["scheme"] = scheme
        if self._state:
            scope["state"] = dict(self._state)
        return scope

    def _start(self) -> None:
        """The lifespan startup, once per process, on the first request."""
        if self._started:
            return
        with self._lock:
            if self._started:
                return
            _install_errors_handler()
            try:
                if self._use_loop:
                    self._loop = _LoopThread(self.app)
                    self._state = self._loop.lifespan.state
                else:
                    self._blocking = BlockingLifespan(self.app)
                    self._state = self._blocking.state
                    self._blocking.startup()
            except LifespanFailure as exc:
                log.error("%s: every request gets a 500", exc)
                self._failure = exc
            atexit.register(self.close)
            self._started = True

    def close(self) -> None:
        """The lifespan shutdown (at the process's exit, or when called)."""
        try:
            if self._loop is not None:
                self._loop.close()
            elif self._blocking is not None:
                self._blocking.shutdown()
        except LifespanFailure as exc:
            log.error("%s", exc)
        self._loop = self._blocking = None


class _Input:
    """`wsgi.input`, read by the CGI rules: a read the server fails (its
    client went away: gunicorn's NoMoreData, mod_wsgi's "request data read
    error", both OSErrors) ends the body, and marks it cut off, so that the
    app sees a disconnect, as under ASGI, and not an error of its own."""

    def __init__(self, stream: Any) -> None:
        self._stream = stream
        self.broken = False

    def read(self, size: int) -> bytes:
        try:
            data: bytes = self._stream.read(size)
        except (OSError, ValueError):  # ValueError: a stream the server already closed
            self.broken = True
            return b""
        return data


def _answer(response: ASGIApp, environ: Mapping[str, Any], start_response: StartResponse) -> Iterable[bytes]:
    """A response of the gateway's own (a 400, 411 or 500), sent through the
    same writer as the app's."""
    scope: Scope = {"type": "http", "method": environ.get("REQUEST_METHOD", "GET"), "extensions": {}}
    exchange = _SteppedExchange(iter(()), 0, scope["method"] == "HEAD", _Input(None), False)
    return _respond(_serve_stepwise(response, scope, exchange, environ, start_response), environ)


def _respond(steps: Steps, environ: Mapping[str, Any]) -> Iterable[bytes]:
    """The WSGI response of a run the gateway drives to its first output:
    a file sent by its path goes back as the server's `wsgi.file_wrapper`,
    anything else streams from there."""
    try:
        first = next(steps)
    except StopIteration as end:
        file = end.value
        if file is None:
            return ()  # the whole response was its head
        try:
            wrapped: Iterable[bytes] = environ["wsgi.file_wrapper"](file, CHUNK_SIZE)
        except BaseException:
            file.close()
            raise
        return wrapped
    return _Started(first, steps)


class _Started:
    """The WSGI iterable of a response whose first piece came before the
    gateway returned: that piece, then the rest; `close` ends the run."""

    def __init__(self, first: bytes, rest: Steps) -> None:
        self._first: bytes | None = first
        self._rest = rest

    def __iter__(self) -> Iterator[bytes]:
        return self

    def __next__(self) -> bytes:
        first, self._first = self._first, None
        return next(self._rest) if first is None else first

    def close(self) -> None:
        self._rest.close()


class _SteppedExchange(PulledExchange):
    """A `PulledExchange` that parks the app after each piece of output, so
    that the WSGI iterable can yield it before the app goes on: the
    response streams, in flat memory. A pathsend (offered where the server
    wraps files) opens the file and ends the response: `file` is the
    server's to send."""

    __slots__ = ("body", "file", "pending", "wraps_files")

    def __init__(
        self, chunks: Iterator[bytes], length: int | None, head_only: bool, body: _Input, wraps_files: bool
    ) -> None:
        self.pending: list[bytes] = []
        self.body = body
        self.wraps_files = wraps_files
        self.file: SentFile | None = None
        super().__init__(chunks, length, self.pending.append, head_only)

    async def _pull(self) -> bytes | None:
        chunk = await super()._pull()
        if chunk is None and self.body.broken:
            self.abort()
        return chunk

    async def send(self, message: Message) -> None:
        await super().send(message)
        if self.pending:
            await Parked()

    async def send_path(self, message: Message) -> None:
        head, self.file = _take_file(self, message)
        self.pending.append(head)


def _take_file(exchange: _SteppedExchange | _BridgedExchange, message: Message) -> tuple[bytes, SentFile | None]:
    """A pathsend's head and file, for the server's wrapper: the response is
    complete here (the app has nothing more to send)."""
    if not exchange.wraps_files:
        raise RuntimeError("http.response.pathsend: this WSGI server gives no wsgi.file_wrapper")
    head, file = exchange.take_path(message)
    exchange.end_response()
    return head, file


def _serve_stepwise(
    app: ASGIApp, scope: Scope, exchange: _SteppedExchange, environ: Mapping[str, Any], start_response: StartResponse
) -> Steps:
    """Run the app with no event loop, a step per piece of output; a file
    it sends by its path is the return value, after its head went to
    `start_response` and the app has run to its end."""
    ended = False

    async def run() -> None:
        nonlocal ended
        try:
            await call_app(app, scope, exchange)
        finally:
            ended = True  # returned, raised, or ended by run_without_loop

    coroutine = run()
    out = _Output(start_response)
    token = _ERRORS.set(environ.get("wsgi.errors"))
    try:
        while not ended:
            run_without_loop(coroutine, until_parked=True)
            if ended:
                exchange.finish()
            for data in exchange.pending:
                yield from out.body(data)
            exchange.pending.clear()
    except BaseException:
        if exchange.file is not None:
            exchange.file.close()
        raise
    finally:
        coroutine.close()  # the server closed the iterable early: the app's finally blocks run
        _ERRORS.reset(token)
    return exchange.file


# Headers of one connection, not of the response: the WSGI server's to send
# (PEP 3333 forbids an app to give them; waitress and wsgiref refuse them).
_HOP_BY_HOP = frozenset(
    {
        "connection",
        "keep-alive",
        "proxy-authenticate",
        "proxy-authorization",
        "te",
        "trailers",
        "transfer-encoding",
        "upgrade",
    }
)


class _Output:
    """The CGI bytes of the one writer as WSGI wants them: the head, split
    into status and headers, given to `start_response`; the rest yielded."""

    def __init__(self, start_response: StartResponse) -> None:
        self._start_response = start_response
        self._started = False

    def body(self, data: bytes) -> Iterator[bytes]:
        if not self._started:
            data = self.start(data)
        if data:
            yield data

    def start(self, data: bytes) -> bytes:
        """The head to `start_response`; what follows it in `data` is returned."""
        head, _, data = data.partition(b"\r\n\r\n")
        status_line, *fields = head.decode("latin-1").split("\r\n")
        headers = [
            (name, value)
            for name, _, value in (field.partition(": ") for field in fields)
            if name.lower() not in _HOP_BY_HOP
        ]
        self._start_response(status_line.removeprefix("Status: "), headers)
        self._started = True
        return data


# What the loop's side puts on a request's queue for the server's thread.
_READ, _DATA, _FILE, _END = "read", "data", "file", "end"


class _LoopThread:
    """One event loop in a thread of its own, for apps that need one, and
    their lifespan on it."""

    def __init__(self, app: ASGIApp) -> None:
        import asyncio

        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self.loop.run_forever, name="asyncweb-wsgi-loop", daemon=True)
        self._thread.start()
        self.lifespan = Lifespan(app)
        asyncio.run_coroutine_threadsafe(self.lifespan.startup(), self.loop).result()

    def serve(
        self,
        app: ASGIApp,
        scope: Scope,
        chunks: Iterator[bytes],
        exchange: _BridgedExchange,
        environ: Mapping[str, Any],
        start_response: StartResponse,
    ) -> Steps:
        """The server's thread reads the body when the app asks for it and
        yields what it sends: `wsgi.input` is read in the thread it
        belongs to, and the app waits for each piece to be taken. A file
        sent by its path is the return value; the app's task ends when the
        server closes it."""
        import asyncio

        requests = exchange.requests

        async def run() -> None:
            _ERRORS.set(environ.get("wsgi.errors"))
            try:
                await call_app(app, scope, exchange)
                exchange.finish()  # what the app left unfinished: queued, not awaited
            finally:
                requests.put((_END, b"", None))

        future = asyncio.run_coroutine_threadsafe(run(), self.loop)
        out = _Output(start_response)
        handed_over = False
        try:
            while True:
                kind, data, reply = requests.get()
                if kind == _END:
                    return None
                if kind == _READ:
                    self.loop.call_soon_threadsafe(_resolve, reply, next(chunks, None))
                    continue
                file = exchange.file
                if kind == _FILE and file is not None:
                    file.on_close = future.cancel  # what the app still runs ends with the response
                    out.start(data)
                    handed_over = True
                    return file
                self.loop.call_soon_threadsafe(_resolve, reply, None)
                yield from out.body(data)
        except BaseException:
            if exchange.file is not None:
                exchange.file.close()
            raise
        finally:
            if not handed_over:
                future.cancel()  # the server closed the iterable early (its client went away)

    def close(self) -> None:
        import asyncio

        try:
            asyncio.run_coroutine_threadsafe(self.lifespan.shutdown(), self.loop).result(timeout=30)
        finally:
            self.loop.call_soon_threadsafe(self.loop.stop)
            self._thread.join(timeout=30)
            if not self._thread.is_alive():  # its selector and self-pipe, else left open
                self.loop.close()


class _BridgedExchange(PulledExchange):
    """The loop's side of a request whose body and output cross to the
    server's thread, on `requests`. A pathsend (offered where the server
    wraps files) opens the file here and hands it over as `file`."""

    __slots__ = ("_body", "_loop", "file", "requests", "wraps_files")

    def __init__(self, length: int | None, head_only: bool, loop: Any, body: _Input, wraps_files: bool) -> None:
        self.requests: queue.SimpleQueue[tuple[str, bytes, asyncio.Future[Any] | None]] = queue.SimpleQueue()
        self._loop = loop
        self._body = body
        self.wraps_files = wraps_files
        self.file: SentFile | None = None
        super().__init__(iter(()), length, self._queue_output, head_only)

    async def _pull(self) -> bytes | None:
        reply = self._loop.create_future()
        self.requests.put((_READ, b"", reply))
        chunk: bytes | None = await reply
        if chunk is None and self._body.broken:  # read by the server's thread, before it answered
            self.abort()
        return chunk

    def _queue_output(self, data: bytes) -> None:
        self.requests.put((_DATA, data, None))

    async def send(self, message: Message) -> None:
        if message["type"] == PATHSEND:
            await self.send_path(message)
            return
        data = self.respond(message)
        if data:
            await self._hand_over(data)

    async def send_path(self, message: Message) -> None:
        head, self.file = _take_file(self, message)
        self.requests.put((_FILE if self.file is not None else _DATA, head, None))

    async def _hand_over(self, data: bytes) -> None:
        reply = self._loop.create_future()
        self.requests.put((_DATA, data, reply))
        await reply  # taken by the server's thread: backpressure, one piece at a time


def _resolve(reply: asyncio.Future[Any] | None, value: object) -> None:
    if reply is not None and not reply.done():
        reply.set_result(value)


_handler_installed = False


def _install_errors_handler() -> None:
    global _handler_installed
    if not _handler_installed:
        handler = _ToWSGIErrors()
        handler.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))
        logging.getLogger("asyncweb").addHandler(handler)
        _handler_installed = True
