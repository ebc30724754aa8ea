"""`http.response.pathsend` outside an ASGI server: the file a pathsend
message names, as the gateway that offered the extension opens and sends it.

The CGI host copies it to stdout with sendfile, `asyncweb call` reads it
into its output, and the WSGI gateway hands it to the server's
`wsgi.file_wrapper`. Whoever reads it, the rules are one: no byte past the
Content-Length the response declared (or the size the file had when it
was opened), and a file that ends before that raises `FileShrank`, so that
the response is cut short, never waited on or padded. It opens the file;
the writing is the gateway's.
"""

from __future__ import annotations

import io
import os

from .._fieldsyntax import parse_length
from .._log import log
from ..filebody import open_regular, shrank_message

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable

    from ..types import Message


class FileShrank(OSError):
    """The file ended before the bytes the response declared."""


class SentFile(io.FileIO):
    """The file of a pathsend message, as a server's file wrapper reads it:
    `read` gives no byte past `end` (from the start of the file) and raises
    FileShrank where the file ends before it; `on_close` runs when it is
    closed (the WSGI gateway ends the app's task there)."""

    def __init__(self, fd: int, end: int, path: str) -> None:
        super().__init__(fd, "rb", closefd=True)
        self.end = end
        self.path = path
        self.on_close: Callable[[], object] | None = None

    def read(self, size: int | None = -1) -> bytes:
        position = self.tell()
        left = self.end - position
        want = left if size is None or size < 0 else min(size, left)
        data = super().read(want) if want > 0 else b""
        if want > 0 and not data:
            self.shrank(position)
        return data or b""

    def shrank(self, position: int) -> None:
        """Log, and raise FileShrank: `position` is where the file ended."""
        message = shrank_message(self.path, position, self.end)
        log.warning("%s", message)
        raise FileShrank(message)

    def close(self) -> None:
        try:
            super().close()
        finally:
            on_close, self.on_close = self.on_close, None
            if on_close is not None:
                on_close()


def open_path(message: Message) -> int:
    """The file a pathsend message names, opened (a descriptor): OSError if
    it cannot be, ValueError if the path is not absolute (ASGI says it is)
    or not a regular file."""
    path = message.get("path")
    if not isinstance(path, str) or not os.path.isabs(path):
        raise ValueError(f"http.response.pathsend takes an absolute path, not {path!r}")
    fd, _ = open_regular(path)
    return fd


def declared_length(head: bytes) -> int | None:
    """The Content-Length of a CGI response head, None when it has none."""
    for line in head.split(b"\r\n"):
        name, _, value = line.partition(b":")
        if name.lower() == b"content-length":
            return parse_length(value.decode("latin-1"))
    return None


def copy(file: SentFile, write: Callable[[bytes], None], chunk_size: int) -> bool:
    """Read `file` to its end and write it; False when it shrank (logged)."""
    try:
        while data := file.read(chunk_size):
            write(data)
    except FileShrank:
        return False
    return True
