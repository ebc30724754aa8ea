"""What a body costs the multipart decoder, counted, not timed: the Python
lines it runs per chunk stay few whatever the data, so every byte is looked
at in C (benchmarks/multipart_cost.py times it). python-multipart's scan ran
8 lines a byte over `CRLF--BX` repeated (the boundary `B`)."""

from __future__ import annotations

import hashlib
import sys
from collections.abc import Iterator
from types import FrameType
from typing import Any

import pytest

from asyncweb.errors import BadRequest
from asyncweb.forms import multipart
from asyncweb.forms.multipart import BYTES_PER_NEAR_MISS, FREE_NEAR_MISSES, MultipartDecoder

MiB = 1024 * 1024
CHUNK = 64 * 1024
LINES_A_CHUNK = 100  # python-multipart 0.0.34 runs 535,241 over a 64 KiB chunk of CRLF--BX
LINES_A_NEAR_MISS = 25
B70 = (b"x" + hashlib.sha256(b"multipart_cost").hexdigest().encode() * 2)[:70]
WEBKIT = b"----WebKitFormBoundary7MA4YWxkTrZu0gW"
RANDOM = hashlib.shake_256(b"test_multipart_cost").digest(MiB)

# (boundary, the file part's bytes): the benchmark's bodies, 1 MiB each.
BODIES = {
    "plain": (b"B", RANDOM),
    "CR repeated": (b"B", b"\r" * MiB),
    "- repeated": (b"B", b"-" * MiB),
    "CRLF repeated": (b"B", b"\r\n" * (MiB // 2)),
    "CRLF--B[:-1] repeated, 70-char": (B70, (b"\r\n--" + B70[:-1]) * (MiB // 73)),
    "CR repeated, 70-char": (B70, b"\r" * MiB),
    "boundary[-2] repeated, 38-char": (WEBKIT, WEBKIT[-2:-1] * MiB),
    "CRLF--BX every 16 KiB": (b"B", (b"\r\n--BX" + RANDOM[: BYTES_PER_NEAR_MISS - 6]) * (MiB // BYTES_PER_NEAR_MISS)),
}


def body(boundary: bytes, content: bytes) -> bytes:
    head = b"--" + boundary + b'\r\nContent-Disposition: form-data; name="f"; filename="f"\r\n\r\n'
    return head + content + b"\r\n--" + boundary + b"--\r\n"


def chunks_of(data: bytes) -> Iterator[bytes]:
    for start in range(0, len(data), CHUNK):
        yield data[start : start + CHUNK]


class LineCounter:
    """Python lines run in asyncweb/forms/multipart.py while it is set."""

    def __init__(self) -> None:
        self.lines = 0

    def trace(self, frame: FrameType, event: str, arg: Any) -> Any:
        if frame.f_code.co_filename != multipart.__file__:
            return None
        if event == "line":
            self.lines += 1
        return self.trace

    def __enter__(self) -> LineCounter:
        sys.settrace(self.trace)
        return self

    def __exit__(self, *exc: object) -> None:
        sys.settrace(None)


@pytest.mark.parametrize("name", list(BODIES))
def test_the_lines_run_per_chunk_are_few_whatever_the_data(name: str) -> None:
    boundary, content = BODIES[name]
    decoder = MultipartDecoder(boundary, 8192, 16)
    data = bytearray()
    most_lines = most_events = 0
    for chunk in chunks_of(body(boundary, content)):
        with LineCounter() as counter:
            events = decoder.feed(chunk)
        most_lines = max(most_lines, counter.lines)
        most_events = max(most_events, sum(isinstance(event, memoryview) for event in events))
        for event in events:
            if isinstance(event, memoryview):
                data += event
    decoder.close()
    assert bytes(data) == content
    # A chunk is scanned in a few calls to C: at most 2 pieces of data (a tail carried from the
    # chunk before, the rest), and a hundred lines or so, the first chunk's headers included, and
    # some 20 for each near miss, of which a chunk of plain data may hold one per 16 KiB (4).
    assert most_events <= 2, most_events
    assert most_lines <= LINES_A_CHUNK + LINES_A_NEAR_MISS * CHUNK // BYTES_PER_NEAR_MISS, most_lines


def test_a_body_made_of_near_misses_is_refused_within_a_few_of_them() -> None:
    decoder = MultipartDecoder(b"B", 8192, 16)
    data = body(b"B", b"\r\n--BX" * MiB)
    with LineCounter() as counter, pytest.raises(BadRequest, match="begin with the boundary"):
        for chunk in chunks_of(data):
            decoder.feed(chunk)
    # 16 near misses free, and one for each 16 KiB fed: the first chunk's 4.
    assert counter.lines <= LINES_A_NEAR_MISS * (FREE_NEAR_MISSES + CHUNK // BYTES_PER_NEAR_MISS + 1), counter.lines
