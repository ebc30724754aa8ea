"""Query strings and urlencoded bodies: parse (whole or streamed) and build.

Unlike urllib and every peer framework, an item without `=` is kept with the
value None (`?a` -> ("a", None)), distinct from an empty value (`?a=` ->
("a", "")), as PEP 222 asks. `+` is a space; escapes are decoded as UTF-8.
"""

from __future__ import annotations

from _codecs import escape_decode  # built in, as loaded as codecs: `\\xHH` to bytes, in C
from collections.abc import Iterable, Mapping

from .errors import BadRequest, PayloadTooLarge

Pair = tuple[str, str | None]
RawPair = tuple[bytes, bytes | None]  # unescaped, not yet decoded

_NOT_SEPARATORS = bytes(byte for byte in range(256) if byte not in b"&=\x00")


class QueryError(BadRequest):
    """A malformed query or urlencoded body, under strict parsing."""


def _unpercent(data: bytes) -> bytes:
    """%-escapes to bytes, in C: each becomes `\\xHH` for `escape_decode`,
    whose own backslash escapes are kept out by doubling every backslash
    first. A bad escape (`%zz`, a lone `%`) raises ValueError."""
    return escape_decode(data.replace(b"\\", b"\\\\").replace(b"%", b"\\x"))[0]


def unescape(raw: bytes, strict: bool) -> bytes:
    """`+` to space and %-escapes to bytes."""
    if b"+" in raw:
        raw = raw.replace(b"+", b" ")
    if b"%" in raw:
        try:
            return _unpercent(raw)
        except ValueError:  # a bad escape (`%zz`, a lone `%`)
            if strict:
                raise QueryError(f"bad percent-encoding in {raw[:40]!r}") from None
        # Lenient: a bad escape stays as it is, as urllib leaves it
        # (imported only here: a CGI process that never meets one is
        # spared urllib.parse and the ipaddress it imports).
        from urllib.parse import unquote_to_bytes

        return unquote_to_bytes(raw)
    return raw


def decode_text(raw: bytes, strict: bool, charset: str = "utf-8") -> str:
    try:
        return raw.decode(charset)
    except UnicodeDecodeError:
        if strict:
            raise QueryError(f"invalid {charset} in {raw[:40]!r}") from None
        return raw.decode(charset, "replace")


def _decode(raw: bytes, strict: bool) -> str:
    return decode_text(unescape(raw, strict), strict)


def split_whole(data: bytes, unless: str | None = None) -> list[Pair] | None:
    """The pairs of a whole query or urlencoded body, as `parse_query` and
    `QueryParser` give them, worked out with a few bytes methods over all of
    it instead of item by item; None when it holds what needs the rules item
    by item (a bad %-escape, bytes that are not UTF-8, a NUL, a \\x01 but in
    the common case below), which the caller then applies, or when the text
    holds `unless` anywhere (a form's `_charset_`: its value decides how the
    rest decodes). Limits are the caller's.

    The separators become NUL (`&`) and \\x01 (`=`) before the escapes are
    decoded, so that an escaped `&` or `=` stays data; NUL and \\x01 are
    refused in the data, raw or escaped, so they can only be separators.
    Escapes become `\\xHH` for `escape_decode`, whose backslash escapes are
    then the only ones (each backslash is doubled first), and which refuses a
    bad one (`%zz`, a lone `%`) as `unquote_to_bytes` would not: None then.
    UTF-8 decoded whole is UTF-8 decoded item by item, separators being ASCII.

    When the separators alone read `=&=&...=` (every item `name=value`, none
    empty: nearly every form a browser sends), both become NUL and one
    split gives names and values in turn, paired in C; \\x01 is then no
    marker, and a NUL, raw or escaped, shows in the count of separators or
    of parts.
    """
    separators = data.translate(None, _NOT_SEPARATORS)
    paired = len(separators) % 2 == 1 and separators == b"=" + b"&=" * (len(separators) // 2)
    if not paired and (b"\x00" in data or b"\x01" in data or b"%00" in data or b"%01" in data):
        return None
    data = data.replace(b"&", b"\x00").replace(b"=", b"\x00" if paired else b"\x01").replace(b"+", b" ")
    if b"%" in data:
        try:
            data = _unpercent(data)
        except ValueError:
            return None
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        return None
    if unless is not None and unless in text:
        return None
    parts = text.split("\x00")
    if paired:
        if len(parts) != len(separators) + 1:  # an escaped NUL
            return None
        names_and_values = iter(parts)
        return list(zip(names_and_values, names_and_values, strict=False))  # an even count
    pairs: list[Pair] = []
    for item in parts:
        if item:  # empty items (`a&&b`) are skipped
            name, eq, value = item.partition("\x01")
            if "\x01" in value:  # `a=b=c`: only the first `=` separates
                value = value.replace("\x01", "=")
            pairs.append((name, value if eq else None))
    return pairs


def parse_query(query: bytes | str, strict: bool = False) -> list[Pair]:
    """Pairs of a query string, in order. A `str` is taken as UTF-8.

    Empty items (`a&&b`) are skipped. With `strict`, bad percent-escapes and
    invalid UTF-8 raise QueryError (a 400) instead of being kept as they are.
    """
    if isinstance(query, str):
        query = query.encode("utf-8")
    # One decode for the whole query, then only the parts with escapes are
    # unescaped and decoded on their own. `&`, `=` and `+` are ASCII, so the
    # parts of the decoded text are the decoded parts. When some bytes are not
    # UTF-8, the parts come back as their exact bytes (surrogateescape) and
    # each is decoded on its own, its bad bytes replaced or, strict, refused.
    try:
        text, clean = query.decode("utf-8"), True
    except UnicodeDecodeError:
        text, clean = query.decode("utf-8", "surrogateescape"), False
    pairs: list[Pair] = []
    for item in text.replace("+", " ").split("&"):
        if item:
            name, eq, value = item.partition("=")
            if not clean or "%" in name:
                name = _decode(name.encode("utf-8", "surrogateescape"), strict)
            if not clean or "%" in value:
                value = _decode(value.encode("utf-8", "surrogateescape"), strict)
            pairs.append((name, value if eq else None))
    return pairs


def build_query(pairs: Iterable[tuple[str, str | None]] | Mapping[str, str | None]) -> str:
    """A query string from 2-tuples; a None value gives a bare `name`.

    `parse_query(build_query(pairs)) == pairs` for any pairs of strings and
    None, except the one pair no query string can hold: an empty name with
    no value, which raises ValueError.
    """
    from urllib.parse import quote_plus  # not on a request's path: see unescape

    items = pairs.items() if isinstance(pairs, Mapping) else pairs
    parts = []
    for name, value in items:
        encoded = quote_plus(name, safe="")
        if value is None:
            if not name:
                raise ValueError("a pair with an empty name and no value has no query-string form")
            parts.append(encoded)
        else:
            parts.append(encoded + "=" + quote_plus(value, safe=""))
    return "&".join(parts)


class QueryParser:
    """Incremental `application/x-www-form-urlencoded` parser (sans-I/O).

    `feed(chunk)` returns the pairs completed by the chunk, `close()` the
    last one, as unescaped bytes: a form's `_charset_` field, which may come
    last, decides how they decode (`decode_text`). Only the unfinished item
    is buffered, so memory is bounded by `max_field_size`; exceeding it or
    `max_fields` raises PayloadTooLarge.
    """

    __slots__ = ("_count", "_pending", "max_field_size", "max_fields", "strict")

    def __init__(
        self,
        strict: bool = False,
        max_fields: int | None = None,
        max_field_size: int | None = None,
    ) -> None:
        self.strict = strict
        self.max_fields = max_fields
        self.max_field_size = max_field_size
        self._pending = bytearray()
        self._count = 0

    def feed(self, chunk: bytes | bytearray | memoryview) -> list[RawPair]:
        start = len(self._pending)  # what is pending holds no "&": look in the new bytes only
        self._pending += chunk
        end = self._pending.rfind(b"&", start)
        if end < 0:
            self._check_size(self._pending)
            return []
        complete = bytes(self._pending[:end])
        del self._pending[: end + 1]
        pairs = self._parse(complete)  # the complete items first: the answer must not depend on the split
        self._check_size(self._pending)
        return pairs

    def close(self) -> list[RawPair]:
        rest = bytes(self._pending)
        self._pending.clear()
        return self._parse(rest)

    def _parse(self, data: bytes) -> list[RawPair]:
        pairs: list[RawPair] = []
        strict = self.strict
        # No item is longer than the data: most data needs no check per item.
        check_size = self.max_field_size is not None and len(data) > self.max_field_size
        # Each item is counted and measured before it is unescaped, in order,
        # so that the first fault wins however the body was split.
        left = None if self.max_fields is None else self.max_fields - self._count
        for item in data.split(b"&"):
            if item:
                if left is not None:
                    if left == 0:
                        raise PayloadTooLarge(f"more than {self.max_fields} fields")
                    left -= 1
                if check_size:
                    self._check_size(item)
                name, eq, value = item.partition(b"=")
                pairs.append((unescape(name, strict), unescape(value, strict) if eq else None))
        self._count += len(pairs)
        return pairs

    def _check_size(self, item: bytes | bytearray) -> None:
        if self.max_field_size is not None and len(item) > self.max_field_size:
            raise PayloadTooLarge(f"a field is larger than {self.max_field_size} bytes")
