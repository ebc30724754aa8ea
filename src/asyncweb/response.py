"""The Response: PEP 222's write side, rendered as ASGI messages."""

from __future__ import annotations

from collections.abc import AsyncIterable, Iterable, Mapping

from ._fieldsyntax import check_value
from .cookies import format_set_cookie
from .errors import reason_phrase
from .headers import MutableHeaders, RawHeaders
from .types import PATHSEND, Receive, Scope, Send, has_event_loop

TYPE_CHECKING = False
if TYPE_CHECKING:
    from datetime import datetime, timedelta

    from .filebody import FileBody, FileSource

Body = bytes | bytearray | memoryview | str | AsyncIterable[bytes]
_TEXT_DEFAULT = "text/plain; charset=utf-8"
_TEXT_DEFAULT_RAW = (b"content-type", _TEXT_DEFAULT.encode("latin-1"))
# Content-Length fields already written, by length, as the pairs sent:
# looking one up costs a third of formatting it, and most answers of an app
# come in few sizes.
_LENGTHS: dict[int, tuple[bytes, bytes]] = {}
_REDIRECTS = frozenset({300, 301, 302, 303, 305, 307, 308})


def _length(size: int) -> tuple[bytes, bytes]:
    """A Content-Length field, kept for the next answer of that size."""
    pair = (b"content-length", b"%d" % size)
    if len(_LENGTHS) < 4096:
        _LENGTHS[size] = pair
    return pair


def has_no_body(status: int) -> bool:
    """1xx, 204 and 304 answers never carry a body (RFC 9110 6.4.1)."""
    return status < 200 or status in (204, 304)


class Response:
    """Status, headers, cookies and body of an answer.

    A `str` body is sent as UTF-8 and its Content-Type gets a charset
    (`text/plain; charset=utf-8` when none was set). An async iterable of
    bytes is streamed, and so is a file (`set_file`). Every header and
    cookie is checked when it is set: CR, LF, NUL and other control
    characters raise ValueError.
    """

    __slots__ = ("_cookies", "_file", "_headers", "_text", "body", "reason", "status")
    _headers: MutableHeaders | None  # made on first use: most answers set no header

    def __init__(
        self,
        status: int = 200,
        headers: Mapping[str, str] | Iterable[tuple[str, str]] | None = None,
        body: Body = b"",
    ) -> None:
        self._clear()
        if headers is not None:
            self._headers = MutableHeaders(headers)
        if type(status) is not int or status != 200:  # the default needs no check
            self.set_status(status)
        if body != b"":  # b"" is already set, and most answers set their body later
            self.set_body(body)

    def _clear(self) -> None:
        """What every Response starts as: a 200 with no header, cookie or
        body of its own. The App makes its responses with this alone."""
        self.status = 200
        self.reason: str | None = None
        self._headers = None
        # Made on first use too; each Set-Cookie kept as the pair it is sent as.
        self._cookies: dict[tuple[str, str | None, str | None], tuple[bytes, bytes]] | None = None
        self.body: bytes | AsyncIterable[bytes] | FileBody = b""
        self._file: FileBody | None = None  # the body set_file set, until it is closed
        self._text = False

    @property
    def headers(self) -> MutableHeaders:
        """The headers set so far; Content-Type, Content-Length and Set-Cookie
        are completed when the response is sent (`header_items`)."""
        if self._headers is None:
            self._headers = MutableHeaders()
        return self._headers

    def set_status(self, status: int, reason: str | None = None) -> None:
        if not isinstance(status, int) or not 100 <= status <= 999:
            raise ValueError(f"invalid HTTP status {status!r}")
        self.status = status
        self.reason = None if reason is None else check_value(reason, "reason phrase")

    def set_header(self, name: str, value: str) -> None:
        """Set a header, replacing any of the same name."""
        self.headers[name] = value

    def add_header(self, name: str, value: str) -> None:
        """Add a header, keeping any of the same name."""
        self.headers.add(name, value)

    def set_body(self, body: Body) -> None:
        if self._file is not None:  # a file set before is not sent: closed now
            self.close()
        if isinstance(body, str):
            self.body = body.encode()  # UTF-8: the default, which takes no codec lookup
            self._text = True
        elif isinstance(body, (bytes, bytearray, memoryview)):  # a tuple: isinstance checks it faster than a union
            self.body, self._text = bytes(body), False
        elif isinstance(body, AsyncIterable):
            self.body, self._text = body, False
        else:
            raise TypeError(f"a body is str, bytes or an async iterable of bytes, not {type(body).__name__}")

    def set_file(
        self, file: FileSource, content_type: str | None = None, *, filename: str | None = None, inline: bool = False
    ) -> None:
        """Send a file as the body, streamed, never read whole into memory.

        `file` is a path, opened now, so that a missing file raises here
        (FileNotFoundError; ValueError for a directory or anything else
        that is no regular file), or an open binary file, sent from its
        position. Either way the response owns it from here and closes it
        once sent, or when the client goes away, the handler fails, or
        another body replaces it. Content-Length is the open file's size;
        Content-Type is `content_type`, or guessed from the name
        (`mimetypes`; application/octet-stream when unknown), with no
        charset added: a file's encoding is its own. `filename` makes it
        a download saved under that name (`Content-Disposition:
        attachment`, RFC 6266; `filename*` for a non-ASCII name), shown
        in the browser instead with `inline=True`.

        Where the server offers `http.response.pathsend` (the WSGI gateway
        over a server's `wsgi.file_wrapper`, the CGI host), it sends a file
        opened by its path itself, with sendfile where it can.
        """
        from .filebody import FileBody, content_disposition, guess_type  # here: most responses send no file

        if content_type is not None:
            check_value(content_type, "content type")
        disposition = None if filename is None else content_disposition(filename, inline)
        body = FileBody.open(file)  # last: nothing above may fail with the file open
        self.set_body(b"")  # closes a file set before
        self.body = self._file = body
        self.set_header("Content-Type", content_type or guess_type(filename or body.name))
        if disposition is not None:
            self.set_header("Content-Disposition", disposition)

    def close(self) -> None:
        """Close the file of a `set_file` body, if it was not sent (the App
        does it for the response of a handler); other bodies hold nothing."""
        file, self._file = self._file, None
        if file is not None:
            file.close()

    # -- cookies ------------------------------------------------------------
    def set_cookie(
        self,
        name: str,
        value: str,
        path: str | None = "/",
        comment: str | None = None,
        domain: str | None = None,
        max_age: int | timedelta | None = None,
        expires: datetime | float | None = None,
        secure: bool = False,
        httponly: bool = False,
        samesite: str | None = None,
        partitioned: bool = False,
    ) -> None:
        """Set a cookie; setting the same name, domain and path again
        replaces it. See `cookies.format_set_cookie` for the rules."""
        line = format_set_cookie(
            name, value, path, comment, domain, max_age, expires, secure, httponly, samesite, partitioned
        )
        if self._cookies is None:
            self._cookies = {}
        self._cookies[name, domain, path] = (b"set-cookie", line.encode("latin-1"))

    def expire_cookie(self, name: str, path: str | None = "/", domain: str | None = None) -> None:
        """Tell the browser to drop a cookie (it must match its path and domain)."""
        from datetime import UTC, datetime

        self.set_cookie(name, "", path=path, domain=domain, max_age=0, expires=datetime(1970, 1, 1, tzinfo=UTC))

    @property
    def cookies(self) -> list[str]:
        """The Set-Cookie values, in the order they were set."""
        cookies = self._cookies
        return [] if cookies is None else [line.decode("latin-1") for _, line in cookies.values()]

    # -- helpers --------------------------------------------------------------
    def redirect(self, url: str, status: int = 302) -> None:
        """Redirect the browser to `url` (absolute or relative)."""
        if status not in _REDIRECTS:
            raise ValueError(f"{status} is not a redirect status")
        self.set_header("Location", url)  # checked first: a refused URL changes nothing
        self.set_status(status)
        self.set_body(b"")

    def error(self, status: int, message: str | None = None) -> None:
        """Answer `status` with a short text body (its reason phrase by default)."""
        self.set_status(status)
        self.set_body((message or reason_phrase(status)) + "\n")

    # -- rendering --------------------------------------------------------------
    def _completions(self) -> tuple[str | None, str | None]:
        """The Content-Type and Content-Length to send, the headers set
        aside: a text body's type gets its charset, a bytes body its length."""
        headers = self._headers
        content_type = None if headers is None else headers.get("content-type")
        if self._text:
            if content_type is None:
                content_type = _TEXT_DEFAULT
            elif content_type.startswith("text/") and "charset" not in content_type.lower():
                content_type += "; charset=utf-8"
        length = None
        body = self.body
        if not has_no_body(self.status) and (headers is None or "content-length" not in headers):
            if isinstance(body, bytes):
                length = str(len(body))
            elif body is self._file:
                length = str(self._file.size)
        return content_type, length

    def header_items(self) -> list[tuple[str, str]]:
        """Every header that will be sent, Content-Length and Set-Cookie
        included, names as they were set (`raw_headers` in text)."""
        content_type, length = self._completions()
        items = [] if content_type is None else [("Content-Type", content_type)]
        if self._headers is not None:
            items += [pair for pair in self._headers.items() if pair[0].lower() != "content-type"]
        if length is not None:
            items.append(("Content-Length", length))
        items += [("Set-Cookie", line) for line in self.cookies]
        return items

    def raw_headers(self) -> RawHeaders:
        """`header_items` as ASGI sends them, built directly: this runs for every response."""
        body = self.body
        if self._headers is None and type(body) is bytes:
            # The common answer, no header of its own set: _completions, inlined.
            status = self.status
            if status == 200 or not has_no_body(status):
                size = len(body)
                # A test and an index cost less than .get(); a KeyError caught
                # would cost more on each miss, and an app of many sizes misses.
                pair = _LENGTHS[size] if size in _LENGTHS else _length(size)
                raw = [_TEXT_DEFAULT_RAW, pair] if self._text else [pair]
            else:
                raw = [_TEXT_DEFAULT_RAW] if self._text else []
            if self._cookies:
                raw += self._cookies.values()
            return raw
        content_type, length = self._completions()
        raw = [] if content_type is None else [(b"content-type", content_type.encode("latin-1"))]
        if self._headers is not None:
            raw += [pair for pair in self._headers.raw() if pair[0] != b"content-type"]
        if length is not None:
            raw.append((b"content-length", length.encode("ascii")))
        if self._cookies:
            raw += self._cookies.values()
        return raw

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Send this response as ASGI messages: a Response is an ASGI app."""
        await send({"type": "http.response.start", "status": self.status, "headers": self.raw_headers()})
        await self.send_body(send, scope.get("method") == "HEAD", scope=scope)

    async def send_body(self, send: Send, head: bool = False, *, scope: Scope | None = None) -> None:
        """The body's messages, after http.response.start. `scope` (the
        request's) lets a file go by the server's `http.response.pathsend`
        where it offers it, and be read in a worker thread where an event
        loop runs; without it, a file is read in plain calls."""
        body = self.body
        skip = head or has_no_body(self.status)
        if isinstance(body, bytes):
            await send({"type": "http.response.body", "body": b"" if skip else body, "more_body": False})
            return
        file = self._file
        if file is not None and body is file:
            try:
                path = None if skip or scope is None else file.path_to_send(scope)
                if path is not None:
                    await send({"type": PATHSEND, "path": path})  # the last message
                    return
                threaded = scope is not None and has_event_loop(scope)
                if not skip and not await file.stream(send, threaded):
                    return  # the file shrank: no last message, so the server cuts the response short
            finally:
                self.close()
        elif skip:
            aclose = getattr(body, "aclose", None)
            if aclose is not None:
                await aclose()
        elif isinstance(body, AsyncIterable):
            async for chunk in body:
                if chunk:
                    await send({"type": "http.response.body", "body": bytes(chunk), "more_body": True})
        await send({"type": "http.response.body", "body": b"", "more_body": False})

    # -- text views -------------------------------------------------------------
    def status_line(self) -> str:
        return f"HTTP/1.1 {self.status} {self.reason or reason_phrase(self.status)}".rstrip()

    def __str__(self) -> str:
        """The whole HTTP/1.1 response: status line, headers, blank line,
        body (UTF-8, undecodable bytes replaced; a streamed body is not
        consumed and shows as a note)."""
        head = "".join(f"{name}: {value}\r\n" for name, value in self.header_items())
        body = self.body
        text = body.decode("utf-8", "replace") if isinstance(body, bytes) else f"<streamed body{self._of_file()}>"
        return f"{self.status_line()}\r\n{head}\r\n{text}"

    def dump(self) -> str:
        """A debugging view: status, headers, cookies, body size and start."""
        lines = [self.status_line(), "headers:"]
        lines += [f"  {name}: {value}" for name, value in self.headers.items()]
        lines.append("cookies:" + ("" if self._cookies else " (none)"))
        lines += [f"  {line}" for line in self.cookies]
        if isinstance(self.body, bytes):
            lines.append(f"body: {len(self.body)} bytes")
            if self.body:
                lines.append(f"  {self.body[:200]!r}" + (" ..." if len(self.body) > 200 else ""))
        else:
            lines.append(f"body: streamed{self._of_file()}")
        return "\n".join(lines)

    def _of_file(self) -> str:
        """What the text views say of a file body: its size and name."""
        file = self._file
        return f" of {file.size} bytes from {file.name}" if file is not None and self.body is file else ""

    def __repr__(self) -> str:
        return f"<Response {self.status}>"

    # -- PEP 222's own spellings, aliases of the PEP 8 names -----------------
    # All of them, here and nowhere else: each is the very same function as
    # its PEP 8 name, so a type checker sees its signature too (N815: the
    # PEP's names are mixedCase on purpose).
    setStatus = set_status  # noqa: N815
    setHeader = set_header  # noqa: N815
    setBody = set_body  # noqa: N815
    setCookie = set_cookie  # noqa: N815
    expireCookie = expire_cookie  # noqa: N815
