"""ASGI response messages in, the bytes of a CGI response out (sans-I/O).

The one response writer of every gateway outside an ASGI server: the CGI
host writes its bytes to stdout, `asyncweb call` prints them as HTTP/1.1
and FastCGI wraps them in STDOUT records. So the same messages give the
same answer through all of them. It does no I/O and knows no transport.
"""

from __future__ import annotations

from ..types import Message
from .head import render_head

# What a gateway answers in place of an app that failed before any byte of
# its response went out.
_ERROR_BODY = b"Internal Server Error\n"
ERROR_HEAD = render_head(
    500, [(b"content-type", b"text/plain; charset=utf-8"), (b"content-length", b"%d" % len(_ERROR_BODY))]
)
ERROR_RESPONSE = ERROR_HEAD + _ERROR_BODY


class ResponseWriter:
    """Checks the order of the app's messages and renders them.

    The header block goes out with the first body message, so that a short
    response is one write, and an app that fails between the two can still
    be answered 500. A HEAD response gets no body (RFC 3875 6.3.4). A bad
    order raises RuntimeError; a status or header that cannot be sent
    raises ValueError (`head.render_head`).
    """

    __slots__ = ("_head", "complete", "cut", "head_only", "started")

    def __init__(self, head_only: bool = False) -> None:
        self.head_only = head_only
        self._head: bytes | None = None  # rendered, not yet out
        self.started = False  # an http.response.start was taken
        self.complete = False  # the last body message was taken, or `fail` ended it
        self.cut = False  # `fail` ended a response that was under way

    @property
    def sent(self) -> bool:
        """Whether any byte of the response went out."""
        return self.started and self._head is None

    def feed(self, message: Message) -> bytes:
        kind = message["type"]
        if kind == "http.response.body":
            if not self.started:
                raise RuntimeError("http.response.body sent before http.response.start")
            if self.complete:
                raise RuntimeError("http.response.body sent after the response was complete")
            self.complete = not message.get("more_body", False)
            body = b"" if self.head_only else message.get("body", b"")
            head = self._head
            if head is not None:
                self._head = None
                return head + body
            return body if type(body) is bytes else bytes(body)
        if kind == "http.response.start":
            if self.started:
                raise RuntimeError("http.response.start sent twice")
            self._head = render_head(message["status"], message.get("headers", ()))
            self.started = True
            return b""
        raise RuntimeError(f"unexpected ASGI message {kind!r}")

    def fail(self) -> bytes:
        """The app failed, or returned before its response was complete:
        a 500 if nothing went out yet, else nothing (the response is cut
        short, which only closing the connection can tell the client)."""
        if self.complete:
            return b""
        self.complete = True
        if self.sent:
            self.cut = True
            return b""
        self.started, self._head = True, None
        return ERROR_HEAD if self.head_only else ERROR_RESPONSE
