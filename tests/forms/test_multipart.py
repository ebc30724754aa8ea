"""The sans-I/O multipart decoder: the same events however the body is split."""

from __future__ import annotations

import base64
import itertools
import os
import re
from collections.abc import Iterable, Iterator
from typing import Any

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from asyncweb.errors import BadRequest, HTTPError, PayloadTooLarge
from asyncweb.forms import multipart
from asyncweb.forms.multipart import (
    BYTES_PER_NEAR_MISS,
    FREE_NEAR_MISSES,
    MultipartDecoder,
    PartEnd,
)
from asyncweb.forms.part_headers import PartStart, parse_options, safe_filename
from tests.forms.corpus import cases as corpus_cases
from tests.forms.corpus import load, path
from tests.forms.helpers import file_part, text_part
from tests.forms.helpers import multipart as multipart_body

BODY = multipart_body(
    text_part(b"a", b"1"),
    text_part(b"empty", b""),
    file_part(b"f", "ü.txt".encode(), b"line1\r\n--XyZ-not-a-boundary\r\n\r\nline3"),
    text_part(b"crlf", b"\r\n\r\n"),
)


def decode(chunks: list[bytes]) -> list[tuple[str, str | None, bytes]]:
    decoder = MultipartDecoder(b"XyZ", 8192, 16)
    parts: list[tuple[str, str | None, bytes]] = []
    current: tuple[str, str | None, bytearray] | None = None
    for chunk in chunks:
        for event in decoder.feed(chunk):
            if isinstance(event, PartStart):
                current = (event.name, event.filename, bytearray())
            elif isinstance(event, memoryview):
                assert current is not None
                current[2].extend(event)
            elif isinstance(event, PartEnd):
                assert current is not None
                parts.append((current[0], current[1], bytes(current[2])))
    decoder.close()
    return parts


EXPECTED = [
    ("a", None, b"1"),
    ("empty", None, b""),
    ("f", "ü.txt", b"line1\r\n--XyZ-not-a-boundary\r\n\r\nline3"),
    ("crlf", None, b"\r\n\r\n"),
]


def test_whole_body() -> None:
    assert decode([BODY]) == EXPECTED


def test_split_at_every_offset() -> None:
    for cut in range(len(BODY) + 1):
        assert decode([BODY[:cut], BODY[cut:]]) == EXPECTED, cut


def test_one_byte_at_a_time() -> None:
    assert decode([BODY[i : i + 1] for i in range(len(BODY))]) == EXPECTED


@settings(max_examples=200)
@given(st.lists(st.integers(min_value=0, max_value=len(BODY)), max_size=12))
def test_any_chunking(cuts: list[int]) -> None:
    points = [0, *sorted(cuts), len(BODY)]
    assert decode([BODY[a:b] for a, b in itertools.pairwise(points)]) == EXPECTED


def test_data_comes_as_views_of_the_fed_chunk() -> None:
    decoder = MultipartDecoder(b"XyZ", 8192, 16)
    chunk = multipart_body(file_part(b"f", b"f", b"x" * 1000))
    views = [event for event in decoder.feed(chunk) if isinstance(event, memoryview)]
    assert all(view.obj is chunk for view in views)


def test_cut_off_body_is_an_error() -> None:
    decoder = MultipartDecoder(b"XyZ", 8192, 16)
    decoder.feed(BODY[:-5])
    with pytest.raises(BadRequest, match="cut off"):
        decoder.close()


def test_options() -> None:
    assert parse_options('form-data; name="a;b"; filename="c\\"') == ("form-data", {"name": "a;b", "filename": "c\\"})
    assert parse_options("multipart/form-data; BOUNDARY=abc") == ("multipart/form-data", {"boundary": "abc"})
    assert parse_options("text/plain;charset=utf-8;") == ("text/plain", {"charset": "utf-8"})
    assert parse_options("form-data") == ("form-data", {})
    for malformed in ('form-data; filename="unterminated', "form-data; name", 'form-data; name="a"x'):
        with pytest.raises(BadRequest):
            parse_options(malformed)


@given(st.text())
def test_safe_filename_never_escapes_the_folder(name: str) -> None:
    safe = safe_filename(name)
    assert safe_filename(safe) == safe
    assert "/" not in safe and "\\" not in safe and safe not in (".", "..")
    assert not any(ord(char) < 32 or 127 <= ord(char) < 160 for char in safe)
    assert safe_filename("x" * 300 + "\x85" + ".txt").endswith(".txt")
    assert safe_filename("\x85a" * 200) == ("\x85a" * 200).replace("\x85", "")[:255]


# -- every split gives the same outcome ----------------------------------------------------
Part = tuple[str, str | None, str | None, bytes]  # name, safe file name, content type, data
Outcome = list[Part] | tuple[str, int]  # the parts, or the error's class and status


def outcome(boundary: bytes, chunks: list[bytes], max_header_size: int = 8192, max_headers: int = 16) -> Outcome:
    """The parts the decoder gives (data joined), or the error it raises."""
    decoder = MultipartDecoder(boundary, max_header_size, max_headers)
    parts: list[Part] = []
    data = bytearray()
    try:
        for chunk in chunks:
            for event in decoder.feed(chunk):
                if isinstance(event, PartStart):
                    parts.append((event.name, event.filename, event.content_type, b""))
                    data = bytearray()
                elif isinstance(event, memoryview):
                    data += event
                else:
                    parts[-1] = (*parts[-1][:3], bytes(data))
        decoder.close()
    except HTTPError as error:
        return type(error).__name__, error.status
    return parts


def split_every(body: bytes, size: int | None) -> list[bytes]:
    if size is None:
        return [body]
    return [body[start : start + size] for start in range(0, len(body), size)]


def same_at_every_split(boundary: bytes, body: bytes, sizes: Iterable[int | None] = (None, 1, 3, 64)) -> Outcome:
    results = [outcome(boundary, split_every(body, size)) for size in sizes]
    assert all(result == results[0] for result in results), results
    return results[0]


# -- python-multipart's captures (the shared corpus, read in place) --------------------------
PM = "python-multipart/expected.json"
# The body's delimiter line is --boundary: upstream feeds this one by hand, with "boundary".
PM_BOUNDARIES = {"single_field_blocks": "boundary"}
# Where the decoder answers otherwise than python-multipart, on purpose.
PM_DIFFERENCES: dict[str, Outcome] = {
    # No delimiter of its boundary at all: cut off before its closing boundary (python-multipart: []).
    "only_boundary": ("BadRequest", 400),
    # A mistyped first boundary (WebQit) is preamble (RFC 2046), so the closing one ends an empty form.
    "bad_initial_boundary": [],
}
# RFC 7578 4.7 deprecates Content-Transfer-Encoding: part_headers refuses base64 and quoted-printable.
PM_ENCODED = {"base64_encoding", "quoted_printable_encoding", "mixed_plain_and_base64_encoding", "mixed_case_headers"}


def pm_cases() -> Iterable[tuple[str, tuple[str, Any]]]:
    return [(name, (name, spec)) for name, spec in sorted(load(PM).items())]


@pytest.mark.parametrize("case", corpus_cases(PM, pm_cases))
def test_python_multipart_captures_at_every_split(case: tuple[str, Any] | None) -> None:
    assert case is not None
    name, spec = case
    boundary = PM_BOUNDARIES.get(name, spec["boundary"]).encode("latin-1")
    body = path(f"python-multipart/http/{name}.http").read_bytes()
    result = same_at_every_split(boundary, body)
    if name in PM_DIFFERENCES:
        assert result == PM_DIFFERENCES[name]
    elif name in PM_ENCODED or isinstance(spec["expected"], dict):  # {"error": offset}
        assert result == ("BadRequest", 400)
    else:
        assert isinstance(result, list)
        expected = spec["expected"]
        assert [part[0] for part in result] == [part["name"] for part in expected]
        assert [part[3] for part in result] == [base64.b64decode(part["data"]) for part in expected]
        # Upstream asserts file names and types of files only (single_field_single_file's
        # field has a content_type in the YAML and no Content-Type in the body).
        for got, want in zip(result, expected, strict=True):
            if want.get("type") != "file":
                continue
            if "?" not in want["file_name"]:  # the YAML lost utf8_filename's name
                assert got[1] == want["file_name"]
            assert got[2] == want["content_type"]


# -- what RFC 2046 allows around the boundaries -----------------------------------------------
FIELD = b'Content-Disposition: form-data; name="a"\r\n\r\n'


@pytest.mark.parametrize(
    "preamble", [b"", b"\r\n", b"\r\n\r\n", b"This is a preamble.\r\n", b"x\r\n--XyZX\r\n--XyZ-\r\n--XyZ\rx\r\n"]
)
def test_a_preamble_is_skipped(preamble: bytes) -> None:
    body = preamble + b"--XyZ\r\n" + FIELD + b"1\r\n--XyZ--\r\n"
    assert same_at_every_split(b"XyZ", body) == [("a", None, None, b"1")]


@pytest.mark.parametrize("padding", [b" ", b"\t", b" \t  "])
def test_transport_padding_after_any_boundary(padding: bytes) -> None:
    body = b"--XyZ" + padding + b"\r\n" + FIELD + b"1\r\n--XyZ" + padding + b"\r\n" + FIELD + b"2\r\n--XyZ--\r\n"
    assert same_at_every_split(b"XyZ", body) == [("a", None, None, b"1"), ("a", None, None, b"2")]


@pytest.mark.parametrize("after", [b"  x\r\n", b" \r\r\n", b" --\r\n", b"\t\n"])
def test_padding_not_ended_by_crlf_is_an_error(after: bytes) -> None:
    body = b"--XyZ\r\n" + FIELD + b"1\r\n--XyZ" + after + FIELD + b"2\r\n--XyZ--\r\n"
    assert same_at_every_split(b"XyZ", body) == ("BadRequest", 400)


@pytest.mark.parametrize("epilogue", [b"", b"\r\n", b"anything at all\r\n--XyZ\r\n" + FIELD + b"2", b"--XyZ--"])
def test_the_epilogue_is_ignored(epilogue: bytes) -> None:
    body = b"--XyZ\r\n" + FIELD + b"1\r\n--XyZ--" + epilogue
    assert same_at_every_split(b"XyZ", body) == [("a", None, None, b"1")]


def test_an_empty_form_and_bodies_cut_off() -> None:
    assert same_at_every_split(b"XyZ", b"--XyZ--\r\n") == []
    whole = b"--XyZ \r\n" + FIELD + b"1\r\n--XyZ--"
    for cut in range(len(whole)):
        assert outcome(b"XyZ", [whole[:cut]]) == ("BadRequest", 400), cut


@pytest.mark.parametrize(
    "data",
    [
        b"\r\n--XyZX",  # a line that begins with the boundary but goes on: data, as python-multipart has it
        b"\r\n--XyZ-x",
        b"\r\n--XyZ\rx",
        b"\r\n--Xy\r\n--XyZZ\r\n",
        b"\r",
        b"\r\n",
        b"\r\n-",
        b"\r\n--XyZ\r",  # data up to the real delimiter, which follows at once
        b"\r\n--XyZ-",
    ],
)
def test_what_merely_looks_like_a_delimiter_is_data(data: bytes) -> None:
    body = b"--XyZ\r\n" + FIELD + data + b"\r\n--XyZ--\r\n"
    assert same_at_every_split(b"XyZ", body, sizes=[None, *range(1, 12), 64]) == [("a", None, None, data)]


# -- part header lines --------------------------------------------------------------------------
def headers_body(lines: bytes) -> bytes:
    return b"--XyZ\r\n" + lines + b'Content-Disposition: form-data; name="a"\r\n\r\n1\r\n--XyZ--\r\n'


@pytest.mark.parametrize(
    "line",
    [
        b"X-A: 1\nb\r\n",  # a bare LF in a value
        b"X-A: 1\rb\r\n",  # a bare CR
        b"X-A: 1\n",  # a line ended by LF alone
        b"\rX-A: 1\r\n",
        b"X A: 1\r\n",  # a name that is not a token
        b" X-A: 1\r\n",  # obs-fold, or a name with a space
        b"X-A 1\r\n",  # no colon
        b": 1\r\n",  # no name
        b"X-\xc3\xa9: 1\r\n",
    ],
)
def test_a_malformed_header_line_is_an_error(line: bytes) -> None:
    assert same_at_every_split(b"XyZ", headers_body(line)) == ("BadRequest", 400)


def test_header_values_are_trimmed_and_names_lowered() -> None:
    decoder = MultipartDecoder(b"XyZ", 8192, 16)
    events = decoder.feed(headers_body(b"X-Odd:  \t v a l \t\r\nEMPTY:\r\n"))
    start = events[0]
    assert isinstance(start, PartStart)
    assert start.headers.raw[:2] == [(b"x-odd", b"v a l"), (b"empty", b"")]


def test_header_line_size_and_count_limits_are_413_just_past_them() -> None:
    line = b"X-L: " + b"l" * (100 - 5) + b"\r\n"  # 100 bytes, CRLF not counted
    assert isinstance(same_at_every_split(b"XyZ", headers_body(line)), list)
    for size in (None, 1, 3, 64):
        assert outcome(b"XyZ", split_every(headers_body(line), size), max_header_size=100) != ("PayloadTooLarge", 413)
        long = headers_body(line.replace(b"X-L", b"X-LL"))
        assert outcome(b"XyZ", split_every(long, size), max_header_size=100) == ("PayloadTooLarge", 413)
    three = headers_body(b"X-A: 1\r\nX-B: 2\r\n")  # with Content-Disposition, 3 lines
    for size in (None, 1, 3, 64):
        assert isinstance(outcome(b"XyZ", split_every(three, size), max_headers=3), list)
        assert outcome(b"XyZ", split_every(three, size), max_headers=2) == ("PayloadTooLarge", 413)


def test_an_endless_header_line_is_refused_before_much_of_it_is_kept() -> None:
    decoder = MultipartDecoder(b"XyZ", 100, 16)
    decoder.feed(b"--XyZ\r\nX-L: " + b"l" * 90)
    with pytest.raises(PayloadTooLarge):
        decoder.feed(b"l" * 1_000_000)


# -- the data's bytes -----------------------------------------------------------------------------
def test_a_carried_tail_that_is_data_comes_as_a_small_bytes_object() -> None:
    decoder = MultipartDecoder(b"XyZ", 8192, 16)
    first = b"--XyZ\r\n" + FIELD + b"x" * 100 + b"\r\n--Xy"
    events = decoder.feed(first)
    views = [event for event in events if isinstance(event, memoryview)]
    assert [view.obj for view in views] == [first] and bytes(views[0]) == b"x" * 100
    second = b"Q" + b"y" * 100 + b"\r\n--XyZ--\r\n"
    views = [event for event in decoder.feed(second) if isinstance(event, memoryview)]
    assert [bytes(view) for view in views] == [b"\r\n--Xy", b"Q" + b"y" * 100]
    assert views[0].obj is not second and views[0].obj == b"\r\n--Xy" and views[1].obj is second
    decoder.close()


@pytest.mark.parametrize("kind", [bytearray, memoryview])
def test_chunks_other_than_bytes_are_read_too(kind: type) -> None:
    assert outcome(b"XyZ", [kind(chunk) for chunk in split_every(BODY, 5)]) == outcome(b"XyZ", [BODY])


# -- near misses, and bytes.find handing over to sre ---------------------------------------------
def near_misses(count: int, spacing: int = 0) -> bytes:
    return b"--XyZ\r\n" + FIELD + (b"\r\n--XyZX" + b"." * spacing) * count + b"\r\n--XyZ--\r\n"


def test_a_few_near_misses_are_data_and_a_body_made_of_them_is_refused() -> None:
    assert outcome(b"XyZ", [near_misses(FREE_NEAR_MISSES)]) == [("a", None, None, b"\r\n--XyZX" * FREE_NEAR_MISSES)]
    assert outcome(b"XyZ", [near_misses(FREE_NEAR_MISSES + 1)]) == ("BadRequest", 400)
    # One more for every BYTES_PER_NEAR_MISS of the body.
    spaced = near_misses(FREE_NEAR_MISSES + 64, BYTES_PER_NEAR_MISS)
    assert isinstance(same_at_every_split(b"XyZ", spaced, sizes=[None, 4096, 65536]), list)
    dense = near_misses(10_000)
    decoder = MultipartDecoder(b"XyZ", 8192, 16)
    # The events found before the fault come first, then the fault, on the
    # next call, as had the body come in pieces.
    assert decoder.feed(dense)
    with pytest.raises(BadRequest, match="begin with the boundary"):
        decoder.feed(b"more")
    with pytest.raises(BadRequest, match="begin with the boundary"):
        decoder.close()


WEBKIT = b"----WebKitFormBoundary7MA4YWxkTrZu0gW"


def finds_take(monkeypatch: pytest.MonkeyPatch, durations: Iterator[int]) -> None:
    """Each find (the clock read before it and after) takes the next of
    `durations` nanoseconds."""
    readings = itertools.count()

    def clock() -> int:
        now = next(readings)
        return now if now % 2 == 0 else now + next(durations)

    monkeypatch.setattr(multipart, "_clock", clock)


def no_cr(size: int) -> bytes:
    """Data with no CR: a find scans all of it."""
    return os.urandom(size).replace(b"\r", b"\n")


def started(boundary: bytes = WEBKIT) -> MultipartDecoder:
    decoder = MultipartDecoder(boundary, 8192, 16)
    decoder.feed(b"--" + boundary + b"\r\n" + FIELD)
    return decoder


@pytest.mark.parametrize("boundary", [b"XyZ", WEBKIT])
def test_bytes_find_hands_over_to_sre_once_it_crawls(boundary: bytes, monkeypatch: pytest.MonkeyPatch) -> None:
    """Every find over a 20,000-byte chunk takes 40 µs, 2 ns a byte: the
    body's finds pass a nanosecond a byte, and the slack (1 ms), at about
    50 chunks; the parts come out the same across the hand-over."""
    data = no_cr(20_000 * 100) + b"\r\n--" + boundary + b"X"
    chunks = split_every(multipart_body(file_part(b"f", b"f", data), boundary=boundary), 20_000)
    expected = outcome(boundary, chunks)
    assert isinstance(expected, list) and expected[0][3] == data
    finds_take(monkeypatch, itertools.repeat(40_000))
    decoder = MultipartDecoder(boundary, 8192, 16)
    short = len(boundary) + 4 < 16  # sre from the start
    assert (decoder._literal is None) != short
    for index, chunk in enumerate(chunks):
        decoder.feed(chunk)
        if index == 40 and not short:
            assert decoder._literal is None
    assert decoder._literal is not None
    assert outcome(boundary, chunks) == expected


def near_misses_apart(spacing: int, size: int) -> bytes:
    """Data slow for find in stretches short of `spacing`: a near miss ends each."""
    miss = b"\r\n--" + WEBKIT + b"X"
    return ((WEBKIT[-2:-1] * (spacing - len(miss)) + miss) * (size // spacing + 1))[:size]


@pytest.mark.parametrize(
    ("data", "chunk", "nanoseconds"),
    [
        # Near misses 16 KiB apart, as many as a body may have: each find
        # scans 16,342 bytes, 50 µs at 3 ns a byte.
        (near_misses_apart(16_384, 1 << 21), 65_536, 50_000),
        # Chunks of 8 KiB, 30 µs a find: 3.7 ns a byte.
        (no_cr(1 << 20), 8_192, 30_000),
    ],
    ids=["near misses 16 KiB apart", "small chunks"],
)
def test_short_slow_finds_add_up(data: bytes, chunk: int, nanoseconds: int, monkeypatch: pytest.MonkeyPatch) -> None:
    finds_take(monkeypatch, itertools.repeat(nanoseconds))
    decoder = started()
    events = [event for piece in split_every(data, chunk) for event in decoder.feed(piece)]
    assert all(isinstance(event, memoryview) for event in events)
    given = b"".join(event for event in events if isinstance(event, memoryview))
    assert decoder._literal is not None
    assert given == data


def test_data_slow_now_and_then_keeps_bytes_find(monkeypatch: pytest.MonkeyPatch) -> None:
    """One find in eight at 3 ns a byte, the rest at 0.1: under a
    nanosecond a byte on the whole."""
    finds_take(monkeypatch, itertools.cycle([2_000] * 7 + [60_000]))
    decoder = started()
    chunk = no_cr(20_000)
    for _ in range(2_000):
        decoder.feed(chunk)
    assert decoder._literal is None


@pytest.mark.parametrize(("nanoseconds", "slow"), [(19_000, False), (21_000, True)])
def test_the_bar_is_a_nanosecond_a_byte(nanoseconds: int, slow: bool, monkeypatch: pytest.MonkeyPatch) -> None:
    """Each find over a 20,000-byte chunk takes `nanoseconds`: at 21 µs the
    sum passes the bytes fed by the slack (1 ms) at 1,000 chunks."""
    decoder = started()
    finds_take(monkeypatch, itertools.repeat(nanoseconds))
    chunk = no_cr(20_000)
    for _ in range(1_500):
        decoder.feed(chunk)
    assert (decoder._literal is not None) == slow


@pytest.mark.parametrize(
    ("at", "stall", "slow"),
    [(0, 1_500_000, False), (0, 3_000_000, True), (7, 3_000_000, False)],
    ids=["within the slack", "past it, at the start", "past it, after 7 MiB of fast finds"],
)
def test_the_process_losing_the_cpu_in_a_find(at: int, stall: int, slow: bool, monkeypatch: pytest.MonkeyPatch) -> None:
    """Finds over 1 MiB chunks take 0.1 ms (0.1 ns a byte), but for one that
    takes `stall`: a body has the slack and its bytes to spend at its start,
    and the room its fast finds made after."""
    durations = [100_000] * 16
    durations[at] = stall
    finds_take(monkeypatch, iter(durations))
    decoder = started()
    chunk = no_cr(1 << 20)
    for _ in range(8):
        decoder.feed(chunk)
    assert (decoder._literal is not None) == slow


# -- random bodies, random splits --------------------------------------------------------------------
PIECES = [
    b"--XyZ",
    b"\r\n--XyZ",
    b"\r\n--XyZ\r\n",
    b"\r\n--XyZ--",
    b"\r\n",
    b"\r",
    b"\n",
    b"-",
    b" ",
    b"\t",
    b"X",
    b"Z",
    b"XyZ",
    FIELD,
    b'Content-Disposition: form-data; name="b"; filename="f"\r\n',
    b"X-A: 1\r\n",
    b": \r\n",
    b"\x00\xff",
]
pieces = st.lists(st.one_of(st.sampled_from(PIECES), st.binary(max_size=4)), max_size=40).map(b"".join)
splits = st.lists(st.integers(min_value=0, max_value=10_000), max_size=10)


def cut(body: bytes, points: list[int]) -> list[bytes]:
    edges = [0, *sorted(point % (len(body) + 1) for point in points), len(body)]
    return [body[a:b] for a, b in itertools.pairwise(edges)]


@settings(max_examples=300)
@given(start=st.sampled_from([b"", b"--XyZ\r\n" + FIELD]), body=pieces, points=splits)
def test_any_body_gives_the_same_outcome_at_any_split(start: bytes, body: bytes, points: list[int]) -> None:
    whole = outcome(b"XyZ", [start + body], max_header_size=40, max_headers=3)
    assert outcome(b"XyZ", cut(start + body, points), max_header_size=40, max_headers=3) == whole


datas = st.lists(st.one_of(st.sampled_from(PIECES[:13]), st.binary(max_size=8)), max_size=30).map(b"".join)
REAL = re.compile(rb"\r\n--XyZ(?:\r\n|--|[ \t])")


@settings(max_examples=300)
@given(values=st.lists(datas, max_size=5), points=splits, padding=st.sampled_from([b"", b" ", b"\t "]))
def test_any_form_is_decoded_as_built_at_any_split(values: list[bytes], points: list[int], padding: bytes) -> None:
    assume(not any(REAL.search(b"\r\n" + value + b"\r\n") for value in values))
    # Lines that begin with the boundary but go on are data, FREE_NEAR_MISSES of them at least.
    assume(sum((b"\r\n" + value).count(b"\r\n--XyZ") for value in values) <= FREE_NEAR_MISSES)
    body = b"".join(b"--XyZ" + padding + b"\r\n" + FIELD + value + b"\r\n" for value in values) + b"--XyZ--"
    built = [("a", None, None, value) for value in values]
    assert outcome(b"XyZ", [body]) == built
    assert outcome(b"XyZ", cut(body, points)) == built
