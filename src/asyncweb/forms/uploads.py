"""Uploaded files: kept in memory while small, spooled to an unnamed temp
file when larger, written from the parser's memoryview slices with no copy
in between, and put in their final place by a rename (or a link), never a
copy, when the destination is on the same filesystem.

Its only I/O is the upload's own file. It parses nothing and enforces no
limit (the reader does both, before each write), and knows nothing of
ASGI or of the request.
"""

from __future__ import annotations

import contextlib
import errno
import io
import os

from ..headers import Headers
from .charsets import decode, text_codec

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable
    from pathlib import Path
    from typing import BinaryIO, Protocol

    # What an App's `upload_target` may return for a file part: a path to write
    # the bytes to directly, a writable binary file, or None for the default spool.
    Target = str | os.PathLike[str] | BinaryIO | None
    TargetFunction = Callable[[str, str, str | None], Target]

    class _Writable(Protocol):
        def write(self, data: memoryview, /) -> object: ...


# tempfile, shutil and pathlib are imported where they are used: a CGI
# process pays for every import, and most requests carry no upload.
_O_TMPFILE = getattr(os, "O_TMPFILE", 0)


def open_temp(directory: str | None) -> tuple[int, str | None]:
    """A temp file in `directory`: unnamed (O_TMPFILE) where the OS and
    filesystem have it, so it cannot outlive the process; else a named one
    the caller must delete. Returns (fd, path or None)."""
    import tempfile

    directory = directory or tempfile.gettempdir()
    if _O_TMPFILE:
        with contextlib.suppress(OSError):
            return os.open(directory, _O_TMPFILE | os.O_RDWR | os.O_CLOEXEC, 0o600), None
    fd, path = tempfile.mkstemp(prefix="asyncweb-", suffix=".upload", dir=directory)
    return fd, path


def write_all(fd: int, data: memoryview) -> None:
    while data:
        data = data[os.write(fd, data) :]


class UploadFile:
    """A file from a multipart form.

    `filename` is a safe base name (no folder, no control characters; ''
    when the browser sent none) and `raw_filename` the name as sent.
    `read()`/`seek()`/`file` give the content; `save(path)` moves it into
    place. A plain field asked for as a file is an in-memory UploadFile
    whose `filename` is None.
    """

    def __init__(
        self,
        name: str,
        filename: str | None,
        raw_filename: str | None = None,
        content_type: str | None = None,
        headers: Headers | None = None,
        *,
        charset: str | None = None,
        spool_size: int = 1024 * 1024,
        upload_dir: str | None = None,
        target: Target = None,
    ) -> None:
        self.name = name
        self.filename = filename
        self.raw_filename = raw_filename
        self.content_type = content_type
        self.headers = headers if headers is not None else Headers()
        self.charset = charset
        self.size = 0
        self._spool_size = spool_size
        self._upload_dir = upload_dir
        self._buffer: bytearray | None = bytearray()
        self._fd = -1
        self._temp_path: str | None = None  # a named temp file of ours, to delete
        self._target_path: str | None = None  # a target file we created, deleted on abort
        self._sink: _Writable | None = None
        self._file: BinaryIO | None = None
        self.path: Path | None = None  # where the content is on disk under a name
        if target is not None:
            self._open_target(target)

    @classmethod
    def from_bytes(cls, name: str, data: bytes, content_type: str | None = None) -> UploadFile:
        upload = cls(name, None, content_type=content_type)
        upload.write(memoryview(data))
        upload.finish()
        return upload

    # -- filling, while the body streams in ----------------------------------
    def _open_target(self, target: Target) -> None:
        if isinstance(target, str | os.PathLike):
            path = os.fspath(target)
            self._fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, 0o644)
            self._target_path = path
            from pathlib import Path

            self.path = Path(path)
        else:
            self._sink = target
        self._buffer = None

    def write(self, data: memoryview) -> None:
        self.size += len(data)
        if self._buffer is not None:
            if len(self._buffer) + len(data) <= self._spool_size:
                self._buffer += data
                return
            self._fd, self._temp_path = open_temp(self._upload_dir)
            write_all(self._fd, memoryview(self._buffer))
            self._buffer = None
        if self._sink is not None:
            self._sink.write(data)
        else:
            write_all(self._fd, data)

    def finish(self) -> None:
        """The part is complete: make the content readable from its start."""
        if self._buffer is not None:
            self._file = io.BytesIO(self._buffer)
            self._buffer = None
        elif self._fd >= 0:
            self._file = open(self._fd, "rb", closefd=False)  # noqa: SIM115 - closed in close()
            self._file.seek(0)  # the writes left the shared offset at the end
        elif self._sink is not None and callable(getattr(self._sink, "read", None)):
            self._file = self._sink  # type: ignore[assignment]

    def abort(self) -> None:
        """The form failed: leave nothing behind, not even a target file."""
        self.close()
        if self._target_path is not None:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(self._target_path)
            self._target_path = None

    # -- the handler's side -----------------------------------------------------
    @property
    def file(self) -> BinaryIO:
        if self._file is None:
            raise ValueError(f"upload {self.name!r} has no readable content")
        return self._file

    @property
    def in_memory(self) -> bool:
        return isinstance(self._file, io.BytesIO)

    def read(self, size: int = -1) -> bytes:
        return self.file.read(size)

    def seek(self, offset: int, whence: int = os.SEEK_SET) -> int:
        return self.file.seek(offset, whence)

    def read_text(self) -> str:
        """The whole content as text: the part's charset if it is a WHATWG
        encoding label (`charsets`), else UTF-8; bad bytes as U+FFFD."""
        self.seek(0)
        try:
            data = self.read()
        finally:
            self.seek(0)
        return decode(data, text_codec(self.charset) or "utf-8")

    def save(self, path: str | os.PathLike[str]) -> Path:
        """Put the content at `path` (replacing any file there) and return it.

        A spooled file is renamed or hard-linked into place: O(1) whatever
        its size. Across filesystems it is copied by the kernel (sendfile).
        A small in-memory file is written out.
        """
        import shutil
        from pathlib import Path

        destination = Path(path)
        if self._file is None:
            raise ValueError(f"upload {self.name!r} has no readable content")
        if isinstance(self._file, io.BytesIO):
            destination.write_bytes(self._file.getbuffer())
        elif self.path is not None or self._temp_path is not None:
            source = str(self.path or self._temp_path)
            shutil.move(source, destination)  # a rename, or copy and delete across filesystems
            self._temp_path = self._target_path = None
        elif self._fd >= 0:
            self._link_unnamed(destination)
        else:
            raise ValueError(f"upload {self.name!r} went to a file object of the app's; save it there")
        self.path = destination
        return destination

    def _link_unnamed(self, destination: Path) -> None:
        # linkat() of an O_TMPFILE file gives it a name. CPython calls plain
        # link(), which will not follow /proc/self/fd/N, unless a dir fd is
        # given: then it is linkat(..., AT_SYMLINK_FOLLOW). Link to a fresh
        # name beside the destination, then rename over it, so an existing
        # file is replaced atomically.
        staging = f".{destination.name}.{os.urandom(6).hex()}.part"
        directory = os.open(destination.parent, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
        try:
            os.link(f"/proc/self/fd/{self._fd}", staging, dst_dir_fd=directory)
            os.replace(staging, destination.name, src_dir_fd=directory, dst_dir_fd=directory)
        except OSError as error:
            if error.errno not in (errno.EXDEV, errno.ENOENT, errno.EPERM):
                raise
            self._copy_to(destination)
        finally:
            os.close(directory)

    def _copy_to(self, destination: Path) -> None:
        """Across filesystems: a kernel-side copy (sendfile), no read into Python."""
        with open(destination, "wb") as out:
            offset = 0
            while offset < self.size:
                sent = os.sendfile(out.fileno(), self._fd, offset, self.size - offset)
                if sent == 0:
                    break
                offset += sent

    def close(self) -> None:
        if self._file is not None and self._file is not self._sink:
            self._file.close()
        self._file = None
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1
        if self._temp_path is not None:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(self._temp_path)
            self._temp_path = None

    def __repr__(self) -> str:
        return f"<UploadFile {self.name!r} filename={self.filename!r} size={self.size}>"
