"""multipart/form-data bodies (RFC 7578), as a browser sends them: what
`asyncweb call` uploads `name=@file` with."""

from __future__ import annotations

import mimetypes
import os
import secrets
from collections.abc import Iterator, Sequence

CHUNK_SIZE = 64 * 1024


def _disposition(name: str, filename: str | None = None) -> bytes:
    # As browsers do (HTML's multipart/form-data encoding): quotes and line
    # breaks in names are percent-encoded.
    def quoted(text: str) -> str:
        return text.replace('"', "%22").replace("\r", "%0D").replace("\n", "%0A")

    value = f'form-data; name="{quoted(name)}"'
    if filename is not None:
        value += f'; filename="{quoted(filename)}"'
    return value.encode("utf-8")


class MultipartBody:
    """A multipart/form-data body (RFC 7578) of fields and files, with its
    length known up front and the files streamed from disk."""

    def __init__(self, fields: Sequence[tuple[str, str | None]], files: Sequence[tuple[str, str]]) -> None:
        self.boundary = "asyncweb-" + secrets.token_hex(16)
        self._parts: list[tuple[bytes, bytes | str]] = []  # (part head, value or file path)
        for name, value in fields:
            head = b"Content-Disposition: " + _disposition(name)
            self._parts.append((head, (value or "").encode("utf-8")))
        for name, path in files:
            content_type = file_type(path)
            head = b"Content-Disposition: " + _disposition(name, os.path.basename(path))
            self._parts.append((head + b"\r\nContent-Type: " + content_type.encode(), path))
        self.length = sum(len(self._opening(head)) + self._size(value) + 2 for head, value in self._parts)
        self.length += len(self._closing())

    @property
    def content_type(self) -> str:
        return f"multipart/form-data; boundary={self.boundary}"

    def _opening(self, head: bytes) -> bytes:
        return b"--" + self.boundary.encode() + b"\r\n" + head + b"\r\n\r\n"

    def _closing(self) -> bytes:
        return b"--" + self.boundary.encode() + b"--\r\n"

    @staticmethod
    def _size(value: bytes | str) -> int:
        return len(value) if isinstance(value, bytes) else os.path.getsize(value)

    def chunks(self) -> Iterator[bytes]:
        for head, value in self._parts:
            yield self._opening(head)
            if isinstance(value, bytes):
                yield value
            else:
                yield from file_chunks(value)
            yield b"\r\n"
        yield self._closing()


def file_chunks(path: str) -> Iterator[bytes]:
    """A file's bytes, read as they are sent."""
    with open(path, "rb") as file:
        while chunk := file.read(CHUNK_SIZE):
            yield chunk


def file_type(path: str) -> str:
    """The media type a file is sent as, from its name. A compressed file
    (data.json.gz) goes as it is, not as its content's type."""
    kind, encoding = mimetypes.guess_type(path)
    return kind if kind is not None and encoding is None else "application/octet-stream"
