"""Fuzz the multipart/form-data decoder (forms/multipart.py) through its
public API: MultipartDecoder(boundary, max_header_size, max_headers),
feed(chunk) -> PartStart, part data (memoryview) and PartEnd events, close().

Payload: the Content-Type's boundary parameter as a client sends it (one
line), a LF, then the body. Flags: bit 0 tight header limits (64 bytes, 2
headers) instead of the defaults; bit 1 a round trip instead: the payload
is values (common.browser_form) that a browser's body carries, to be
decoded back exactly.

Invariants: only BadRequest and PayloadTooLarge; no lone surrogate in a
PartStart; file names as safe_filename promises; events in the order
start, data..., end; the same events and outcome however the body is cut;
nothing lost: a browser's body gives back its values, byte for byte.

    python -m fuzz.multipart -max_total_time=300 /tmp/seeds/multipart
"""

from __future__ import annotations

from fuzz.common import (
    Finding,
    Input,
    attempt,
    browser_form,
    check_filename,
    check_same,
    check_text,
    chunkings,
    fuzz,
    instrumented,
    parse_input,
)

with instrumented(__name__ == "__main__"):
    from asyncweb.errors import BadRequest, PayloadTooLarge
    from asyncweb.forms.multipart import MultipartDecoder, PartEnd, boundary_of
    from asyncweb.forms.part_headers import PartStart

ALLOWED = (BadRequest, PayloadTooLarge)
DEFAULT_LIMITS = (8 * 1024, 16)
TIGHT_LIMITS = (64, 2)

Summary = list[tuple[object, ...]]


def describe(part: PartStart) -> tuple[object, ...]:
    return ("start", part.name, part.filename, part.raw_filename, part.content_type, part.charset, part.headers.raw)


def check_part(part: PartStart) -> None:
    check_text(describe(part), "PartStart")
    check_filename(part.filename, "PartStart.filename")


def decode(boundary: bytes, chunks: list[bytes], limits: tuple[int, int]) -> Summary:
    """The events for the body fed as `chunks`, part data joined per part."""
    decoder = MultipartDecoder(boundary, *limits)
    out: Summary = []
    data: bytearray | None = None  # the data of the part being read
    for chunk in chunks:
        for event in decoder.feed(chunk):
            if isinstance(event, memoryview):
                if data is None:
                    raise Finding(f"part data outside a part: {out[-3:]!r}")
                data += event
            elif isinstance(event, PartStart):
                if data is not None:
                    raise Finding(f"PartStart inside a part: {out[-3:]!r}")
                check_part(event)
                out.append(describe(event))
                data = bytearray()
            elif isinstance(event, PartEnd):
                if data is None:
                    raise Finding(f"PartEnd outside a part: {out[-3:]!r}")
                out += [("data", bytes(data)), ("end",)]
                data = None
            else:
                raise Finding(f"unknown event {event!r}")
    decoder.close()
    if data is not None:
        raise Finding("close() accepted a body that ended inside a part")
    return out


def round_trip(given: Input) -> None:
    form = browser_form(given.payload)
    if form is None:
        return
    body, parts = form
    for way in chunkings(body, given.cuts):
        events = decode(b"XyZ", way, DEFAULT_LIMITS)
        got = [(e[1], e[2], d[1]) for e, d in zip(events[0::3], events[1::3], strict=True)]
        if got != parts:
            sizes = [len(piece) for piece in way][:20]
            raise Finding(
                f"a browser's form came back changed: sent {parts!r:.800}, in chunks of {sizes} got {got!r:.800}"
            )


def TestOneInput(data: bytes) -> None:  # noqa: N802 - atheris' name
    given = parse_input(data)
    if given.flag(1):
        round_trip(given)
        return
    line, _, body = given.payload.partition(b"\n")
    try:
        boundary = boundary_of("multipart/form-data; boundary=" + line.rstrip(b"\r").decode("latin-1"))
    except BadRequest:
        return
    limits = TIGHT_LIMITS if given.flag(0) else DEFAULT_LIMITS
    ways = chunkings(body, given.cuts)
    results = [attempt(ALLOWED, decode, boundary, way, limits) for way in ways]
    check_same(results, ways, "the multipart events")


def main() -> None:
    fuzz(TestOneInput, __file__)


if __name__ == "__main__":
    main()
