"""The headers of a multipart/form-data part (RFC 7578): its
Content-Disposition parameters (quoted-pairs, RFC 8187 `filename*`, RFC
2231 pieces), the field name, a safe file name, the content type and
charset, as a `PartStart`; and a refusal of any transfer encoding.

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
    filename: str | None  # a safe base name, never ''; None for a plain field
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
UNNAMED = "upload"  # the safe name of a file whose name leaves nothing


def safe_filename(raw: str) -> str:
    """The base name of an uploaded file's name: no folder (either slash),
    no control characters, no lone surrogate (U+FFFD instead), at most 255
    bytes of UTF-8 (a longer name is cut before its extension). Never '',
    `.` or `..`: a name with nothing left (`..`, `/`, spaces, `C:\\`) is
    "upload", so `save(folder / upload.filename)` never names the folder."""
    base = re.split(r"[/\\]", raw)[-1]
    base = without_surrogates(_CONTROL.sub("", base)).strip()
    encoded = base.encode("utf-8")
    if len(encoded) > _NAME_MAX:
        stem, dot, suffix = base.rpartition(".")
        tail = (dot + suffix).encode("utf-8") if stem and len(suffix) <= 16 else b""
        head = encoded[: _NAME_MAX - len(tail)].decode("utf-8", "ignore")
        base = (head + tail.decode("utf-8")).strip()
    return UNNAMED if base in ("", ".", "..") else base


# RFC 2231 continuations: `filename*0`, `filename*1*`, ... (999 at most: a
# longer index is refused before int() is asked to read thousands of digits).
_PIECE = re.compile(r"filename\*(0|[1-9][0-9]{0,2})(\*?)")
# RFC 7578 4.7 deprecates Content-Transfer-Encoding in form-data and no
# browser sends it: these three say the bytes are as they are.
_IDENTITY_ENCODINGS = ("7bit", "8bit", "binary")

# A name as its charset's codec (None: not one RFC 8187 allows) and its
# pieces: text as sent, or bytes as percent-decoded, to read with the codec.
Encoded = tuple[str | None, list[str | bytes]]


def _ext_value(value: str) -> Encoded:
    """`UTF-8'en'%E2%82%AC.txt` (RFC 8187) -> ("utf-8", [b"\xe2\x82\xac.txt"]);
    a value without its two apostrophes is text with no codec."""
    charset, sep, rest = value.partition("'")
    _language, sep2, encoded = rest.partition("'")
    if not sep or not sep2:
        return None, [value]
    return ext_value_codec(charset), [unquote_to_bytes(encoded)]


def _pieces(params: dict[str, str]) -> Encoded | None:
    """The `filename*N` / `filename*N*` pieces joined (the first encoded one
    names the charset; UTF-8 if none does), or None if there are none.
    Pieces that are not one run from 0 (a gap, `*01`, one index twice) are
    a BadRequest: the file's name is in them, and a guess could lose it."""
    found: dict[int, tuple[str, bool]] = {}
    for key, value in params.items():
        if not key.startswith("filename*") or key == "filename*":
            continue
        match = _PIECE.fullmatch(key)
        if match is None or int(match.group(1)) in found:
            raise BadRequest(f"a file name in RFC 2231 pieces that do not join: {key[:40]!r}")
        found[int(match.group(1))] = (value, match.group(2) == "*")
    if not found:
        return None
    if len(found) - 1 != max(found):
        raise BadRequest("a file name in RFC 2231 pieces that do not join: one is missing")
    codec: str | None = "utf-8"
    segments: list[str | bytes] = []
    for index in range(len(found)):
        value, encoded = found[index]
        if not encoded:
            segments.append(value)
            continue
        if index == 0:
            codec, segments = _ext_value(value)
            continue
        data = unquote_to_bytes(value)
        last = segments[-1] if segments else None
        if isinstance(last, bytes):  # one run of bytes: a character may span two pieces
            segments[-1] = last + data
        else:
            segments.append(data)
    return codec, segments


def _exact_name(encoded: Encoded) -> str | None:
    """The name if its charset is one RFC 8187 allows and its bytes are
    valid in it; else None (a client's `utf-7''` or `unicode_escape''`
    would give lone surrogates, `undefined''` an error)."""
    codec, segments = encoded
    if codec is None:
        return None
    try:
        return "".join(part if isinstance(part, str) else part.decode(codec) for part in segments)
    except UnicodeDecodeError:
        return None


def _best_name(encoded: Encoded) -> str:
    """A name that cannot be read exactly, read as well as it can: its
    bytes as UTF-8 if its charset is unknown (as a field's would be), bad
    bytes as U+FFFD."""
    codec, segments = encoded
    return "".join(part if isinstance(part, str) else part.decode(codec or "utf-8", "replace") for part in segments)


def _file_name(params: dict[str, str]) -> str | None:
    """The file's name as sent, or None for a plain field: `filename*`, then
    RFC 2231 pieces (Go's order), where they read exactly and are not
    empty (RFC 6266 4.3); else the plain `filename`; else the best reading
    of the former: a part that names a file stays a file."""
    candidates = []
    if "filename*" in params:
        candidates.append(_ext_value(params["filename*"]))
    pieces = _pieces(params)
    if pieces is not None:
        candidates.append(pieces)
    for encoded in candidates:
        name = _exact_name(encoded)
        if name:
            return name
    if "filename" in params:
        return params["filename"]
    return _best_name(candidates[0]) if candidates else None


def part_start(raw_headers: list[tuple[bytes, bytes]]) -> PartStart:
    headers = Headers(raw_headers)
    disposition = headers.get("content-disposition")
    if disposition is None:
        raise BadRequest("a multipart part has no Content-Disposition")
    # Browsers send names as raw UTF-8 bytes; headers were read as latin-1.
    kind, params = parse_options(disposition.encode("latin-1").decode("utf-8", "replace"))
    if kind != "form-data" or "name" not in params:
        raise BadRequest("a multipart part is not form-data with a name")
    encoding = headers.get("content-transfer-encoding")
    if encoding is not None and encoding.strip().lower() not in _IDENTITY_ENCODINGS:
        # Handing the handler still-encoded bytes as the content would be a silent lie.
        raise BadRequest(f"Content-Transfer-Encoding {encoding.strip()[:40]} is not supported")
    raw_filename = _file_name(params)
    content_type = headers.get("content-type")
    if content_type and content_type.lstrip().lower().startswith("multipart/"):
        # RFC 2388's multipart/mixed, several files under one name, which no
        # browser sends any more (RFC 7578 4.3): refused, not handed on as text.
        raise BadRequest("a nested multipart part (several files in one part) is not supported")
    charset = parse_options(content_type)[1].get("charset") if content_type else None
    return PartStart(
        name=params["name"],
        filename=None if raw_filename is None else safe_filename(raw_filename),
        raw_filename=raw_filename,
        content_type=content_type,
        charset=charset,
        headers=headers,
    )
