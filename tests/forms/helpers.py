"""Form bodies as a browser sends them, for the tests of forms/ and of reliability."""

from __future__ import annotations

import os


def multipart(*parts: bytes, boundary: bytes = b"XyZ") -> bytes:
    body = b"".join(b"--" + boundary + b"\r\n" + part + b"\r\n" for part in parts)
    return body + b"--" + boundary + b"--\r\n"


def file_part(name: bytes, filename: bytes, content: bytes, extra: bytes = b"") -> bytes:
    disposition = b'Content-Disposition: form-data; name="' + name + b'"; filename="' + filename + b'"' + extra
    return disposition + b"\r\nContent-Type: application/octet-stream\r\n\r\n" + content


def text_part(name: bytes, value: bytes, content_type: bytes = b"") -> bytes:
    head = b'Content-Disposition: form-data; name="' + name + b'"\r\n'
    if content_type:
        head += b"Content-Type: " + content_type + b"\r\n"
    return head + b"\r\n" + value


MULTIPART_TYPE = {"content-type": "multipart/form-data; boundary=XyZ"}


def open_fds() -> int:
    return len(os.listdir("/proc/self/fd"))
