"""A sans-I/O multipart/form-data decoder: bytes in, events out.

It drives python-multipart's low-level `MultipartParser` and adds what that
parser leaves to its callers: part headers parsed into a `PartStart`
(field name, safe file name, content type), limits that answer 413, a check
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
from urllib.parse import unquote

from python_multipart.exceptions import MultipartParseError
from python_multipart.multipart import MultipartParser, MultipartState

from ..errors import BadRequest, PayloadTooLarge
from ..headers import Headers

# RFC 2046 5.1.1: 1 to 70 characters from this set, not ending in a space.
_BOUNDARY = re.compile(r"[0-9A-Za-z'()+_,\-./:=? ]{0,69}[0-9A-Za-z'()+_,\-./:=?]")
# WHATWG form encoding writes `"` as %22 and never escapes a backslash, so a
# quoted value runs to the next quote: `\` must not be read as an escape.
_PARAM = re.compile(r'\s*;\s*([^\s=;"]+)\s*=\s*(?:"([^"]*)"|([^\s;"]*))\s*')
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")  # C0 and C1 controls


@dataclass(slots=True)
class PartStart:
    name: str
    filename: str | None  # a safe base name; None for a plain field
    raw_filename: str | None  # as sent, for display or logging only
    content_type: str | None
    charset: str | None
    headers: Headers


@dataclass(slots=True)
class PartData:
    data: memoryview


@dataclass(slots=True)
class PartEnd:
    pass


Event = PartStart | PartData | PartEnd


def parse_options(value: str) -> tuple[str, dict[str, str]]:
    """`form-data; name="a"` -> ("form-data", {"name": "a"}); names lower-cased.

    Parameters must cover the whole value: an unterminated quote or stray
    text is a BadRequest, not a guess."""
    main, sep, rest = value.partition(";")
    params: dict[str, str] = {}
    rest, position = sep + rest, 0
    while position < len(rest):
        match = _PARAM.match(rest, position)
        if match is None:
            if rest[position:].strip(" \t;"):
                raise BadRequest(f"malformed header parameters in {value[:80]!r}")
            break
        key = match.group(1).lower()
        params.setdefault(key, match.group(2) if match.group(2) is not None else match.group(3))
        position = match.end()
    return main.strip().lower(), params


def boundary_of(content_type: str) -> bytes:
    """The boundary of a multipart Content-Type, or BadRequest."""
    boundary = parse_options(content_type)[1].get("boundary")
    if not boundary:
        raise BadRequest("multipart body without a boundary")
    if not _BOUNDARY.fullmatch(boundary):
        raise BadRequest("invalid multipart boundary")
    return boundary.encode("latin-1")


_NAME_MAX = 255  # bytes in a file name (Linux, and most filesystems anywhere)


def safe_filename(raw: str) -> str:
    """The base name of an uploaded file's name: no folder (either slash),
    no control characters, never `.` or `..`, at most 255 bytes of UTF-8
    (a longer name is cut before its extension). May be ''."""
    base = re.split(r"[/\\]", raw)[-1]
    base = _CONTROL.sub("", base).strip()
    encoded = base.encode("utf-8", "surrogatepass")
    if len(encoded) > _NAME_MAX:
        stem, dot, suffix = base.rpartition(".")
        tail = (dot + suffix).encode("utf-8", "surrogatepass") if stem and len(suffix) <= 16 else b""
        head = encoded[: _NAME_MAX - len(tail)].decode("utf-8", "ignore")
        base = (head + tail.decode("utf-8", "surrogatepass")).strip()
    return "" if base in (".", "..") else base


def _decode_rfc5987(value: str) -> str | None:
    """`UTF-8''%E2%82%AC.txt` -> '€.txt' (RFC 5987/8187); None if malformed."""
    charset, sep, rest = value.partition("'")
    _language, sep2, encoded = rest.partition("'")
    if not sep or not sep2:
        return None
    try:
        return unquote(encoded, encoding=charset or "utf-8", errors="strict")
    except (LookupError, UnicodeDecodeError):
        return None


def part_start(raw_headers: list[tuple[bytes, bytes]]) -> PartStart:
    headers = Headers(raw_headers)
    disposition = headers.get("content-disposition")
    if disposition is None:
        raise BadRequest("a multipart part has no Content-Disposition")
    # Browsers send names as raw UTF-8 bytes; headers were read as latin-1.
    kind, params = parse_options(disposition.encode("latin-1").decode("utf-8", "replace"))
    if kind != "form-data" or "name" not in params:
        raise BadRequest("a multipart part is not form-data with a name")
    raw_filename = params.get("filename")
    if "filename*" in params:
        raw_filename = _decode_rfc5987(params["filename*"]) or raw_filename
    content_type = headers.get("content-type")
    charset = parse_options(content_type)[1].get("charset") if content_type else None
    return PartStart(
        name=params["name"],
        filename=None if raw_filename is None else safe_filename(raw_filename),
        raw_filename=raw_filename,
        content_type=content_type,
        charset=charset,
        headers=headers,
    )


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
