"""A part's headers: parameters, quoted-pairs, filename*, continuations,
Content-Transfer-Encoding, and the safe file name."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from hypothesis import given
from hypothesis import strategies as st

from asyncweb._config import Config
from asyncweb.errors import BadRequest
from asyncweb.forms import read_form
from asyncweb.forms.part_headers import parse_options, part_start, safe_filename
from tests.forms.helpers import MULTIPART_TYPE, file_part, multipart


async def chunks_of(body: bytes) -> AsyncIterator[bytes]:
    yield body


SURROGATES = st.characters(min_codepoint=0xD800, max_codepoint=0xDFFF, exclude_categories=())


@given(st.lists(st.one_of(st.characters(), SURROGATES)).map("".join))  # st.text() drops surrogates
def test_a_safe_filename_has_no_lone_surrogate(name: str) -> None:
    safe = safe_filename(name)
    safe.encode("utf-8")  # raises on a lone surrogate
    assert safe_filename(safe) == safe


@pytest.mark.parametrize("raw", ["\ud800.txt", "a\udfffb", "\udc80" + "x" * 300 + ".txt"])
def test_surrogates_in_a_name_become_replacement_characters(raw: str) -> None:
    safe = safe_filename(raw)
    assert "\ufffd" in safe and len(safe.encode("utf-8")) <= 255


def disposition(params: str) -> list[tuple[bytes, bytes]]:
    return [(b"content-disposition", ('form-data; name="f"; ' + params).encode())]


@pytest.mark.parametrize(
    ("params", "raw", "safe"),
    [
        ('filename="a\\"b.txt"', 'a"b.txt', 'a"b.txt'),  # curl --form-escape, curl < 7.81
        ('filename="\\"quoted\\" name.txt"', '"quoted" name.txt', '"quoted" name.txt'),
        ('filename="a\\\\b.txt"', "a\\b.txt", "b.txt"),
        ('filename="C:\\dir\\file.txt"', "C:\\dir\\file.txt", "file.txt"),  # IE's raw path: kept
        ('filename="C:\\\\dir\\\\file.txt"', "C:\\dir\\file.txt", "file.txt"),
        ('filename="name\\"', "name\\", ""),  # a browser's name ending in `\`: no quoted-pair there
        ('filename="a\\"; x="y"', "a\\", ""),  # as quoted-pairs, `y"` is left over: read literally
    ],
)
def test_quoted_pairs_in_a_file_name(params: str, raw: str, safe: str) -> None:
    part = part_start(disposition(params))
    assert (part.raw_filename, part.filename) == (raw, safe)


def test_parameters_with_quoted_pairs() -> None:
    assert parse_options('form-data; name="a\\\\"; filename="b"') == ("form-data", {"name": "a\\", "filename": "b"})
    assert parse_options('form-data; a="\\"\\\\";b="c"') == ("form-data", {"a": '"\\', "b": "c"})
    assert parse_options('form-data; name="x\\y"') == ("form-data", {"name": "x\\y"})


def test_a_parameter_given_twice_with_two_values_is_refused() -> None:
    with pytest.raises(BadRequest, match="twice"):
        part_start(disposition('filename="a.txt"; filename="b.txt"'))
    with pytest.raises(BadRequest, match="twice"):
        parse_options('form-data; name="a"; NAME="b"')
    assert part_start(disposition('filename="a.txt"; filename=a.txt')).filename == "a.txt"  # one value: no doubt


@pytest.mark.anyio
async def test_curl_form_escape_uploads_are_accepted() -> None:
    body = multipart(file_part(b"f", b'say \\"hi\\".txt', b"content"))
    form = await read_form(chunks_of(body), MULTIPART_TYPE["content-type"], Config())
    [(name, upload)] = form.files.multi_items()
    assert (name, upload.filename, upload.read()) == ("f", 'say "hi".txt', b"content")
