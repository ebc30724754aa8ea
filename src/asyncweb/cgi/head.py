"""The header block of a CGI response (RFC 3875 6), as the CGI runner and the
FastCGI server write it for an ASGI app's status and headers."""

from __future__ import annotations

import re
from collections.abc import Iterable
from http import HTTPStatus

_STATUS_LINES: dict[int, bytes] = {s.value: b"Status: %d %s\r\n" % (s.value, s.phrase.encode()) for s in HTTPStatus}
# Each field a token name and a value of visible characters, SP and HTAB
# (RFC 9110 5.5), every line ending in CRLF, then the blank line.
_FIELDS = re.compile(rb"(?:[!#$%&'*+\-.^_`|~0-9A-Za-z]+: [\t\x20-\x7e\x80-\xff]*\r\n)*\r\n")


def render_head(status: object, headers: Iterable[Iterable[bytes]]) -> bytes:
    """`Status:`, the app's fields and a blank line. A status that is not an
    int from 100 to 999 (the app's message may hold anything), a bad name, a
    control character in a value, or a CR/LF that would forge another line
    raises ValueError. The headers are typed as ASGI has them, two-item
    iterables (tuples or lists), since the compiled build checks the
    declared types at run time. Built as bytes in one join and checked in
    one pass: this runs for every FastCGI response."""
    # type(), not isinstance: True and 200.0 are no statuses.
    if type(status) is not int or not 100 <= status <= 999:
        raise ValueError(f"invalid HTTP status {status!r}")
    line = _STATUS_LINES.get(status) or b"Status: %d Unknown\r\n" % status
    parts: list[bytes] = []
    for name, value in headers:
        parts += (name, b": ", value, b"\r\n")
    parts.append(b"\r\n")
    fields = b"".join(parts)
    # The pattern alone would take a value's "\r\nX-Evil: 1" for a line of
    # its own: the line count says whether every line is the app's.
    if not _FIELDS.fullmatch(fields) or fields.count(b"\n") != len(parts) // 4 + 1:
        raise ValueError(f"invalid response header in {fields[:200]!r}")
    return line + fields
