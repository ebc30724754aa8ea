"""The sans-I/O multipart decoder: the same events however the body is split."""

from __future__ import annotations

import itertools

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from asyncweb.errors import BadRequest
from asyncweb.forms.multipart import MultipartDecoder, PartData, PartEnd
from asyncweb.forms.part_headers import PartStart, parse_options, safe_filename
from tests.forms.helpers import file_part, multipart, text_part

BODY = multipart(
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
            elif isinstance(event, PartData):
                assert current is not None
                current[2].extend(event.data)
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
    chunk = multipart(file_part(b"f", b"f", b"x" * 1000))
    views = [event.data for event in decoder.feed(chunk) if isinstance(event, PartData)]
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
