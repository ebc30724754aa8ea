"""The Request: PEP 222's read side, built lazily from an ASGI scope.

Nothing is parsed until the handler asks for it: the query on first use of
`query`, cookies on first use of `cookies`, and so on.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Callable, Generator, Iterable, Iterator, Mapping
from contextlib import AbstractContextManager, nullcontext
from types import MappingProxyType

from ._config import DEFAULT_CONFIG, Config
from ._fieldsyntax import join_header_values, parse_length
from .cookies import parse_cookies
from .errors import ClientDisconnect, HTTPError, PayloadTooLarge
from .forms.reader import URLENCODED, FormData, form_type, parse_urlencoded, read_form
from .forms.uploads import UploadFile
from .headers import Headers, header_values
from .multidict import MultiDict
from .query import parse_query
from .types import CGI_ENVIRON, Message, Receive, Scope, has_event_loop, overload
from .urls import URLParts, chop, first_components, split_path
from .useragent import browser_family

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any, TypeGuard

    import anyio

Query = MultiDict[str | None]
_SMALL = 64 * 1024  # a body this size or less is expected in one message
_UNWATCHED: AbstractContextManager[None] = nullcontext()


def _is_small(declared: int | None) -> TypeGuard[int]:
    return declared is not None and declared <= _SMALL


def _deadline_clock() -> Callable[[], float]:
    """The clock of the running backend's cancel scope deadlines, as cheap
    to read per message as it gets: on asyncio the loop's own `time` (right
    for a loop with a virtual clock too), time.monotonic itself where that
    method is asyncio's own, which only calls it; else anyio.current_time."""
    import asyncio

    try:
        loop = asyncio.get_running_loop()
    except RuntimeError:  # trio
        import anyio

        return anyio.current_time
    if type(loop).time is asyncio.BaseEventLoop.time:  # a Python call per message spared
        import time

        return time.monotonic
    return loop.time


def _describe(upload: UploadFile) -> str:
    return f"{upload.filename!r} ({upload.content_type or 'no type'}, {upload.size} bytes)"


def _without_blanks(pairs: Iterable[tuple[str, str | None]]) -> list[tuple[str, str | None]]:
    return [(name, value) for name, value in pairs if value]


async def _receive_within(receive: Receive, timeout: float) -> Message:
    """`receive()`, or 408 after `timeout` seconds without a message. A
    message that is already there (a small body's usually is) is taken
    without a timer: `receive()` is stepped once by hand, and only if it has
    to wait is the timer armed, around the rest of it (`_Rest`). On asyncio
    its own timeout, the cheapest timer there; anyio's elsewhere. Imported
    here: with no event loop (CGI) nothing is timed."""
    steps = receive().__await__()
    if not hasattr(steps, "send"):  # a plain iterator (granian's futures): stepped through a generator
        steps = _delegated(steps)
    try:
        signal = steps.send(None)
    except StopIteration as done:
        message: Message = done.value
        return message
    import asyncio

    try:
        asyncio.get_running_loop()
    except RuntimeError:  # trio
        import anyio

        with anyio.move_on_after(timeout):
            return await _Rest(steps, signal)
    else:
        try:
            async with asyncio.timeout(timeout):
                return await _Rest(steps, signal)
        except TimeoutError:
            pass
    raise HTTPError(408, f"no body data for {timeout:g} seconds")


def _delegated(steps: Any) -> Generator[Any, Any, Message]:
    message: Message = yield from steps
    return message


class _Rest:
    """The rest of an awaitable that was stepped once by hand and yielded
    `signal` (what it waits on, for the event loop): awaiting this passes
    that and all that follows between the loop and the awaitable, as
    `await` would have (PEP 380's delegation, cancellation included)."""

    __slots__ = ("_signal", "_steps")

    def __init__(self, steps: Generator[Any, Any, Message], signal: object) -> None:
        self._steps = steps
        self._signal = signal

    def __await__(self) -> Generator[Any, Any, Message]:
        steps, signal = self._steps, self._signal
        while True:
            try:
                sent = yield signal
            except GeneratorExit:
                steps.close()
                raise
            except BaseException as error:  # a cancellation, the timer's among them
                try:
                    signal = steps.throw(error)
                except StopIteration as done:
                    return done.value  # type: ignore[no-any-return]
            else:
                try:
                    signal = steps.send(sent)
                except StopIteration as done:
                    return done.value  # type: ignore[no-any-return]


async def _no_body() -> Message:
    return {"type": "http.request", "body": b"", "more_body": False}


class Request:
    """One HTTP request.

    `path` is the path below the app's mount point (CGI's PATH_INFO) and
    `root_path` the mount point (SCRIPT_NAME), whatever convention the
    server follows for the ASGI scope.
    """

    __slots__ = (
        "_body",
        "_body_done",
        "_config",
        "_content",
        "_cookies",
        "_env",
        "_fields",
        "_form",
        "_headers",
        "_query",
        "_receive",
        "_stream_used",
        "_url_parts",
        "_watchdog",
        "path",
        "scope",
    )

    def __init__(self, scope: Scope, receive: Receive = _no_body, config: Config = DEFAULT_CONFIG) -> None:
        self._begin(scope, receive, config)

    def _begin(self, scope: Scope, receive: Receive, config: Config) -> None:
        """`__init__`'s work, which the App calls itself on the object (see
        `App.__call__`)."""
        self.scope = scope
        # Worked out now, not in a property: nearly every handler reads it, often
        # more than once, and a property costs more than this in 3.11.
        # One rule under every gateway: the path below the mount point,
        # always starting with "/" (the mount point itself, which CGI gives
        # as an empty PATH_INFO, is "/"), as Werkzeug's is.
        try:  # two indexes cost less than two get() calls; servers send both keys
            path: str = scope["path"]
            root: str = scope["root_path"]
        except KeyError:  # a scope made by hand: ASGI makes root_path optional
            path, root = scope.get("path", ""), scope.get("root_path", "")
        self.path: str = (split_path(scope)[1] if root else path) or "/"
        self._receive = receive
        self._config = config
        self._headers: Headers | None = None
        self._content: tuple[str, str | None, int | None] | None = None
        self._query: Query | None = None
        self._cookies: dict[str, str] | None = None
        self._fields: Query | None = None
        self._form: FormData | None = None
        self._env: Mapping[str, str] | None = None
        self._url_parts: URLParts | None = None
        self._body: bytes | None = None
        self._body_done = False  # the last body message (or a disconnect) was received
        self._stream_used = False
        self._watchdog: anyio.CancelScope | None = None

    # -- the request line -------------------------------------------------
    @property
    def method(self) -> str:
        method: str = self.scope["method"]
        return method

    @property
    def root_path(self) -> str:
        return split_path(self.scope)[0]

    @property
    def query_string(self) -> str:
        raw: bytes = self.scope.get("query_string", b"")
        return raw.decode("latin-1")

    @property
    def query(self) -> Query:
        """The URL's query: `?a&b=&c=1` gives a=None, b='', c='1'."""
        if self._query is None:
            pairs = parse_query(self.scope.get("query_string", b""), self._config.strict_parsing)
            limit = self._config.limits.max_fields
            if len(pairs) > limit:  # the body's fields are counted as they stream; the URL's here
                raise PayloadTooLarge(f"more than {limit} fields in the query")
            self._query = MultiDict(pairs if self._config.keep_blank_values else _without_blanks(pairs))
        return self._query

    # -- headers and cookies ----------------------------------------------
    @property
    def headers(self) -> Headers:
        if self._headers is None:
            self._headers = Headers(self.scope.get("headers", ()))
        return self._headers

    @property
    def cookies(self) -> dict[str, str]:
        if self._cookies is None:
            # Headers.get_joined("cookie"), read off the scope's list without
            # making the Headers: most handlers that read cookies read no header.
            values = header_values(self.scope.get("headers", ()), b"cookie")
            if values:  # several fields (HTTP/2 splits them) are joined by the one rule
                self._cookies = parse_cookies(values[0] if len(values) == 1 else join_header_values("cookie", values))
            else:
                self._cookies = {}
        return self._cookies

    def _content_headers(self) -> tuple[str, str | None, int | None]:
        """The body's Content-Type ('' for none), its form type (`form_type`)
        and its declared length, read once off the scope's list: reading
        the body asks for them again and again."""
        if self._content is None:
            kind = length = None
            for name, value in self.scope.get("headers", ()):  # one pass for both
                if name == b"content-type":
                    if kind is None:  # the first of each, as Headers.get gives it
                        kind = value
                elif name == b"content-length" and length is None:
                    length = value
            content_type = "" if kind is None else kind.decode("latin-1")
            declared = None if length is None else parse_length(length.decode("latin-1"))
            self._content = (content_type, form_type(content_type), declared)
        return self._content

    def get_header(self, name: str, default: str | None = None) -> str | None:
        return self.headers.get(name, default)

    def get_cookie(self, name: str, default: str | None = None) -> str | None:
        return self.cookies.get(name, default)

    # -- form data --------------------------------------------------------
    @property
    def has_form_body(self) -> bool:
        """True when the body is urlencoded or multipart form data."""
        return self.method not in ("GET", "HEAD") and self._content_headers()[1] is not None

    async def form(self) -> FormData:
        """Parse the form body as it streams in (once; later calls return
        the same form). The App does this before the handler runs unless it
        was made with `parse_forms=False`. A body of another type is 415."""
        if self._form is None:
            content_type, kind, declared = self._content_headers()
            if kind is None:
                raise HTTPError(415, "expected a urlencoded or multipart form body")
            if kind == URLENCODED and _is_small(declared):
                # Read whole and parsed whole, which costs least.
                self._form = parse_urlencoded(await self._small_body(declared), self._config)
            else:
                with self._read_watchdog():
                    self._form = await read_form(self.stream(), content_type, self._config)
        return self._form

    @property
    def fields(self) -> Query:
        """Form data: the query for GET and HEAD, the body's non-file fields
        for a form post. The two are never merged (PEP 222 rejected that)."""
        if self._fields is None:
            if self._form is not None:
                fields = self._form.fields
                self._fields = (
                    fields if self._config.keep_blank_values else MultiDict(_without_blanks(fields.multi_items()))
                )
            elif self.method in ("GET", "HEAD"):
                self._fields = self.query
            elif self.has_form_body:
                raise RuntimeError("the form is not parsed yet: await request.form() first")
            else:
                self._fields = MultiDict()
        return self._fields

    @property
    def files(self) -> MultiDict[UploadFile]:
        """Uploaded files by field name, in body order. A file input left
        empty ("no file chosen") is not here."""
        return self._form.files if self._form is not None else MultiDict()

    @overload
    def get_field(self, name: str) -> str | None: ...
    @overload
    def get_field(self, name: str, default: str) -> str: ...
    @overload
    def get_field(self, name: str, default: None) -> str | None: ...
    def get_field(self, name: str, default: str | None = None) -> str | None:
        """The first value of a field as text, or `default` when the field
        is missing or has no value (a bare `?name`): with a str default the
        answer is always a str. A file field gives its content as text.
        `name in request.fields` and `request.fields[name]` (None for `?a`,
        '' for `?a=`) keep the difference."""
        fields = self.fields
        if name in fields:
            value = fields[name]
            return default if value is None else value
        upload = self.files.get(name)
        return upload.read_text() if upload is not None else default

    def get_uploaded_file(self, name: str) -> UploadFile | None:
        """The first file uploaded as `name`; None when no file was chosen,
        and for a plain field of that name (its text is `get_field`'s), so
        that `upload.save(...)` only ever saves a file the client sent."""
        return self.files.get(name)

    def close(self) -> None:
        """Close uploaded files and delete their temp files (the App does
        this once the response is sent; `with parse_request(...) as request:`
        does it at the end of the block)."""
        if self._form is not None:
            self._form.close()

    def __enter__(self) -> Request:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    # -- the body, for handlers that read it themselves ---------------------
    def stream(self) -> AsyncIterator[bytes]:
        """The body as it arrives, at most `Limits.max_body_size` bytes."""
        return self._chunks(None, None, None)

    def _start_body(self) -> tuple[int | None, float | None]:
        """The body is taken now (once): a declared length over the limit is
        refused before any of it is read. Returns the limit and the timeout
        of each read."""
        if self._stream_used:
            raise RuntimeError("the request body was already consumed")
        self._stream_used = True
        limit = self._config.limits.max_body_size
        declared = self._content_headers()[2]
        if limit is not None and declared is not None and declared > limit:
            raise PayloadTooLarge(f"the body is larger than {limit} bytes")
        return limit, self._read_timeout()

    async def _small_body(self, declared: int) -> bytes:
        """A small body (`_is_small`), whole. It comes in one message as a
        rule, which is taken as it is, without the streaming machinery (and
        no watchdog: each wait on a small body is timed, see `_read_watchdog`);
        anything else goes on through `_chunks`. Held in memory, it is never
        more than declared, whatever the server lets by."""
        limit, timeout = self._start_body()
        receive = self._receive
        message = await (receive() if timeout is None else _receive_within(receive, timeout))
        body: bytes = message.get("body", b"")
        if not message.get("more_body", False) and message["type"] == "http.request" and len(body) <= declared:
            self._body_done = True
            # Within the limit, as the declared length is; bytes, as a join would give.
            return body if type(body) is bytes else bytes(body)
        chunks = []
        size = 0
        async for chunk in self._chunks(message, limit, timeout):
            size += len(chunk)
            if size > declared:
                raise HTTPError(400, "the body is longer than its Content-Length")
            chunks.append(chunk)
        return b"".join(chunks)

    async def _chunks(self, first: Message | None, limit: int | None, timeout: float | None) -> AsyncIterator[bytes]:
        """`stream()` (no `first`), or what follows `_small_body`'s `first`
        message, with the limit and timeout its `_start_body()` gave."""
        if first is None:
            if self._body is not None:
                yield self._body
                return
            limit, timeout = self._start_body()
        watchdog = self._watchdog
        if watchdog is not None and timeout is not None and first is None:  # a large body (`_read_watchdog`)
            clock = _deadline_clock()
            silence = timeout  # a float, as the loop's arithmetic needs
            # When to move the deadline (less than one timeout left), kept here
            # rather than read off the scope for each message.
            renew_at = watchdog.deadline - silence
        else:
            watchdog = None
        received = 0
        while True:
            if watchdog is not None:  # tested first: this runs for every chunk of a large upload
                now = clock()
                if now > renew_at:
                    watchdog.deadline = now + 1.5 * silence
                    renew_at = now + 0.5 * silence
                message = await self._receive()
            elif first is not None:
                message, first = first, None
            elif timeout is None:
                message = await self._receive()
            else:
                message = await _receive_within(self._receive, timeout)
            if message["type"] == "http.disconnect":
                self._body_done = True
                raise ClientDisconnect()
            more = message.get("more_body", False)
            if not more:
                self._body_done = True
            chunk: bytes = message.get("body", b"")
            received += len(chunk)
            if limit is not None and received > limit:
                raise PayloadTooLarge(f"the body is larger than {limit} bytes")
            if chunk:
                yield chunk
            if not more:
                return

    @property
    def body_complete(self) -> bool:
        """The body has all arrived, or there is none: HTTP/1 says so in the
        headers; HTTP/2 and 3 do not, so there the body must have been read.
        (The App watches for a disconnect while a response streams only then,
        so as to take no body bytes from anyone.)"""
        if not self._body_done and self.scope.get("http_version", "1.1") in ("1.0", "1.1"):
            headers = dict(self.scope.get("headers", ()))
            length = headers.get(b"content-length", b"0").strip()
            self._body_done = b"transfer-encoding" not in headers and length == b"0"
        return self._body_done

    def read_body(self) -> bytes:
        """`await body()` for a plain-function handler: from its worker
        thread under an ASGI server, or directly with no event loop (CGI,
        WSGI, `asyncweb call`, `parse_request`)."""
        if self._body is not None:
            return self._body
        if not has_event_loop(self.scope):
            from .cgi.noloop import run_without_loop

            body = run_without_loop(self.body())
            if body is None:  # what it awaited needs a loop; run_without_loop said so
                raise RuntimeError("the body cannot be read without an event loop")
            return body
        import asyncio

        try:
            asyncio.get_running_loop()
        except RuntimeError:  # a worker thread, as a plain-function handler runs in
            import anyio.from_thread

            return anyio.from_thread.run(self.body)
        raise RuntimeError("read_body() is for plain-function handlers: an async handler awaits request.body()")

    async def body(self) -> bytes:
        if self._body is None:
            declared = self._content_headers()[2]
            if _is_small(declared):
                self._body = await self._small_body(declared)
            else:
                with self._read_watchdog():
                    self._body = b"".join([chunk async for chunk in self.stream()])
        return self._body

    def _read_watchdog(self) -> AbstractContextManager[None]:
        """One cancel scope around a whole body read, for `Limits.read_timeout`.

        A timer per receive() is too much per 64 KiB chunk of a large body,
        and so is moving a deadline. `stream()` moves this scope's deadline
        to 1.5 timeouts ahead only when less than one timeout is left, so a
        client is cut off after 1 to 1.5 timeouts of silence, for almost
        nothing per chunk. A small body (usually one message) has each of
        its waits timed instead (`_receive_within`), which costs less than
        the scope (and a context manager that does nothing, less than a
        generator's).
        """
        timeout = self._read_timeout()
        if timeout is None or _is_small(self._content_headers()[2]):
            return _UNWATCHED
        return self._watched(timeout)

    @contextlib.contextmanager
    def _watched(self, timeout: float) -> Iterator[None]:
        import anyio

        with anyio.CancelScope(deadline=anyio.current_time() + 1.5 * timeout) as watchdog:
            self._watchdog = watchdog
            try:
                yield
            finally:
                self._watchdog = None
        if watchdog.cancelled_caught:
            raise HTTPError(408, f"no body data for {timeout:g} seconds")

    def _read_timeout(self) -> float | None:
        """`Limits.read_timeout`; None with no event loop (CGI), where reads
        block and the host times them out."""
        return self._config.limits.read_timeout if has_event_loop(self.scope) else None

    # -- CGI view and URLs --------------------------------------------------
    @property
    def env(self) -> Mapping[str, str]:
        """RFC 3875 meta-variables (REQUEST_METHOD, PATH_INFO, HTTP_*...):
        under CGI and FastCGI every variable the host sent (REMOTE_USER,
        DOCUMENT_ROOT, custom ones...), else those a CGI host would set."""
        if self._env is None:
            sent = (self.scope.get("extensions") or {}).get(CGI_ENVIRON)
            if sent is None:
                from .cgi.variables import environ_from_scope  # the core needs cgi/ only here

                sent = environ_from_scope(self.scope)
            self._env = MappingProxyType(sent)
        return self._env

    def _parts(self) -> URLParts:
        if self._url_parts is None:
            self._url_parts = URLParts(self.scope, self.headers, self._config.trust_proxy)
        return self._url_parts

    def get_url(self, n: int = 0, query_string: bool = False) -> str:
        """The request's URL with `n` path components chopped off the right:
        `http://foo.com/bar/baz/quux` with n=2 is `http://foo.com/bar`."""
        parts = self._parts()
        # The path as requested: the mount point itself has no "/" after it.
        url = parts.url(chop(parts.root_path + split_path(self.scope)[1], n))
        query = self.query_string
        return url + "?" + query if query_string and query else url

    def get_base_url(self, n: int = 0) -> str:
        """The app's base URL (its mount point) plus the first `n` path
        components, never with a "/" at the end, so that `base + "/x"` is
        right at the site's root too: for `http://foo.com/q/bar/baz/qux` at
        the root, n=0 is `http://foo.com` (PEP 222's example writes
        `http://foo.com/`) and n=2 `http://foo.com/q/bar`."""
        parts = self._parts()
        base = (parts.root_path + first_components(self.path, n)).rstrip("/")
        return parts.url(base) if base else parts.origin

    @property
    def requested_host(self) -> str:
        """The host the client asked for, port and all: the Host header, or
        X-Forwarded-Host behind a trusted proxy; '' when there is none or it
        is no host name (URLs then use the server's own name)."""
        return self._parts().requested_host

    def is_secure(self) -> bool:
        return self._parts().scheme in ("https", "wss")

    def get_browser(self) -> str:
        return browser_family(self.headers.get("user-agent"))

    def dump(self) -> str:
        """Readable multi-line text of the request, for debugging."""
        lines = [f"{self.method} {self.get_url(query_string=True)} HTTP/{self.scope.get('http_version', '1.1')}"]
        lines.append(f"root_path: {self.root_path!r}  path: {self.path!r}")
        client = self.scope.get("client")
        if client:
            lines.append(f"client: {client[0]}:{client[1]}")
        sections: list[tuple[str, list[tuple[str, Any]]]] = [
            ("headers", self.headers.multi_items()),
            ("query", self.query.multi_items()),
            ("cookies", list(self.cookies.items())),
            ("fields", self.fields.multi_items()),
        ]
        for title, items in sections:
            lines.append(f"{title}:" + ("" if items else " (none)"))
            lines.extend(f"  {name}: {value!r}" for name, value in items)
        files = self.files.multi_items()
        lines.append("files:" + ("" if files else " (none)"))
        lines.extend(f"  {name}: {_describe(upload)}" for name, upload in files)
        return "\n".join(lines)

    def __repr__(self) -> str:
        return f"<Request {self.method} {self.scope.get('path', '')!r}>"

    # -- PEP 222's own spellings, aliases of the PEP 8 names -----------------
    # All of them, here and nowhere else: each is the very same function as
    # its PEP 8 name, so a type checker sees its signature too (N815: the
    # PEP's names are mixedCase on purpose).
    getHeader = get_header  # noqa: N815
    getCookie = get_cookie  # noqa: N815
    getField = get_field  # noqa: N815
    getUploadedFile = get_uploaded_file  # noqa: N815
    getURL = get_url  # noqa: N815
    getBaseURL = get_base_url  # noqa: N815
    getBrowser = get_browser  # noqa: N815
    isSecure = is_secure  # noqa: N815
