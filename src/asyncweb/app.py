"""App: PEP 222's `wrapper`, as an ASGI 3 application around a handler."""

from __future__ import annotations

import inspect
import logging
from collections.abc import Awaitable, Callable, Iterable, Mapping

from .config import Config
from .errors import ClientDisconnect, HTTPError
from .limits import Limits, MiB
from .request import Request
from .response import Response
from .types import Receive, Scope, Send
from .uploads import TargetFunction

Handler = Callable[[Request, Response, logging.Logger], Awaitable[None]]
Hook = Callable[[], Awaitable[None]]


class App:
    """`App(handler)` serves `async def handler(request, response, log)`.

    The handler fills in `response`; whatever it raises is trapped: an
    `HTTPError` becomes that answer, anything else is logged through `log`
    with its traceback and answered with a plain 500.

    Form bodies are parsed before the handler runs, so `get_field` works
    synchronously as PEP 222 has it; `parse_forms=False` leaves the body to
    the handler (`await request.form()`, `request.stream()`). On lifespan
    startup the App tunes glibc malloc for large bodies (`asyncweb.malloc`;
    `tune_malloc=False` to keep the defaults).
    """

    def __init__(
        self,
        handler: Handler,
        *,
        log: logging.Logger | None = None,
        strict_parsing: bool = False,
        trust_proxy: bool = False,
        limits: Limits | None = None,
        parse_forms: bool = True,
        upload_dir: str | None = None,
        spool_size: int = MiB,
        upload_target: TargetFunction | None = None,
        tune_malloc: bool = True,
        on_startup: Hook | None = None,
        on_shutdown: Hook | None = None,
    ) -> None:
        if not inspect.iscoroutinefunction(handler) and not inspect.iscoroutinefunction(
            getattr(handler, "__call__", None)  # noqa: B004 - an object with an async __call__ is fine too
        ):
            raise TypeError(
                f"the handler must be an async function (async def handler(request, response, log)), not {handler!r}"
            )
        self.handler = handler
        self.log = log if log is not None else logging.getLogger("asyncweb")
        self.config = Config(
            strict_parsing=strict_parsing,
            trust_proxy=trust_proxy,
            limits=limits or Limits(),
            parse_forms=parse_forms,
            upload_dir=upload_dir,
            spool_size=spool_size,
            upload_target=upload_target,
        )
        self.tune_malloc = tune_malloc
        self.on_startup = on_startup
        self.on_shutdown = on_shutdown

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        kind = scope["type"]
        if kind == "http":
            await self._http(scope, receive, send)
        elif kind == "lifespan":
            await self._lifespan(receive, send)
        elif kind == "websocket":
            # Refuse the handshake: the server answers 403 and nothing breaks.
            await receive()
            await send({"type": "websocket.close", "code": 1000})
        else:
            raise ValueError(f"asyncweb.App cannot serve ASGI scope type {kind!r}")

    async def _http(self, scope: Scope, receive: Receive, send: Send) -> None:
        request = Request(scope, receive, self.config)
        try:
            response = await self._respond(request, scope)
            if response is not None:
                await self._send(response, scope, send)
        finally:
            # Uploads live until the response is sent: it may stream them.
            request.close()

    async def _respond(self, request: Request, scope: Scope) -> Response | None:
        response = Response()
        try:
            if self.config.strict_parsing:
                request.query  # noqa: B018 - strict mode refuses a bad query before the handler runs
            if self.config.parse_forms and request.has_form_body:
                await request.form()
            await self.handler(request, response, self.log)
        except HTTPError as error:
            try:
                return error_response(error.status, error.message, error.headers)
            except (TypeError, ValueError):  # headers with CR/LF or other unsendable text
                self.log.exception("bad headers in %r for %s %s", error, scope["method"], scope["path"])
                return error_response(500)
        except ClientDisconnect:
            self.log.debug("client went away during %s %s", scope["method"], scope["path"])
            return None
        except Exception:
            self.log.exception("error in handler for %s %s", scope["method"], scope["path"])
            return error_response(500)
        return response

    async def _send(self, response: Response, scope: Scope, send: Send) -> None:
        try:
            raw_headers = response.raw_headers()
        except Exception:
            self.log.exception("bad response for %s %s", scope["method"], scope["path"])
            response = error_response(500)
            raw_headers = response.raw_headers()
        await send({"type": "http.response.start", "status": response.status, "headers": raw_headers})
        try:
            await response.send_body(send, scope["method"] == "HEAD")
        except Exception:
            # The status line is gone: all that is left is to end the
            # connection, which the server does when the app returns early.
            self.log.exception("error while streaming the response to %s %s", scope["method"], scope["path"])

    async def _lifespan(self, receive: Receive, send: Send) -> None:
        while True:
            message = await receive()
            phase = message["type"].rpartition(".")[2]  # "startup" or "shutdown"
            if phase == "startup" and self.tune_malloc:
                # Lifespan means this App is a server's app: the process is
                # ours to tune. Embedded or in-process use is left alone.
                from .malloc import tune_malloc

                self.log.debug("glibc malloc tuned for large bodies: %s", tune_malloc())
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


def error_response(
    status: int,
    message: str = "",
    headers: Mapping[str, str] | Iterable[tuple[str, str]] | None = None,
) -> Response:
    response = Response(status, headers)
    response.error(status, message or None)
    return response
