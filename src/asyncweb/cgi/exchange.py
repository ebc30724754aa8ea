"""One request outside an ASGI server, sans-I/O: its body by ASGI's receive
rules, its response through the one `ResponseWriter`.

Every gateway that is not an ASGI server (the CGI host, `asyncweb call`,
FastCGI) drives an `Exchange`: it feeds the body in as it arrives, asks
`next_message()` what `receive()` returns, and writes out what `respond()`
gives. The rules live here once: a body of a declared length ends with
its last byte (more bytes are not the app's, RFC 3875 4.2), one of no
declared length ends with its input, and input that ends short of the
declared length means the client went away. No I/O and no waiting here:
the gateway's driver does both.
"""

from __future__ import annotations

from ..types import Message
from .writer import ResponseWriter

_DISCONNECT: Message = {"type": "http.disconnect"}


class Exchange:
    """The body buffer and response state of one request.

    `length` is the declared body length, or None when the gateway does not
    know it (a chunked upload): the body then ends when its input does.
    """

    __slots__ = ("_chunks", "_final_sent", "aborted", "body_complete", "buffered", "remaining", "writer")

    def __init__(self, length: int | None, head_only: bool = False) -> None:
        self.remaining = length  # bytes still to come; None: unknown
        # Made with the first chunk: most requests have no body, and an
        # object fewer per request keeps the GC from running as often.
        self._chunks: list[bytes] | None = None
        self.buffered = 0  # fed, not yet handed to the app
        self.body_complete = length == 0
        self._final_sent = False
        self.aborted = False
        self.writer = ResponseWriter(head_only)

    # -- the gateway's side: input ------------------------------------------
    def feed(self, data: bytes) -> None:
        """Body bytes as they arrive; what goes past the declared length, or
        comes after the response is complete, is dropped."""
        if self.body_complete or self.aborted or self.writer.complete or not data:
            return
        remaining = self.remaining
        if remaining is not None:
            if len(data) >= remaining:
                data = data[:remaining]
                self.body_complete = True
            self.remaining = remaining - len(data)
        chunks = self._chunks
        if chunks is None:
            self._chunks = [data]
        else:
            chunks.append(data)
        self.buffered += len(data)

    def end_body(self) -> None:
        """The input ended. Short of the declared length, the upload was cut
        off (RFC 3875 4.2, FastCGI 6.2): the client is gone."""
        if not self.body_complete:
            if self.remaining:
                self.aborted = True
            self.body_complete = True

    def abort(self) -> None:
        """The client went away."""
        self.aborted = True

    @property
    def response_complete(self) -> bool:
        return self.writer.complete

    # -- the app's side ------------------------------------------------------
    def next_message(self) -> Message | None:
        """What `receive()` returns now, or None when it must wait: for more
        of the body, or, once the body is read, until the client goes away
        or the response is complete (ASGI: apps listen for a disconnect
        while they stream, so answering at once would cut them short)."""
        if self.aborted or self.writer.complete:
            return _DISCONNECT
        chunks = self._chunks
        if chunks:
            data = chunks[0] if len(chunks) == 1 else b"".join(chunks)
            self._chunks = None
            self.buffered = 0
            self._final_sent = self.body_complete
            return {"type": "http.request", "body": data, "more_body": not self.body_complete}
        if self.body_complete and not self._final_sent:
            self._final_sent = True
            return {"type": "http.request", "body": b"", "more_body": False}
        return None

    def respond(self, message: Message) -> bytes:
        """The bytes of the app's response message (see `ResponseWriter`)."""
        return self.writer.feed(message)

    def fail(self) -> bytes:
        """What ends a response the app left unfinished."""
        return self.writer.fail()
