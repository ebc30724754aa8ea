"""Uploaded files: kept in memory while small, spooled to an unnamed temp
file when larger, written from the parser's memoryview slices with no copy
in between, and put in their final place by a rename (or a link), never a
copy, when the destination is on the same filesystem; always under a temp
name beside it first, then renamed onto it, so a save is atomic.

Its only I/O is the upload's own file. It parses nothing and enforces no
limit (the reader does both, before each write), and knows nothing of
ASGI or of the request.
"""

from __future__ import annotations

import contextlib
import errno
import io
import os
import stat
import threading

from ..headers import Headers
from .charsets import decode, text_codec

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable
    from pathlib import Path
    from typing import Any, BinaryIO, Protocol

    # What an App's `upload_target` may return for a file part: a path to write
    # the bytes to directly, a writable binary file, or None for the default spool.
    Target = str | os.PathLike[str] | BinaryIO | None
    TargetFunction = Callable[[str, str, str | None], Target]

    class _Writable(Protocol):
        def write(self, data: memoryview, /) -> object: ...


# tempfile and pathlib are imported where they are used: a CGI
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


def _staging_name() -> str:
    # Not derived from the destination's name: that may be 255 bytes already.
    return f".asyncweb-{os.urandom(8).hex()}.part"


def _replace(directory: int, staging: str, name: str) -> None:
    try:
        os.replace(staging, name, src_dir_fd=directory, dst_dir_fd=directory)
    except BaseException:
        _unlink(directory, staging)
        raise


def _unlink(directory: int, name: str) -> None:
    with contextlib.suppress(FileNotFoundError):
        os.unlink(name, dir_fd=directory)


_umask_lock = threading.Lock()
_umask_read: list[int] = []  # the umask, once read the hard way


def _default_mode() -> int:
    """0o666 less the umask: the mode `open(path, "w")` gives a new file.

    Linux (4.7+) shows the umask in /proc/self/status: read there at each
    call, it follows any change and changes nothing. os.umask() can only read
    it by setting it, process-wide: for that moment other threads' new files
    would get the value set. So it is the fallback only, once per process,
    under a lock, setting 0o077 meanwhile: a file made in that moment is too
    private rather than too open.
    """
    with contextlib.suppress(OSError, ValueError, IndexError), open("/proc/self/status", "rb") as status:
        for line in status:
            if line.startswith(b"Umask:"):
                return 0o666 & ~int(line.split()[1], 8)
    with _umask_lock:
        if not _umask_read:
            umask = os.umask(0o077)
            os.umask(umask)
            _umask_read.append(umask)
    return 0o666 & ~_umask_read[0]


class UploadFile:
    """A file from a multipart form.

    `filename` is a safe base name (no folder, no control characters,
    never ''; "upload" when nothing of the name is left) and
    `raw_filename` the name as sent. `read()`/`seek()`/`file` give the
    content; `save(path)` moves it into place, atomically. With a
    `digest` (a hashlib name), `hexdigest` is the content's, computed as
    the bytes were written.
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
        digest: str | None = None,
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
        # The bytes go to `_fd` and nowhere else: no digest to update, none
        # held in memory, no sink. `write` then tests this alone.
        self._plain = False
        self._file: BinaryIO | None = None
        self.path: Path | None = None  # where the content is on disk under a name
        self.hexdigest: str | None = None  # `digest`'s, once the part is complete
        self._hash: Any = None
        if digest is not None:
            import hashlib

            self._hash = hashlib.new(digest)
        if target is not None:
            self._open_target(target)

    # -- filling, while the body streams in ----------------------------------
    def _open_target(self, target: Target) -> None:
        if isinstance(target, str | os.PathLike):
            path = os.fspath(target)
            self._fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, 0o644)
            self._target_path = path
            self._plain = self._hash is None
            from pathlib import Path

            self.path = Path(path)
        else:
            self._sink = target
        self._buffer = None

    def write(self, data: memoryview) -> None:
        size = len(data)
        self.size += size
        if not self._plain:
            if self._hash is not None:
                self._hash.update(data)
            if self._buffer is not None:
                if len(self._buffer) + size <= self._spool_size:
                    self._buffer += data
                    return
                self._fd, self._temp_path = open_temp(self._upload_dir)
                write_all(self._fd, memoryview(self._buffer))
                self._buffer = None
                self._plain = self._hash is None
            if self._sink is not None:
                self._sink.write(data)
                return
        # `write_all`, its first write inline: this runs for every chunk of a
        # large upload, and a write is short only on a signal or a full disk.
        written = os.write(self._fd, data)
        if written < size:
            write_all(self._fd, data[written:])

    def finish(self) -> None:
        """The part is complete: make the content readable from its start."""
        if self._hash is not None:
            self.hexdigest = self._hash.hexdigest()
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

    def save(self, path: str | os.PathLike[str], *, mode: int | None = None) -> Path:
        """Put the content at `path`, replacing any file there, and return it.

        One rule whatever the content's size: it is given a temp name
        beside `path` and renamed onto it (os.replace), so a reader sees the
        old file or the whole new one, a symlink at `path` is replaced, not
        followed, and a failure leaves nothing behind (the upload itself is
        intact). A folder at `path` is an IsADirectoryError. The file's mode
        is `mode`, else what `open(path, "w")` gives: 0o666 less the umask.

        A spooled file gets that name by a hard link (O_TMPFILE) or is the
        named temp file renamed: O(1) whatever its size. Across filesystems
        it is copied by the kernel (sendfile). An in-memory one is written.
        """
        from pathlib import Path

        destination = Path(path)
        if self._file is None:
            raise ValueError(f"upload {self.name!r} has no readable content")
        memory = self._file if isinstance(self._file, io.BytesIO) else None
        if memory is None and self._fd < 0:
            raise ValueError(f"upload {self.name!r} went to a file object of the app's; save it there")
        with contextlib.suppress(FileNotFoundError):
            if stat.S_ISDIR(os.lstat(destination).st_mode):  # refused before a byte is copied
                raise IsADirectoryError(errno.EISDIR, os.strerror(errno.EISDIR), str(destination))
        mode = _default_mode() if mode is None else mode
        directory = os.open(destination.parent, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
        try:
            if memory is not None:
                self._write_beside(directory, destination.name, mode, memory)
            elif self.path is not None or self._temp_path is not None:
                self._rename(directory, destination.name, mode, os.fspath(self.path or self._temp_path or ""))
            else:
                self._link_unnamed(directory, destination.name, mode)
        finally:
            os.close(directory)
        self.path = destination
        return destination

    def _rename(self, directory: int, name: str, mode: int, source: str) -> None:
        """A named file of ours (temp or target) renamed onto `name`: no copy,
        atomic. Across filesystems it is copied beside, then removed."""
        os.fchmod(self._fd, mode)
        try:
            os.replace(source, name, dst_dir_fd=directory)
        except OSError as error:
            if error.errno != errno.EXDEV:
                raise
            self._write_beside(directory, name, mode)
            with contextlib.suppress(FileNotFoundError):
                os.unlink(source)
        self._temp_path = self._target_path = None

    def _link_unnamed(self, directory: int, name: str, mode: int) -> None:
        # linkat() of an O_TMPFILE file gives it a name. CPython calls plain
        # link(), which will not follow /proc/self/fd/N, unless a dir fd is
        # given: then it is linkat(..., AT_SYMLINK_FOLLOW).
        os.fchmod(self._fd, mode)
        staging = _staging_name()
        try:
            os.link(f"/proc/self/fd/{self._fd}", staging, dst_dir_fd=directory)
        except OSError as error:
            if error.errno not in (errno.EXDEV, errno.ENOENT, errno.EPERM):
                raise
            self._write_beside(directory, name, mode)
            return
        _replace(directory, staging, name)

    def _write_beside(self, directory: int, name: str, mode: int, memory: io.BytesIO | None = None) -> None:
        """The content (`memory`'s, else the spool's) written into a new temp
        file beside `name`, then renamed onto it."""
        staging = _staging_name()
        flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC
        fd = os.open(staging, flags, 0o600, dir_fd=directory)
        try:
            try:
                if memory is not None:
                    with memory.getbuffer() as view:
                        write_all(fd, view)
                else:
                    self._copy_into(fd)
                os.fchmod(fd, mode)
            finally:
                os.close(fd)
        except BaseException:
            _unlink(directory, staging)
            raise
        _replace(directory, staging, name)

    def _copy_into(self, fd: int) -> None:
        """Across filesystems: a kernel-side copy (sendfile), no read into Python."""
        offset = 0
        while offset < self.size:
            sent = os.sendfile(fd, self._fd, offset, self.size - offset)
            if sent == 0:  # the spool is shorter than what was written to it: never save half
                raise OSError(errno.EIO, f"upload {self.name!r} ended at byte {offset} of {self.size}")
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
