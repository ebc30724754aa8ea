"""The syntax of HTTP header fields (RFC 9110 5): names that are tokens,
values free of control characters, Content-Length numbers, repeated
fields joined.

Plain functions over str, no state and no I/O; `headers`, `cookies`, the
response and every gateway check and parse fields through them. Compiled
in the mypyc build with the gateway code that calls it on every request,
so it may not hold a class a user could subclass.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

# RFC 9110 5.6.2: a header name, and a cookie name too (RFC 6265 4.1.1).
TOKEN = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")
# RFC 9110 5.5: field values are visible characters, SP and HTAB; of the
# obs-text it tolerates, the C1 controls (U+0080-U+009F: NEL, CSI...) are
# refused too, as latin-1 would put them on the wire as they are.
_CTL = re.compile(r"[\x00-\x08\x0a-\x1f\x7f-\x9f]")


def join_header_values(name: str, values: Iterable[str]) -> str:
    """Repeated header fields merged into one value: cookies with '; '
    (RFC 6265 5.4), every other field with ', ' (RFC 9110 5.3)."""
    return ("; " if name.lower() in ("cookie", "http_cookie") else ", ").join(values)


def check_name(name: object) -> str:
    # `object`, not str: a name that is no str gets this ValueError in the
    # compiled build too, where a str parameter would raise TypeError first.
    if not isinstance(name, str) or not TOKEN.fullmatch(name):
        raise ValueError(f"invalid header name {name!r}")
    return name


def check_value(value: object, what: str = "header value") -> str:
    """Refuse control characters (CR, LF, NUL...) and what latin-1 cannot carry."""
    if not isinstance(value, str):
        raise TypeError(f"{what} must be str, not {type(value).__name__}")
    if _CTL.search(value):
        raise ValueError(f"control character in {what} {value!r}")
    try:
        value.encode("latin-1")
    except UnicodeEncodeError:
        raise ValueError(f"{what} {value!r} is not latin-1; percent-encode it") from None
    return value


def parse_length(value: str | None) -> int | None:
    """A Content-Length value as a number; None when absent or not one.

    isdigit() alone accepts digits such as '²', which int() refuses."""
    if value is None:
        return None
    if not (value.isdigit() and value.isascii()):  # most are plain digits: no strip for them
        value = value.strip()
        if not (value.isdigit() and value.isascii()):
            return None
    return int(value)
