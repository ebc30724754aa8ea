"""The header block of a CGI response (RFC 3875 6), as the CGI runner and the
FastCGI server write it for an ASGI app's status and headers."""

from __future__ import annotations

import re
from collections.abc import Iterable

from ..errors import reason_phrase

# Status lines already written, by status, without their CRLF: at most 900
# of them (100 to 999).
_STATUS_LINES: dict[int, bytes] = {}
_TOKEN = re.compile(rb"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")
# The start of a field line, CRLF first (`\r\nname: `), for each name known
# to be a token: an app sends the same few, a lookup is cheaper than a
# match, and one piece instead of three makes the join cheaper. Bounded,
# so that made-up names cannot grow it.
_LINE_STARTS: dict[bytes, bytes] = {}
_LINE_STARTS_MAX = 512
# What a field line may hold besides its CRLF: visible characters, SP and
# HTAB (RFC 9110 5.5).
_FIELD_BYTES = bytes((9, *range(0x20, 0x7F), *range(0x80, 0x100)))


def _status_line(status: int) -> bytes:
    line = b"Status: %d %s" % (status, (reason_phrase(status) or "Unknown").encode("latin-1"))
    _STATUS_LINES[status] = line
    return line


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
    starts = _LINE_STARTS
    parts = [_STATUS_LINES.get(status) or _status_line(status)]
    for name, value in headers:
        start = starts.get(name)
        if start is None:
            start = _line_start(name)
        parts += (start, value)
    parts.append(b"\r\n\r\n")
    head = b"".join(parts)
    # Taking out what a line may hold leaves the CRLFs, one per line and
    # the blank line's, unless a value holds a control character, or a CR
    # or LF that would forge a line of its own.
    if head.translate(None, _FIELD_BYTES) != b"\r\n" * (len(parts) // 2 + 1):
        raise ValueError(f"invalid response header in {head[:200]!r}")
    return head


def _line_start(name: bytes) -> bytes:
    if not _TOKEN.fullmatch(name):
        raise ValueError(f"invalid response header name {name[:200]!r}")
    start = b"\r\n" + name + b": "
    if len(_LINE_STARTS) < _LINE_STARTS_MAX:
        _LINE_STARTS[name] = start
    return start
