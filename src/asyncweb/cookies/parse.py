"""The request's Cookie header: a lenient parser, as browsers send it.

It may not write (`cookies.set_cookie` does) nor refuse a header: a pair
it cannot read is skipped. Compiled in the release build (pyproject.toml's
mypyc list), where every request with cookies runs it.
"""

from __future__ import annotations

import re

# What str.strip() takes off ASCII text.
_SPACE = " \t\n\v\f\r\x1c\x1d\x1e\x1f"
# A backslash escape in a quoted value: three octal digits (as http.cookies
# reads them, up to \377) or any other character. Rare: left to `re`'s
# cache, not compiled at import (a CGI process pays for that).
_ESCAPE = r"(?s)\\(?:([0-3][0-7][0-7])|(.))"


def parse_cookies(header: str) -> dict[str, str]:
    """Cookies of a Cookie header (the latin-1 text of its bytes), as browsers send them.

    A pair without `=` or without a name is skipped and the rest kept. A
    value in double quotes is unquoted, with http.cookies' backslash escapes
    undone. Names and values are decoded as UTF-8, the bytes browsers send,
    where they are valid UTF-8, else kept as latin-1 text. When a name
    repeats, the first wins: browsers list the cookie with the most specific
    path first (RFC 6265 5.4).
    """
    if not header.isascii():
        return _parse_non_ascii(header)
    cookies: dict[str, str] = {}
    for chunk in header.split(";"):  # the common case: all ASCII
        name, eq, value = chunk.partition("=")
        name = name.strip()
        if eq and name and name not in cookies:
            cookies[name] = value.strip()
    if '"' in header:  # quoted values are rare: unquoted once all are read, not tested one by one
        for name, value in cookies.items():
            if '"' in value:
                cookies[name] = _unquote(value)
    return cookies


def _parse_non_ascii(header: str) -> dict[str, str]:
    cookies: dict[str, str] = {}
    for chunk in header.split(";"):
        name, eq, value = chunk.partition("=")
        # Only ASCII whitespace is stripped: U+00A0 and U+0085 are the latin-1
        # text of bytes that end UTF-8 sequences (C3 A0 is "à").
        name = _utf8(name.strip(_SPACE))
        if not eq or not name or name in cookies:
            continue
        value = value.strip(_SPACE)
        cookies[name] = _unquote(value) if '"' in value else _utf8(value)
    return cookies


def _unquote(value: str) -> str:
    # Undoes what http.cookies (so Django and Werkzeug too) writes between
    # double quotes: \ooo is one byte in octal, a backslash before any other
    # character is that character. The bytes come out as latin-1 text, so the
    # UTF-8 that Django and Werkzeug escape is decoded after.
    if len(value) > 1 and value[0] == '"' == value[-1]:
        value = value[1:-1]
        if "\\" in value:
            value = re.sub(_ESCAPE, _unescape, value)
    return _utf8(value)


def _unescape(match: re.Match[str]) -> str:
    octal = match[1]
    return chr(int(octal, 8)) if octal else match[2]


def _utf8(text: str) -> str:
    if text.isascii():
        return text
    try:
        return text.encode("latin-1").decode("utf-8")  # strict: never a lone surrogate
    except UnicodeError:  # not UTF-8 (or not bytes as latin-1 text): kept as it is
        return text
