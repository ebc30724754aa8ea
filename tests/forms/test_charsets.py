"""Only real text encodings are honoured, and no text with a lone surrogate
comes out: the form's `_charset_`, a part's charset, read_text, filename*."""

from __future__ import annotations

import logging
import re
from collections.abc import AsyncIterator

import pytest
from hypothesis import given
from hypothesis import strategies as st

from asyncweb import App, Request, Response, UploadFile
from asyncweb._config import Config
from asyncweb.errors import BadRequest
from asyncweb.forms import charsets, read_form
from asyncweb.forms.part_headers import part_start
from tests.forms.helpers import MULTIPART_TYPE, file_part, multipart, text_part
from tests.support import asgi_client

# Codecs Python has that are no text encoding a browser knows: lone
# surrogates (utf-7, the escapes), bytes-to-bytes (base64, rot13), an
# encoder only (undefined raises on every decode), a NUL in the name.
NOT_TEXT = ["utf-7", "unicode_escape", "raw_unicode_escape", "base64", "rot13", "idna", "undefined", "utf-8\x00"]
SURROGATE = re.compile("[\ud800-\udfff]")


def no_surrogates(text: str) -> bool:
    return SURROGATE.search(text) is None


async def chunks_of(body: bytes) -> AsyncIterator[bytes]:
    yield body


@pytest.mark.parametrize(
    ("label", "codec"),
    [
        ("utf-8", "utf-8"),
        (" UTF8\t", "utf-8"),
        ("iso-8859-1", "cp1252"),  # the standard: latin-1 and ASCII labels mean windows-1252
        ("Latin1", "cp1252"),
        ("us-ascii", "cp1252"),
        ("iso-8859-15", "iso8859-15"),
        ("koi8-u", "koi8-u"),
        ("shift_jis", "cp932"),
        ("gbk", "gb18030"),
        ("big5", "big5hkscs"),
        ("euc-kr", "cp949"),
        ("iso-2022-jp", "iso2022_jp"),
        ("utf-16", "utf-16-le"),
        ("utf-16be", "utf-16-be"),
    ],
)
def test_whatwg_labels_name_python_codecs(label: str, codec: str) -> None:
    assert charsets.text_codec(label) == codec


@pytest.mark.parametrize("label", [*NOT_TEXT, "iso-2022-kr", "x-user-defined", "", None, "utf-8 lies"])
def test_anything_else_is_unknown(label: str | None) -> None:
    assert charsets.text_codec(label) is None


@given(data=st.binary(max_size=64), codec=st.sampled_from(sorted(set(charsets._CODECS.values()))))
def test_no_codec_of_the_table_gives_a_lone_surrogate(data: bytes, codec: str) -> None:
    text = charsets.decode(data, codec)
    text.encode("utf-8")  # would raise on a lone surrogate


def test_decode_replaces_what_a_codec_might_let_through() -> None:
    assert charsets.without_surrogates("a\ud800b\udfff") == "a\ufffdb\ufffd"


@pytest.mark.anyio
@pytest.mark.parametrize("label", NOT_TEXT)
async def test_a_charset_field_that_is_no_text_encoding_means_utf_8(label: str) -> None:
    wire = label.encode("latin-1").replace(b"\x00", b"%00")
    body = b"name=%2B2AA-+%5Cud800&_charset_=" + wire
    form = await read_form(chunks_of(body), "application/x-www-form-urlencoded", Config())
    assert form.fields["name"] == "+2AA- \\ud800"
    multipart_body = multipart(text_part(b"name", b"+2AA- \\ud800"), text_part(b"_charset_", wire))
    form = await read_form(chunks_of(multipart_body), MULTIPART_TYPE["content-type"], Config())
    assert form.fields["name"] == "+2AA- \\ud800"


@pytest.mark.anyio
@pytest.mark.parametrize("label", NOT_TEXT)
async def test_under_strict_parsing_such_a_charset_field_is_a_400(label: str) -> None:
    body = b"name=x&_charset_=" + label.encode("latin-1").replace(b"\x00", b"%00")
    with pytest.raises(BadRequest, match="unknown charset"):
        await read_form(chunks_of(body), "application/x-www-form-urlencoded", Config(strict_parsing=True))


@pytest.mark.anyio
@pytest.mark.parametrize("label", [label for label in NOT_TEXT if "\x00" not in label])
async def test_a_part_charset_that_is_no_text_encoding_means_utf_8(label: str) -> None:
    part = text_part(b"name", "+2AA- \\ud800 é".encode(), b"text/plain; charset=" + label.encode())
    form = await read_form(chunks_of(multipart(part)), MULTIPART_TYPE["content-type"], Config())
    assert form.fields["name"] == "+2AA- \\ud800 é"


@pytest.mark.anyio
async def test_real_charsets_are_still_honoured() -> None:
    body = multipart(
        text_part(b"sjis", "日本".encode("cp932"), b"text/plain; charset=Shift_JIS"),
        text_part(b"koi", "мир".encode("koi8-r"), b'text/plain; charset="koi8-r"'),
        text_part(b"form", "€".encode("cp1252")),
        text_part(b"_charset_", b"ISO-8859-1"),  # windows-1252 in truth, as the standard says
    )
    form = await read_form(chunks_of(body), MULTIPART_TYPE["content-type"], Config())
    assert form.fields.multi_items()[:3] == [("sjis", "日本"), ("koi", "мир"), ("form", "€")]


@pytest.mark.parametrize("label", NOT_TEXT)
def test_read_text_takes_only_a_real_charset(label: str) -> None:
    upload = UploadFile("f", "f.txt", charset=label)
    upload.write(memoryview("+2AA- \\ud800 é".encode()))
    upload.finish()
    assert upload.read_text() == "+2AA- \\ud800 é"


def test_read_text_decodes_with_the_whatwg_codec() -> None:
    upload = UploadFile("f", "f.txt", charset="latin1")
    upload.write(memoryview(b"\x80"))
    upload.finish()
    assert upload.read_text() == "€"


def disposition(value: bytes) -> list[tuple[bytes, bytes]]:
    return [(b"content-disposition", b'form-data; name="f"; ' + value)]


@pytest.mark.parametrize(
    "ext_value",
    [b"undefined''%41.txt", b"utf-8\x00''%41.txt", b"utf-7''%2B2AA-.txt", b"raw_unicode_escape''%5Cud800.txt"],
)
def test_filename_star_in_a_codec_of_no_text_falls_back_to_the_plain_name(ext_value: bytes) -> None:
    part = part_start(disposition(b'filename="plain.txt"; filename*=' + ext_value))
    assert (part.filename, part.raw_filename) == ("plain.txt", "plain.txt")


@pytest.mark.parametrize(
    ("ext_value", "name"),
    [
        (b"undefined''%41.txt", "A.txt"),
        (b"utf-7''%2B2AA-.txt", "+2AA-.txt"),
        (b"raw_unicode_escape''%5Cud800.txt", "\\ud800.txt"),
        (b"unicode_escape''%5Cud800.txt", "\\ud800.txt"),
    ],
)
def test_without_a_plain_name_the_bytes_are_read_as_utf_8(ext_value: bytes, name: str) -> None:
    part = part_start(disposition(b"filename*=" + ext_value))
    assert part.raw_filename == name and part.filename is not None and no_surrogates(part.filename)


@pytest.mark.parametrize(
    ("ext_value", "name"),
    [
        (b"UTF-8''%E2%82%AC.txt", "€.txt"),
        (b"iso-8859-1'de'%E4.txt", "ä.txt"),  # ISO-8859-1 as such here (RFC 8187), not windows-1252
        (b"ISO-8859-1''%80.txt", "\x80.txt"),
        (b"us-ascii''a%20b.txt", "a b.txt"),
    ],
)
def test_filename_star_in_utf_8_or_iso_8859_1(ext_value: bytes, name: str) -> None:
    part = part_start(disposition(b'filename="plain.txt"; filename*=' + ext_value))
    assert part.raw_filename == name


@pytest.mark.anyio
async def test_the_readme_tour_greets_whatever_charset_is_claimed() -> None:
    """`set_body(f"Hello, {name}!")` encodes as UTF-8: a surrogate was a 500."""

    async def hello(request: Request, response: Response, log: logging.Logger) -> None:
        name = request.get_field("name", "world")
        response.set_body(f"Hello, {name}!")
        upload = request.get_uploaded_file("f")
        if upload is not None:
            response.set_body(f"Hello, {upload.filename} {upload.read_text()}!")

    async with asgi_client(App(hello)) as client:
        for label in (b"utf-7", b"unicode_escape", b"raw_unicode_escape"):
            reply = await client.post(
                "/",
                content=b"name=%2B2AA-%5Cud800&_charset_=" + label,
                headers={"content-type": "application/x-www-form-urlencoded"},
            )
            assert reply.status_code == 200 and reply.text == "Hello, +2AA-\\ud800!"
            body = multipart(
                file_part(
                    b"f", b"x.txt", b"+2AA-", b"; filename*=" + label + b"''%2B2AA-.txt\r\nContent-Type: text/plain"
                )
            )
            reply = await client.post("/", content=body, headers=MULTIPART_TYPE)
            assert reply.status_code == 200 and reply.text == "Hello, x.txt +2AA-!"


def test_a_lone_surrogate_becomes_the_replacement_character() -> None:
    assert charsets.without_surrogates("a\ud800b\udfff") == "a\ufffdb\ufffd"
    assert charsets.without_surrogates("é\U0001f600") == "é\U0001f600"  # a pair in UTF-8 terms is no surrogate
    assert charsets.without_surrogates("plain") == "plain"
