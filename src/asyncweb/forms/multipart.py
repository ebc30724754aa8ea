"""A sans-I/O multipart/form-data decoder: bytes in, events out.

It drives python-multipart's low-level `MultipartParser` and adds what that
parser leaves to its callers: part headers parsed into a `PartStart`
(`part_headers`), limits that answer 413, a check
that the body really reached its closing boundary, and errors as
`BadRequest`. Part data comes out as memoryview slices of the chunk fed in:
no copy is made here.

No I/O and no ASGI: the caller feeds the bytes and acts on the events. The
only limits here are the part headers' (python-multipart counts those
bytes as it scans); the fields' and files' sizes and counts are the
reader's to enforce, and what a file part's bytes become is `uploads`'.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from python_multipart.exceptions import MultipartParseError
from python_multipart.multipart import MultipartParser, MultipartState

from ..errors import BadRequest, PayloadTooLarge
from .part_headers import PartStart, parse_options, part_start

# RFC 2046 5.1.1: 1 to 70 characters from this set, not ending in a space.
_BOUNDARY = re.compile(r"[0-9A-Za-z'()+_,\-./:=? ]{0,69}[0-9A-Za-z'()+_,\-./:=?]")


@dataclass(slots=True)
class PartData:
    data: memoryview


@dataclass(slots=True)
class PartEnd:
    pass


Event = PartStart | PartData | PartEnd


def boundary_of(content_type: str) -> bytes:
    """The boundary of a multipart Content-Type, or BadRequest."""
    boundary = parse_options(content_type)[1].get("boundary")
    if not boundary:
        raise BadRequest("multipart body without a boundary")
    if not _BOUNDARY.fullmatch(boundary):
        raise BadRequest("invalid multipart boundary")
    return boundary.encode("latin-1")


class MultipartDecoder:
    """Feed body chunks, get `PartStart`, `PartData` and `PartEnd` events.

    `close()` after the last chunk raises BadRequest unless the closing
    boundary was seen (python-multipart accepts a cut-off body silently).
    """

    def __init__(self, boundary: bytes, max_header_size: int, max_headers: int) -> None:
        self._events: list[Event] = []
        self._headers: list[tuple[bytes, bytes]] = []
        self._field = bytearray()
        self._value = bytearray()
        callbacks = {
            "on_part_begin": self._on_part_begin,
            "on_header_field": self._on_header_field,
            "on_header_value": self._on_header_value,
            "on_header_end": self._on_header_end,
            "on_headers_finished": self._on_headers_finished,
            "on_part_data": self._on_part_data,
            "on_part_end": self._on_part_end,
        }
        self._parser = MultipartParser(
            boundary,
            callbacks,  # type: ignore[arg-type]
            max_header_count=max_headers,
            max_header_size=max_header_size,
        )

    def feed(self, chunk: bytes | memoryview) -> list[Event]:
        try:
            self._parser.write(chunk)  # type: ignore[arg-type]
        except MultipartParseError as error:
            # The parser counts header bytes as it scans, so only it can
            # stop an oversized header in time; its limits are ours.
            message = str(error)
            if message.startswith("Maximum header"):
                raise PayloadTooLarge(f"part headers over the limit: {message}") from None
            raise BadRequest(f"malformed multipart body: {message}") from None
        events, self._events = self._events, []
        return events

    def close(self) -> None:
        if self._parser.state != MultipartState.END:
            raise BadRequest("multipart body cut off before its closing boundary")

    # -- python-multipart callbacks ----------------------------------------
    def _on_part_begin(self) -> None:
        self._headers = []

    def _on_header_field(self, data: bytes, start: int, end: int) -> None:
        self._field += data[start:end]

    def _on_header_value(self, data: bytes, start: int, end: int) -> None:
        self._value += data[start:end]

    def _on_header_end(self) -> None:
        self._headers.append((bytes(self._field).strip().lower(), bytes(self._value).strip()))
        self._field.clear()
        self._value.clear()

    def _on_headers_finished(self) -> None:
        self._events.append(part_start(self._headers))

    def _on_part_data(self, data: bytes, start: int, end: int) -> None:
        self._events.append(PartData(memoryview(data)[start:end]))

    def _on_part_end(self) -> None:
        self._events.append(PartEnd())
