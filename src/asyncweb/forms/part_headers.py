"""The headers of a multipart/form-data part (RFC 7578): its
Content-Disposition parameters, the field name, a safe file name, the
content type and charset, as a `PartStart`.

Text in, a `PartStart` or a `BadRequest` out: no I/O, and nothing here
knows where the part's bytes go.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from urllib.parse import unquote_to_bytes

from ..errors import BadRequest
from ..headers import Headers
from .charsets import ext_value_codec, without_surrogates

# A quoted value may hold quoted-pairs (RFC 9110 5.6.4): `\"` and `\\` are
# what curl --form-escape (and every curl before 7.81) sends. Any other
# backslash stays as it is, for the raw Windows paths of old IE
# (`C:\dir\file.txt`). Browsers write `"` as %22 and never escape a
# backslash, so a name ending in one (`"a\"`) reads as an unterminated
# quote: the header is read again with every backslash literal.
_PARAM = re.compile(r'\s*;\s*([^\s=;"]+)\s*=\s*(?:"((?:[^"\\]|\\.)*)"|([^\s;"]*))\s*')
_LITERAL_PARAM = re.compile(r'\s*;\s*([^\s=;"]+)\s*=\s*(?:"([^"]*)"|([^\s;"]*))\s*')
_QUOTED_PAIR = re.compile(r'\\(["\\])')
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")  # C0 and C1 controls


@dataclass(slots=True)
class PartStart:
    name: str
    filename: str | None  # a safe base name; None for a plain field
    raw_filename: str | None  # as sent, for display or logging only
    content_type: str | None
    charset: str | None
    headers: Headers


def parse_options(value: str) -> tuple[str, dict[str, str]]:
    """`form-data; name="a"` -> ("form-data", {"name": "a"}); names lower-cased.

    Parameters must cover the whole value: an unterminated quote, stray
    text or one parameter given twice with two values is a BadRequest, not
    a guess. Quoted-pairs are read as such unless that leaves the value
    malformed and reading every backslash literally does not."""
    main, sep, rest = value.partition(";")
    params = _parameters(sep + rest, _PARAM, unescape=True)
    if params is None:
        params = _parameters(sep + rest, _LITERAL_PARAM, unescape=False)
        if params is None:
            raise BadRequest(f"malformed header parameters in {value[:80]!r}")
    return main.strip().lower(), params


def _parameters(text: str, pattern: re.Pattern[str], unescape: bool) -> dict[str, str] | None:
    """The parameters of `text` (`; a=b; c="d"`), or None if it is malformed."""
    params: dict[str, str] = {}
    position = 0
    while position < len(text):
        match = pattern.match(text, position)
        if match is None:
            if text[position:].strip(" \t;"):
                return None
            break
        key, quoted, found = match.group(1).lower(), match.group(2), match.group(3)
        if quoted is not None:
            found = _QUOTED_PAIR.sub(r"\1", quoted) if unescape and "\\" in quoted else quoted
        if params.setdefault(key, found) != found:  # Go refuses them too; which would we trust?
            raise BadRequest(f"header parameter {key[:40]!r} given twice")
        position = match.end()
    return params


_NAME_MAX = 255  # bytes in a file name (Linux, and most filesystems anywhere)


def safe_filename(raw: str) -> str:
    """The base name of an uploaded file's name: no folder (either slash),
    no control characters, no lone surrogate (U+FFFD instead), never `.` or
    `..`, at most 255 bytes of UTF-8 (a longer name is cut before its
    extension). May be ''."""
    base = re.split(r"[/\\]", raw)[-1]
    base = without_surrogates(_CONTROL.sub("", base)).strip()
    encoded = base.encode("utf-8")
    if len(encoded) > _NAME_MAX:
        stem, dot, suffix = base.rpartition(".")
        tail = (dot + suffix).encode("utf-8") if stem and len(suffix) <= 16 else b""
        head = encoded[: _NAME_MAX - len(tail)].decode("utf-8", "ignore")
        base = (head + tail.decode("utf-8")).strip()
    return "" if base in (".", "..") else base


def _decode_rfc5987(value: str) -> str | None:
    """`UTF-8''%E2%82%AC.txt` -> '€.txt' (RFC 8187); None if malformed, not
    valid in its charset, or in a charset other than UTF-8, ISO-8859-1 or
    US-ASCII (a client's `utf-7''` or `unicode_escape''` is no text)."""
    charset, sep, rest = value.partition("'")
    _language, sep2, encoded = rest.partition("'")
    codec = ext_value_codec(charset)
    if not sep or not sep2 or codec is None:
        return None
    try:
        return unquote_to_bytes(encoded).decode(codec)
    except UnicodeDecodeError:
        return None


def _ext_value_as_utf_8(value: str) -> str:
    """A `filename*` we cannot honour and no plain `filename` beside it:
    still a file, so a name it is, its bytes read as UTF-8 as in a field."""
    _charset, sep, rest = value.partition("'")
    _language, sep2, encoded = rest.partition("'")
    if not sep or not sep2:
        return value
    return unquote_to_bytes(encoded).decode("utf-8", "replace")


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
        # RFC 6266 4.3: filename* where it can be read, else the plain filename.
        decoded = _decode_rfc5987(params["filename*"])
        if decoded:  # an empty one names nothing
            raw_filename = decoded
        elif raw_filename is None:
            raw_filename = _ext_value_as_utf_8(params["filename*"])
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
