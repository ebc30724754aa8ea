"""The multipart/form-data encoder of `asyncweb call`, checked against
asyncweb's own streaming form parser."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from asyncweb._config import DEFAULT_CONFIG
from asyncweb.cgi.multipart_body import MultipartBody
from asyncweb.forms.reader import read_form


def test_multipart_length_matches_its_chunks(tmp_path: Path) -> None:
    upload = tmp_path / 'we"ird\nname.txt'
    upload.write_bytes(b"x" * 100_000)
    body = MultipartBody([("a", "1"), ("bare", None)], [("file", str(upload))])
    data = b"".join(body.chunks())
    assert len(data) == body.length
    assert b'filename="we%22ird%0Aname.txt"' in data
    assert data.endswith(f"--{body.boundary}--\r\n".encode())


@pytest.mark.anyio
async def test_multipart_round_trips_through_the_form_parser(tmp_path: Path) -> None:
    data = bytes(range(256)) * 4000  # holds CRLF and "--" sequences
    upload = tmp_path / "photo.png"
    upload.write_bytes(data)
    fields = [("name", "Zoë"), ("bare", None), ("name", 'quote " and\nline')]
    body = MultipartBody(fields, [("pic", str(upload))])

    async def chunks() -> AsyncIterator[bytes]:
        for chunk in body.chunks():
            yield chunk

    form = await read_form(chunks(), body.content_type, DEFAULT_CONFIG)
    try:
        assert form.fields.multi_items() == [("name", "Zoë"), ("bare", ""), ("name", 'quote " and\nline')]
        ((name, picture),) = form.files.multi_items()
        assert (name, picture.filename, picture.content_type) == ("pic", "photo.png", "image/png")
        assert picture.read() == data
    finally:
        form.close()
