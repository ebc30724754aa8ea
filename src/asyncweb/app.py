"""App: PEP 222's `wrapper`, as an ASGI 3 application around a handler."""

from __future__ import annotations

import contextlib
from collections.abc import Awaitable, Callable, Iterable, Mapping

from ._config import Config, digest_name
from ._log import log as asyncweb_log
from .errors import ClientDisconnect, HTTPError
from .limits import Limits, MiB
from .request import Request
from .response import Response, has_no_body
from .types import Message, Receive, Scope, Send, has_event_loop
from .urls import host_allowed, strip_port, valid_host

TYPE_CHECKING = False
if TYPE_CHECKING:
    import logging
    from typing import Any

    from .forms.uploads import TargetFunction

# "logging.Logger" as a string: logging is imported only when a log is used (`_log`).
AsyncHandler = Callable[[Request, Response, "logging.Logger"], Awaitable[None]]
SyncHandler = Callable[[Request, Response, "logging.Logger"], None]
Handler = AsyncHandler | SyncHandler
Hook = Callable[[], Awaitable[None]]
_new = object.__new__

_NO_LOOP_HINT = (
    " (served with no event loop, as the CGI host and the WSGI gateway serve an App when nothing imported"
    " asyncio: a handler that needs one, e.g. for httpx.AsyncClient, wants `event_loop=True`:"
    " `asyncweb.run(app, event_loop=True)` or `WSGIGateway(app, event_loop=True)`)"
)


class App:
    """`App(handler)` serves `async def handler(request, response, log)`, or
    a plain `def handler(request, response, log)`.

    The handler fills in `response`; whatever it raises is trapped: an
    `HTTPError` becomes that answer, anything else is logged through `log`
    with its traceback and answered with a plain 500.

    Form bodies are parsed before the handler runs, so `get_field` works
    synchronously as PEP 222 has it; `parse_forms=False` leaves the body to
    the handler (`await request.form()`, `request.stream()`). A plain
    function runs in a worker thread under an ASGI server (at most
    `threads` at once: anyio's default limiter, 40, when None), after the
    form is parsed, and reads any other body with `request.read_body()`;
    with no event loop (CGI, WSGI, `asyncweb call`) it is called directly.
    `upload_digest="sha256"` (any hashlib name) gives each upload its
    `hexdigest`, computed as its bytes arrive, with no second read. On
    lifespan startup the App tunes glibc malloc for large bodies (`asyncweb._malloc`;
    `tune_malloc=False` to keep the defaults).
    """

    def __init__(
        self,
        handler: Handler,
        *,
        log: logging.Logger | None = None,
        strict_parsing: bool = False,
        trust_proxy: bool = False,
        allowed_hosts: Iterable[str] | None = None,
        limits: Limits | None = None,
        parse_forms: bool = True,
        upload_dir: str | None = None,
        spool_size: int = MiB,
        upload_target: TargetFunction | None = None,
        upload_digest: str | None = None,
        tune_malloc: bool = True,
        on_startup: Hook | None = None,
        on_shutdown: Hook | None = None,
        threads: int | None = None,
    ) -> None:
        if not callable(handler):
            raise TypeError(
                f"the handler is a function (def or async def handler(request, response, log)), not {handler!r}"
            )
        self.handler = handler
        self.is_sync = not _is_async(handler)
        if threads is not None and threads < 1:
            raise ValueError(f"threads must be at least 1, not {threads}")
        self.threads = threads
        self._limiter: Any = None  # an anyio CapacityLimiter, made in the first loop that needs it
        self.log = log if log is not None else asyncweb_log
        self.config = Config(
            strict_parsing=strict_parsing,
            trust_proxy=trust_proxy,
            limits=limits or Limits(),
            parse_forms=parse_forms,
            upload_dir=upload_dir,
            spool_size=spool_size,
            upload_target=upload_target,
            upload_digest=digest_name(upload_digest),
            allowed_hosts=None if allowed_hosts is None else _host_patterns(allowed_hosts),
        )
        self.tune_malloc = tune_malloc
        self.on_startup = on_startup
        self.on_shutdown = on_shutdown

    @property
    def config(self) -> Config:
        return self._config

    @config.setter
    def config(self, config: Config) -> None:
        self._config = config
        # One test per request for the options checked before the handler, when both are off.
        self._gated = config.allowed_hosts is not None or config.strict_parsing

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self._other(scope, receive, send)
            return
        config = self._config
        method = scope["method"]
        # Request(...) and Response() without the class calls, which run
        # __init__ through C: on CPython 3.11 that costs more than the bare
        # object and one call from Python.
        request = _new(Request)
        request._begin(scope, receive, config)
        response = _new(Response)
        response._clear()
        try:
            # The handler is called here, not in a coroutine of its own: this runs for every request.
            try:
                if self._gated:
                    allowed = config.allowed_hosts
                    if allowed is not None and not host_allowed(request.requested_host, allowed):
                        # Before the body is read: a forged Host must not reach URLs the handler builds.
                        raise HTTPError(400, "this server does not serve the host the request names")
                    if config.strict_parsing:
                        request.query  # noqa: B018 - strict mode refuses a bad query before the handler runs
                if method not in ("GET", "HEAD") and config.parse_forms and request.has_form_body:
                    await request.form()
                if self.is_sync:
                    await self._call_sync(request, response, scope)
                else:
                    await self.handler(request, response, self.log)  # type: ignore[misc]
            except Exception as error:
                failed = self._failed(error, scope)
                response.close()  # a file the handler set is not sent
                if failed is None:
                    return
                response = failed
            try:
                raw_headers = response.raw_headers()
            except Exception:
                self.log.exception("bad response for %s %s", method, scope["path"])
                response.close()
                response = error_response(500)
                raw_headers = response.raw_headers()
            status = response.status
            await send({"type": "http.response.start", "status": status, "headers": raw_headers})
            body = response.body
            try:
                if type(body) is bytes:  # the common case, in one message as send_body sends it
                    # A 200 has a body: the status test spares has_no_body's call for nearly every answer.
                    if (status != 200 and has_no_body(status)) or method == "HEAD":
                        body = b""
                    await send({"type": "http.response.body", "body": body, "more_body": False})
                else:
                    await self._send_stream(response, scope, send, request)
            except ClientDisconnect:
                self.log.debug("client went away while the response was sent for %s %s", method, scope["path"])
            except Exception:
                # The status line is gone: all that is left is to end the
                # connection, which the server does when the app returns early.
                self.log.exception("error while streaming the response to %s %s", method, scope["path"])
        finally:
            # Uploads live until the response is sent: it may stream them.
            if request._form is not None:  # close() has nothing else to do
                request.close()
            if response._file is not None:  # a file is closed once sent, and here if it was not
                response.close()

    async def _other(self, scope: Scope, receive: Receive, send: Send) -> None:
        kind = scope["type"]
        if kind == "lifespan":
            await self._lifespan(receive, send)
        elif kind == "websocket":
            # Refuse the handshake: the server answers 403 and nothing breaks.
            await receive()
            await send({"type": "websocket.close", "code": 1000})
        else:
            raise ValueError(f"asyncweb.App cannot serve ASGI scope type {kind!r}")

    def _failed(self, error: Exception, scope: Scope) -> Response | None:
        """The answer to what the handler (or the form reading before it)
        raised: an HTTPError's own, a 500 for the rest, None when the client
        went away (nothing is sent)."""
        if isinstance(error, HTTPError):
            try:
                return error_response(error.status, error.message, error.headers)
            except (TypeError, ValueError):  # headers with CR/LF or other unsendable text
                self.log.exception("bad headers in %r for %s %s", error, scope["method"], scope["path"])
                return error_response(500)
        if isinstance(error, ClientDisconnect):
            self.log.debug("client went away during %s %s", scope["method"], scope["path"])
            return None
        # asyncio's "no running event loop", sniffio's and run_without_loop's
        # refusals are RuntimeErrors: those get the way out (not a plain
        # function, which awaits nothing).
        no_loop = isinstance(error, RuntimeError) and not has_event_loop(scope) and not self.is_sync
        hint = _NO_LOOP_HINT if no_loop else ""
        self.log.exception("error in handler for %s %s%s", scope["method"], scope["path"], hint)
        return error_response(500)

    async def _call_sync(self, request: Request, response: Response, scope: Scope) -> None:
        """A plain-function handler: called as it is with no event loop,
        else in a worker thread, so that it blocks no other request."""
        if not has_event_loop(scope):
            self.handler(request, response, self.log)
            return
        import anyio.to_thread

        if self.threads is not None and self._limiter is None:
            self._limiter = anyio.CapacityLimiter(self.threads)
        await anyio.to_thread.run_sync(self.handler, request, response, self.log, limiter=self._limiter)

    async def _send_stream(self, response: Response, scope: Scope, send: Send, request: Request) -> None:
        """A body that is not bytes: a stream, watched for a client gone away
        once the request body has all arrived."""
        if scope["method"] != "HEAD" and request.body_complete and has_event_loop(scope):
            await self._stream_until_disconnect(response, scope, send, request)
        else:
            await response.send_body(send, scope["method"] == "HEAD", scope=scope)

    async def _stream_until_disconnect(self, response: Response, scope: Scope, send: Send, request: Request) -> None:
        """Stream the body until it ends or the client goes away. Servers
        such as uvicorn drop what is sent after a disconnect without a word,
        so an endless (or merely long) stream would run on for nobody."""
        import anyio.lowlevel  # here: the CGI runner serves without anyio

        # From now on the request's reads go through the watcher, which keeps
        # for them any body message it takes while waiting for a disconnect.
        receiver = request._receive = _Receiver(request._receive)
        body = response.body
        unyielded = 0

        async def send_and_yield(message: Message) -> None:
            # After a disconnect uvicorn's send returns at once: without a
            # checkpoint now and then, a body that never awaits would run to
            # its end before the watcher could see the client was gone.
            nonlocal unyielded
            await send(message)
            unyielded += len(message.get("body", b""))
            if unyielded >= MiB:
                unyielded = 0
                await anyio.lowlevel.checkpoint()

        try:
            async with anyio.create_task_group() as group:

                async def watch() -> None:
                    with contextlib.suppress(Exception):  # a server whose receive fails: stream on unwatched
                        await receiver.wait_for_disconnect()
                        self.log.debug("client went away while the response streamed")
                        group.cancel_scope.cancel()

                group.start_soon(watch)
                try:
                    await response.send_body(send_and_yield, scope=scope)
                except ClientDisconnect:  # here, not out of the group: a vanished client is no error
                    self.log.debug("client went away while the response streamed")
                group.cancel_scope.cancel()
        finally:
            aclose = getattr(body, "aclose", None)
            if aclose is not None:
                await aclose()

    async def _lifespan(self, receive: Receive, send: Send) -> None:
        while True:
            message = await receive()
            phase = message["type"].rpartition(".")[2]  # "startup" or "shutdown"
            if phase == "startup" and self.tune_malloc:
                # Lifespan means this App is a server's app: the process is
                # ours to tune. Embedded or in-process use is left alone.
                from ._malloc import tune_malloc

                if tune_malloc():  # said only when done: a CGI process is not tuned, nor is its logging loaded
                    self.log.debug("glibc malloc tuned for large bodies")
            hook = self.on_startup if phase == "startup" else self.on_shutdown
            try:
                if hook is not None:
                    await hook()
            except Exception as error:
                self.log.exception("lifespan %s failed", phase)
                await send({"type": f"lifespan.{phase}.failed", "message": repr(error)})
                return
            await send({"type": f"lifespan.{phase}.complete"})
            if phase == "shutdown":
                return


def _host_patterns(patterns: Iterable[str]) -> tuple[str, ...]:
    """`allowed_hosts` checked and made lower case: names, `*.name`, `*`."""
    if isinstance(patterns, str):
        raise TypeError("allowed_hosts is a list of host names, not one string")
    checked = []
    for pattern in patterns:
        name = pattern.lower().removesuffix(".")  # one: the root's dot of a fully qualified name
        host = name.removeprefix("*.")
        # A port, a stray '*', or a dot at either end ("*." and ".name" among them).
        bad = strip_port(host) != host or "*" in host or host.strip(".") != host or not valid_host(host)
        if pattern != "*" and bad:
            raise ValueError(f"allowed_hosts: {pattern!r} is not a host name, '*.name' or '*'")
        checked.append(name)
    return tuple(checked)


def _is_async(handler: Handler) -> bool:
    """Whether `handler` is an async function, or an object with an async
    `__call__`. Plain functions are told by their code flags, without
    importing inspect, which a CGI request's start-up would pay for."""
    code = getattr(handler, "__code__", None)
    if code is not None and code.co_flags & 0x80:  # inspect.CO_COROUTINE
        return True
    import inspect

    call = getattr(handler, "__call__", None)  # noqa: B004 - an object with an async __call__ is fine too
    return inspect.iscoroutinefunction(handler) or inspect.iscoroutinefunction(call)


def error_response(
    status: int,
    message: str = "",
    headers: Mapping[str, str] | Iterable[tuple[str, str]] | None = None,
) -> Response:
    response = Response(status, headers)
    response.error(status, message or None)
    return response


class _Receiver:
    """The server's `receive` while a response streams and a watcher waits
    for the client to go away: what the watcher takes that is not the
    disconnect (the empty end of a body nobody read yet) is kept for the
    request's next read."""

    __slots__ = ("_held", "_receive")

    def __init__(self, receive: Receive) -> None:
        self._receive = receive
        self._held: Message | None = None

    async def __call__(self) -> Message:
        if self._held is not None:
            message, self._held = self._held, None
            return message
        return await self._receive()

    async def wait_for_disconnect(self) -> None:
        while True:
            message = await self._receive()
            if message["type"] == "http.disconnect":
                return
            self._held = message  # the empty end of a body nobody read yet: kept for its reader
