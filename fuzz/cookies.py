"""Fuzz the request-cookie parser (cookies.py: parse_cookies).

Payload: the Cookie header's bytes; the parser is given their latin-1
text, as asyncweb reads headers. Flags: none.

Invariants: parse_cookies raises nothing (a lenient parser: a bad pair is
skipped); names and values are str with no lone surrogate, names never
empty; the all-ASCII fast path and the general one agree: an ASCII header
parses as it does with one more, non-ASCII, cookie after it.

    python -m fuzz.cookies -max_total_time=300 /tmp/seeds/cookies
"""

from __future__ import annotations

from fuzz.common import Finding, check_text, fuzz, instrumented, parse_input

with instrumented(__name__ == "__main__"):
    from asyncweb.cookies import parse_cookies

# "é" as latin-1 text of a byte that is no UTF-8: a name the general path keeps as it is.
EXTRA = "\xe9"


def TestOneInput(data: bytes) -> None:  # noqa: N802 - atheris' name
    header = parse_input(data).payload.decode("latin-1")
    cookies = parse_cookies(header)
    check_text(cookies, "cookies")
    for name, value in cookies.items():
        if not isinstance(name, str) or not isinstance(value, str) or not name:
            raise Finding(f"an empty name, or not str: {name!r}={value!r}")
    if header.isascii():
        general = parse_cookies(f"{header};{EXTRA}=1")
        expected = {**cookies, EXTRA: "1"}
        if general != expected:
            raise Finding(f"the ASCII and the general path differ: {cookies!r:.500} and {general!r:.500}")


def main() -> None:
    fuzz(TestOneInput, __file__)


if __name__ == "__main__":
    main()
