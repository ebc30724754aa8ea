"""Set-Cookie lines: a strict writer, every part checked.

It may not parse (`cookies.parse` reads the request's Cookie header) and
imports `datetime` only for who sets a dated cookie.
"""

from __future__ import annotations

import time

from .._fieldsyntax import TOKEN, check_value

TYPE_CHECKING = False
if TYPE_CHECKING:  # datetime is imported only by who sets such a cookie: a CGI start-up spares it
    from datetime import datetime, timedelta

# Cookie names already found to be tokens: an app sets few names, again and
# again, and a dict lookup costs a fraction of the regex match. Bounded.
_GOOD_NAMES: dict[str, None] = {}
# RFC 9110 5.6.7 IMF-fixdate names, fixed English whatever the locale.
_DAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
# The SameSite attribute as written, by the value given in lower case and
# as written (looked up first: most code writes it so).
_SAMESITE = {name: f"; SameSite={name.title()}" for name in ("strict", "lax", "none")}
_SAMESITE |= {name.title(): attribute for name, attribute in _SAMESITE.items()}
_SAMESITE_NONE = _SAMESITE["none"]
# "; Max-Age=N" for the ages already written: an app sets a few, again and
# again, and formatting an int costs several times the lookup. Bounded.
_MAX_AGES: dict[int, str] = {}


def _check(value: str, what: str) -> str:
    # Anything that would end the cookie or the header line early is refused:
    # a control, ';' or a non-ASCII character. Three str methods tell it for
    # a fraction of a regex search's cost. A bad value gets check_value's
    # more precise error first.
    if isinstance(value, str) and value.isascii() and value.isprintable() and ";" not in value:
        return value
    check_value(value, what)
    raise ValueError(f"{what} {value!r} has ';', a control or a non-ASCII character")


def _http_date(expires: datetime | float) -> str:
    try:
        # utctimetuple() takes a naive datetime as UTC, as it is.
        moment = time.gmtime(time.time() + expires) if isinstance(expires, int | float) else expires.utctimetuple()
        year = moment.tm_year
    except (OverflowError, OSError, ValueError):  # beyond what the C library's time handles, or NaN
        year = 0
    if not 1601 <= year <= 9999:  # what browsers parse (e.g. milliseconds given for seconds)
        raise ValueError(f"cookie expiry {expires!r} is out of range: give seconds from now or a datetime")
    return (
        f"{_DAYS[moment.tm_wday]}, {moment.tm_mday:02d} {_MONTHS[moment.tm_mon - 1]} {moment.tm_year:04d} "
        f"{moment.tm_hour:02d}:{moment.tm_min:02d}:{moment.tm_sec:02d} GMT"
    )


def _max_age(max_age: int | timedelta) -> str:
    seconds = int(max_age.total_seconds()) if hasattr(max_age, "total_seconds") else int(max_age)
    attribute = f"; Max-Age={seconds}"
    if type(max_age) is int and len(_MAX_AGES) < 1024:
        _MAX_AGES[max_age] = attribute
    return attribute


def format_set_cookie(
    name: str,
    value: str,
    path: str | None = "/",
    comment: str | None = None,
    domain: str | None = None,
    max_age: int | timedelta | None = None,
    expires: datetime | float | None = None,
    secure: bool = False,
    httponly: bool = False,
    samesite: str | None = None,
    partitioned: bool = False,
) -> str:
    """One Set-Cookie value (RFC 6265bis), every part checked.

    `expires` is a datetime (naive means UTC) or seconds from now. Browsers
    drop SameSite=None and Partitioned cookies that are not Secure, and
    `__Host-`/`__Secure-` names that break their prefix rules, so those are
    refused here with ValueError rather than silently lost. `comment` is
    written for RFC 2109 compatibility; browsers ignore it.
    """
    if type(name) is not str or name not in _GOOD_NAMES:
        if not isinstance(name, str) or not TOKEN.fullmatch(name):
            raise ValueError(f"invalid cookie name {name!r}")
        if len(_GOOD_NAMES) < 1024:
            _GOOD_NAMES[name] = None
    # Concatenated, not joined from a list: most lines have three or four parts.
    line = f"{name}={_check(value, 'cookie value')}"
    if domain is not None:
        line += f"; Domain={_check(domain, 'cookie domain')}"
    if path is not None:
        line += "; Path=/" if path == "/" else f"; Path={_check(path, 'cookie path')}"  # the default needs no check
    if max_age is not None:
        attribute = _MAX_AGES.get(max_age) if type(max_age) is int else None
        if attribute is None:
            attribute = _max_age(max_age)
        line += attribute
    if expires is not None:
        line += f"; Expires={_http_date(expires)}"
    if secure:
        line += "; Secure"
    if httponly:
        line += "; HttpOnly"
    if samesite is not None:
        attribute = _SAMESITE.get(samesite) or _SAMESITE.get(samesite.lower())
        if attribute is None:
            raise ValueError(f"samesite must be Strict, Lax or None, not {samesite!r}")
        if attribute is _SAMESITE_NONE and not secure:
            raise ValueError("browsers drop SameSite=None cookies without secure=True")
        line += attribute
    if partitioned:
        if not secure:
            raise ValueError("browsers drop Partitioned cookies without secure=True")
        line += "; Partitioned"
    if comment is not None:
        line += f"; Comment={_check(comment, 'cookie comment')}"
    if name[0] == "_" and name.startswith("__"):  # the prefixes browsers enforce, in any case (RFC 6265bis 4.1.3)
        prefix = name[:9].lower()
        if prefix.startswith(("__secure-", "__host-")) and not secure:
            raise ValueError(f"a cookie named {name!r} needs secure=True")
        if prefix.startswith("__host-") and (domain is not None or path != "/"):
            raise ValueError(f"a cookie named {name!r} needs path='/' and no domain")
    return line
