"""Fuzz a multipart part's headers (forms/part_headers.py): parse_options,
part_start (Content-Disposition, RFC 5987 filename*, the Content-Type's
charset) and safe_filename.

Payload: a part's Content-Disposition value, then optionally a LF and its
Content-Type value, as bytes (CRs dropped and the values stripped, as the
decoder hands them over). Flags: bit 0 safe_filename is also given the
payload's text with undecodable bytes as lone surrogates (its docstring
promises none come out).

Invariants: only BadRequest; parameter names and the main value
lower-cased; no lone surrogate in any PartStart text; the file name as
safe_filename promises: no folder, no control, not `.` or `..`, at most
255 bytes of UTF-8.

    python -m fuzz.content_disposition -max_total_time=300 /tmp/seeds/content_disposition
"""

from __future__ import annotations

from fuzz.common import Finding, check_filename, check_text, fuzz, instrumented, parse_input

with instrumented(__name__ == "__main__"):
    from asyncweb.errors import BadRequest
    from asyncweb.forms.part_headers import parse_options, part_start, safe_filename


def check_options(value: str) -> None:
    try:
        main, params = parse_options(value)
    except BadRequest:
        return
    check_text((main, params), "parse_options")
    if main != main.lower() or any(key != key.lower() for key in params):
        raise Finding(f"parse_options left upper case: {main!r}, {list(params)!r}")


def TestOneInput(data: bytes) -> None:  # noqa: N802 - atheris' name
    given = parse_input(data)
    disposition, _, content_type = given.payload.replace(b"\r", b"").partition(b"\n")
    for text in (disposition.decode("latin-1"), disposition.decode("utf-8", "replace")):
        check_options(text)
    headers = [(b"content-disposition", disposition.strip())]
    if content_type:
        headers.append((b"content-type", content_type.strip()))
    try:
        part = part_start(headers)
    except BadRequest:
        pass
    else:
        check_text((part.name, part.filename, part.raw_filename, part.content_type, part.charset), "PartStart")
        check_filename(part.filename, "PartStart.filename")
    check_filename(safe_filename(given.payload.decode("utf-8", "replace")), "safe_filename")
    if given.flag(0):
        check_filename(safe_filename(given.payload.decode("utf-8", "surrogateescape")), "safe_filename")


def main() -> None:
    fuzz(TestOneInput, __file__)


if __name__ == "__main__":
    main()
