"""A part's headers: parameters, quoted-pairs, filename*, continuations,
Content-Transfer-Encoding, and the safe file name."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from asyncweb._config import Config
from asyncweb.errors import BadRequest
from asyncweb.forms import read_form
from asyncweb.forms.part_headers import parse_options, part_start, safe_filename
from tests.forms.corpus import cases as corpus_cases
from tests.forms.corpus import load
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
        ('filename="name\\"', "name\\", "upload"),  # a browser's name ending in `\`: no quoted-pair there
        ('filename="a\\"; x="y"', "a\\", "upload"),  # as quoted-pairs, `y"` is left over: read literally
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


# -- Content-Transfer-Encoding ------------------------------------------------------
@pytest.mark.anyio
@pytest.mark.parametrize("encoding", [b"base64", b"quoted-printable", b"x-uuencode", b"Base64 "])
async def test_a_transfer_encoded_part_is_refused_not_handed_over_encoded(encoding: bytes) -> None:
    body = multipart(file_part(b"f", b"f.txt", b"VGVzdCAxMjM=", b"\r\nContent-Transfer-Encoding: " + encoding))
    with pytest.raises(BadRequest, match=r"Content-Transfer-Encoding .* is not supported"):
        await read_form(chunks_of(body), MULTIPART_TYPE["content-type"], Config())


@pytest.mark.anyio
@pytest.mark.parametrize("encoding", [b"7bit", b"8bit", b"binary", b"BINARY"])
async def test_the_identity_transfer_encodings_are_accepted(encoding: bytes) -> None:
    body = multipart(file_part(b"f", b"f.txt", b"\xff\x00", b"\r\nContent-Transfer-Encoding: " + encoding))
    form = await read_form(chunks_of(body), MULTIPART_TYPE["content-type"], Config())
    assert form.files["f"].read() == b"\xff\x00"


# -- RFC 2231 continuations -----------------------------------------------------------
@pytest.mark.parametrize(
    ("params", "raw"),
    [
        # Werkzeug's test_file_rfc2231_filename_continuations
        ("filename*0*=ascii''a%20b%20; filename*1*=c%20d%20; filename*2=\"e f.txt\"", "a b c d e f.txt"),
        ("filename*0*=UTF-8''%E2%82; filename*1*=%AC.txt", "€.txt"),  # one character over two pieces
        ('filename*1=".txt"; filename*0="name"', "name.txt"),  # in any order
        ("filename*0*=iso-8859-1''%E4; filename*1=.txt", "ä.txt"),
        ("filename*0=a; filename*1*=%E2%82%AC", "a€"),  # no charset named: UTF-8
        ("filename*=UTF-8''star.txt; filename*0=pieces.txt", "star.txt"),  # filename* first, as Go
        ("filename=\"plain.txt\"; filename*0*=utf-7''%2B2AA-", "plain.txt"),  # no text codec: the plain name
        ("filename*0*=utf-7''%2B2AA-.txt", "+2AA-.txt"),  # ... or, without one, the bytes as UTF-8
        ("filename*0*=UTF-8''%FF.txt", "\ufffd.txt"),
    ],
)
def test_rfc_2231_pieces_are_joined_into_the_file_name(params: str, raw: str) -> None:
    part = part_start(disposition(params))
    assert part.raw_filename == raw and part.filename == safe_filename(raw)


@pytest.mark.parametrize(
    "params",
    [
        'filename*0="a"; filename*2="c"',  # a gap
        'filename*1="a"; filename*2="b"',  # no first piece
        'filename*0="a"; filename*01="b"',  # a leading zero
        "filename*0=\"a\"; filename*0*=UTF-8''b",  # one index twice
        'filename*0="a"; filename*x="b"',
        "filename*0=a; filename*" + "1" * 5000 + "=b",  # int() would refuse the digits: a 500
    ],
)
def test_rfc_2231_pieces_that_do_not_join_are_a_400_not_a_plain_field(params: str) -> None:
    with pytest.raises(BadRequest, match="RFC 2231"):
        part_start(disposition(params))


# -- the tc2231 cases (qutebrowser's table) and Go's -----------------------------------------
BAD = "400"  # the part is refused
UTF8_HEADERS = "part headers are UTF-8, as browsers send them (WHATWG), not ISO-8859-1: a raw \\xe4 is U+FFFD"
LENIENT_TOKEN = (
    "an unquoted name with characters a token may not hold is taken as it is: browsers quote every"
    " name, and a script's upload is not refused for its name's syntax"
)
BACKSLASH = "only \\\" and \\\\ are quoted-pairs: another backslash stays (IE's raw paths); the base name follows it"
BEST_EFFORT = (
    "a filename* that cannot be read exactly, with no plain filename beside it, still names a file: its"
    " bytes read as UTF-8 (bad ones as U+FFFD), or as sent when malformed, rather than a plain field"
)
QUOTED_EXT = "a quoted filename* is read like an unquoted one"
LAX_PERCENT = "a % without two hex digits after it stays as it is"
ISO_C1 = "ISO-8859-1 means ISO-8859-1 (RFC 8187): %80 is a C1 control, kept in raw_filename, not in the safe name"
STAR_FIRST = "filename* wins over RFC 2231 pieces (Go's order)"
PIECES = "pieces that do not run from 0 without a gap are a 400: the dropped ones may hold the name"
DIFFERENCES: dict[str, tuple[str | None, str]] = {
    "attwithisofnplain": ("foo-\ufffd.html", UTF8_HEADERS),
    "attwithfilenamepctandiso": ("\ufffd-%41.html", UTF8_HEADERS),
    "attfnbrokentokeniso": ("foo-\ufffd.html", UTF8_HEADERS),
    "attwithtokfncommanq": ("foo,bar.html", LENIENT_TOKEN),
    "attwithasciifilenamenqs": ("foo.html", LENIENT_TOKEN),
    "attfnbrokentoken": ("foo[1](2).html", LENIENT_TOKEN),
    "attwithutf8fnplain": ("foo-ä.html", UTF8_HEADERS),
    "attfnbrokentokenutf": ("foo-ä.html", LENIENT_TOKEN),
    "attrfc2047token": ("=?ISO-8859-1?Q?foo-=E4.html?=", LENIENT_TOKEN),
    "attwithasciifnescapedchar": ("f\\oo.html", BACKSLASH),
    "attwithfnrawpctencaq": ("foo-%\\41.html", BACKSLASH),
    "attwithfn2231noc": ("foo-ä-€.html", BEST_EFFORT),
    "attwithfn2231iso_bad": ("foo-\ufffd.html", BEST_EFFORT),
    "attwithfn2231singleqmissing": ("UTF-8'foo-%c3%a4.html", BEST_EFFORT),
    "attwithfn2231quot2": ("foo%20bar.html", BEST_EFFORT),
    "attwithfn2231quot": ("foo-ä.html", QUOTED_EXT),
    "attwithfn2231nbadpct1": ("foo%", LAX_PERCENT),
    "attwithfn2231nbadpct2": ("f%oo.html", LAX_PERCENT),
    "iso2231_iso8859_invalid_chars": ("foo-\x80.html", ISO_C1),
    "attfnboth3": ("currency-sign=¤", STAR_FIRST),
    # Go's rows
    "go:attfncontlz": (BAD, PIECES),
    "go:attfncontnc": (BAD, PIECES),
    "go:attfnconts1": (BAD, PIECES),  # Go: no name at all, so the file would be a plain field
}
# Not about a form-data part's parameters: the disposition type itself.
_PARAMETERS = re.compile(r"(?i)(?:attachment|inline|form-data)\s*;")
TC2231 = "content-disposition/tc2231-qutebrowser.json"
GO = "content-disposition/go-mediatype.json"


def as_part(header: str) -> str:
    """`attachment; filename=...` as a form-data part's header: the type
    replaced, and a field name added unless the case has its own."""
    rest = header[_PARAMETERS.match(header).end() - 1 :]  # type: ignore[union-attr]
    named = re.search(r"(?i)(?:^|;)\s*name\s*=", rest)
    return "form-data" + ("" if named else '; name="f"') + rest


def outcome(header: str) -> tuple[str | None, str | None] | str:
    """(raw_filename, filename) of a part with this Content-Disposition, or BAD.
    The header goes as tc2231's octets (ISO-8859-1)."""
    try:
        part = part_start([(b"content-disposition", as_part(header).encode("latin-1"))])
    except BadRequest:
        return BAD
    return part.raw_filename, part.filename


def tc2231_cases() -> list[tuple[str, Any]]:
    return [(case["id"], case) for case in load(TC2231)["cases"]]


def go_cases() -> list[tuple[str, Any]]:
    return [("go:" + row["id"], row) for row in load(GO)["rows"]]


@pytest.mark.parametrize("case", corpus_cases(TC2231, tc2231_cases))
def test_tc2231(case: dict[str, Any]) -> None:
    if not _PARAMETERS.match(case["header"]):
        pytest.skip("about the disposition type itself (attachment, inline), not a form-data part's parameters")
    got = outcome(case["header"])
    if case["id"] in DIFFERENCES:  # asyncweb differs on purpose: the README says why
        expected, _reason = DIFFERENCES[case["id"]]
        assert got == BAD if expected == BAD else got == (expected, safe_filename(expected or ""))
    elif case["check"] == "filename":
        assert got != BAD and got[1] == safe_filename(case["filename"])
    elif case["check"] == "unnamed":
        assert got != BAD and got[0] is None
    else:  # "ignored": a browser would take no name from it; a form's part is refused
        assert got == BAD


@pytest.mark.parametrize("case", corpus_cases(GO, go_cases))
def test_go_mediatype_rows(case: dict[str, Any]) -> None:
    got = outcome(case["header"])
    expected = DIFFERENCES.get("go:" + case["id"], (case["filename"], ""))[0]
    if expected == BAD or expected is None:
        assert got == BAD
    else:
        assert got == (expected, safe_filename(expected))


def test_a_nested_multipart_part_is_refused_not_handed_on_as_text() -> None:
    # RFC 2388's multipart/mixed (several files under one name): a 400.
    headers = [
        (b"content-disposition", b'form-data; name="files"'),
        (b"content-type", b"multipart/mixed; boundary=inner"),
    ]
    with pytest.raises(BadRequest, match="nested multipart"):
        part_start(headers)
