"""FileBody: an open file as a response body (`Response.set_file`), and the
headers that describe it.

The file is opened (or taken over) when the body is made, so a missing
file fails in the handler, and its size is that of the open descriptor:
what is sent is what Content-Length says. Its bytes are read with pread
from where they start, so nothing else's position moves them; a file that
ends short of that size cuts the response short (logged), and one that
grew sends no byte past it. This module knows no server: the sending is
`Response.send_body`'s, and it imports nothing a CGI start-up would pay
for until a file is set.
"""

from __future__ import annotations

import os
import stat

from ._fieldsyntax import check_value
from ._log import log
from .types import PATHSEND

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import BinaryIO

    from .types import Message, Scope, Send

    FileSource = str | os.PathLike[str] | BinaryIO

# What one read takes: under uvicorn, reads this size in a worker thread
# came near plain reads' speed, where smaller ones paid a thread hop too
# often; larger ones gained nothing and hold more memory per download.
CHUNK_SIZE = 256 * 1024
_OCTETS = "application/octet-stream"


def regular_stat(fd: int, name: object) -> os.stat_result:
    """The fstat of `fd`; ValueError if it is not a regular file."""
    info = os.fstat(fd)
    if not stat.S_ISREG(info.st_mode):
        raise ValueError(f"{name!r} is not a regular file")
    return info


def shrank_message(name: str, sent: int, size: int) -> str:
    """What is logged when a file ends before the bytes it was to send."""
    return f"{name} shrank while it was sent: {sent} of its {size} bytes went out"


def open_regular(path: str | os.PathLike[str]) -> tuple[int, os.stat_result]:
    """`path` opened for reading, and its fstat; ValueError if it is not a
    regular file. O_NONBLOCK, so that a FIFO put where a file was expected
    cannot block the open (it means nothing to a regular file's reads)."""
    fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
    try:
        return fd, regular_stat(fd, os.fspath(path))
    except BaseException:
        os.close(fd)
        raise


class FileBody:
    """`size` bytes of an open file, from `offset`, sent as a response body
    and closed once sent (or not: `Response.close`).

    `path` is set for a file opened by its path: where the server offers
    `http.response.pathsend`, the server sends that path itself, as long
    as it still names the open file, unchanged (`path_to_send`).
    """

    __slots__ = ("_file", "name", "offset", "path", "size")

    def __init__(self, file: BinaryIO, size: int, offset: int = 0, path: str | None = None) -> None:
        self._file = file
        self.size = size
        self.offset = offset
        self.path = path
        self.name = path or str(getattr(file, "name", "<file>"))

    @classmethod
    def open(cls, source: FileSource) -> FileBody:
        """A path, opened now (OSError if it cannot be, ValueError if it is
        no regular file), or an open binary file, taken over from where it
        stands (TypeError if it has no descriptor)."""
        if isinstance(source, str | os.PathLike):
            path = os.path.abspath(source)  # now: pathsend wants it absolute, and the cwd may change
            fd, info = open_regular(path)
            return cls(open(fd, "rb", buffering=0), info.st_size, 0, path)
        try:
            fd = source.fileno()
        except (AttributeError, OSError) as exc:  # io.UnsupportedOperation is an OSError
            raise TypeError(f"set_file takes a path or a file with a descriptor, not {source!r}") from exc
        info = regular_stat(fd, source)
        offset = source.tell()  # a buffered file's own position, what it has read ahead of it set aside
        return cls(source, max(info.st_size - offset, 0), offset)

    @property
    def closed(self) -> bool:
        return self._file.closed

    def close(self) -> None:
        self._file.close()

    def path_to_send(self, scope: Scope) -> str | None:
        """The path to give `http.response.pathsend`: where the server offers
        it, the file was opened by its path, and that path still names it,
        of the same size; else None (the file is streamed from its
        descriptor, so that a file renamed over or deleted since is no matter)."""
        if self.path is None or PATHSEND not in (scope.get("extensions") or ()):
            return None
        try:
            named, held = os.stat(self.path), os.fstat(self._file.fileno())
        except OSError:
            return None
        same = (named.st_dev, named.st_ino) == (held.st_dev, held.st_ino)
        return self.path if same and held.st_size == self.size else None

    async def stream(self, send: Send, threaded: bool) -> bool:
        """Send the bytes as `http.response.body` messages (more to come),
        read in a worker thread where an event loop runs (`threaded`: a
        slow disk must not stall it), else in plain calls. False when the
        file ended short of `size` (logged): the response must be cut."""
        if threaded:
            import anyio.to_thread
        fd = self._file.fileno()
        sent = 0
        while sent < self.size:
            want = min(CHUNK_SIZE, self.size - sent)
            if threaded:
                chunk = await anyio.to_thread.run_sync(os.pread, fd, want, self.offset + sent)
            else:
                chunk = os.pread(fd, want, self.offset + sent)
            if not chunk:
                log.warning("%s", shrank_message(self.name, sent, self.size))
                return False
            sent += len(chunk)
            message: Message = {"type": "http.response.body", "body": chunk, "more_body": True}
            await send(message)
        return True

    def __repr__(self) -> str:
        return f"<FileBody {self.name} {self.size} bytes>"


def guess_type(name: str) -> str:
    """The Content-Type of a file called `name`, by its extension
    (mimetypes, which reads the system's table on first use), or
    application/octet-stream. A compressed file (.gz, .tar.xz) is sent as
    it is, as octets: a Content-Encoding would have the browser unpack it."""
    import mimetypes

    # A leading '/': a name such as "data:x.txt" is no URL to guess_type.
    kind, encoding = mimetypes.guess_type("/" + os.path.basename(name))
    return kind if kind is not None and encoding is None else _OCTETS


def content_disposition(filename: str, inline: bool = False) -> str:
    """`attachment; filename="name"` (RFC 6266; `inline` to be shown, with
    that name to save it under). A name that is not ASCII also gets
    `filename*=UTF-8''...` (RFC 8187), beside an ASCII fallback for old
    clients: accents dropped, other letters '_'. A control character, CR
    and LF among them, raises ValueError."""
    if not isinstance(filename, str) or not filename:
        raise ValueError(f"a file name is a non-empty str, not {filename!r}")
    # Every control character is latin-1: check_value sees them all once the rest is replaced.
    check_value(filename.encode("latin-1", "replace").decode("latin-1"), "file name")
    kind = "inline" if inline else "attachment"
    if filename.isascii():
        return f"{kind}; filename={_quoted(filename)}"
    import unicodedata
    from urllib.parse import quote

    decomposed = unicodedata.normalize("NFKD", filename)
    fallback = "".join(c if c.isascii() else "" if unicodedata.combining(c) else "_" for c in decomposed)
    # RFC 8187's attr-char: ALPHA, DIGIT and these (quote keeps "-._~" and letters itself).
    encoded = quote(filename, safe="!#$&+^`|")
    return f"{kind}; filename={_quoted(fallback)}; filename*=UTF-8''{encoded}"


def _quoted(text: str) -> str:
    """An RFC 9110 quoted-string."""
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'
