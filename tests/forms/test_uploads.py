"""UploadFile on its own: memory or spool, targets, abort, text, save."""

from __future__ import annotations

import io
import os
from pathlib import Path

import pytest

from asyncweb import UploadFile
from tests.forms.helpers import open_fds


def filled(upload: UploadFile, *pieces: bytes) -> UploadFile:
    for piece in pieces:
        upload.write(memoryview(piece))
    upload.finish()
    return upload


@pytest.mark.parametrize(
    ("charset", "text"),
    [("iso-8859-1", "é"), ("latin-1", "\ufffd"), ("base64", "\ufffd"), ("no-such", "\ufffd")],  # WHATWG labels only
)
def test_read_text_uses_the_part_charset_or_else_utf_8(charset: str, text: str) -> None:
    upload = filled(UploadFile("f", "f.txt", charset=charset), b"\xe9")
    assert upload.read_text() == text
    assert upload.read() == b"\xe9"  # read_text leaves the position at the start


def test_memory_up_to_the_spool_size_then_a_temp_file_gone_on_close(tmp_path: Path) -> None:
    before = open_fds()
    small = filled(UploadFile("f", "s.bin", spool_size=10, upload_dir=str(tmp_path)), b"12345", b"67890")
    large = filled(UploadFile("f", "l.bin", spool_size=10, upload_dir=str(tmp_path)), b"12345", b"678901")
    assert small.in_memory and not large.in_memory
    assert (small.size, large.size) == (10, 11)
    assert large.read() == b"12345678901"
    small.close()
    large.close()
    assert os.listdir(tmp_path) == [] and open_fds() == before


@pytest.mark.parametrize("target", [None, "path"])
def test_short_writes_are_carried_on_until_every_byte_is_written(
    target: str | None, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    real_write = os.write
    monkeypatch.setattr(os, "write", lambda fd, data: real_write(fd, data[:777]))  # as a signal cuts a write short
    content = os.urandom(10_000)
    options = {"target": tmp_path / "t.bin"} if target else {"upload_dir": str(tmp_path)}
    upload = filled(UploadFile("f", "t.bin", spool_size=0, **options), content[:4000], content[4000:])
    monkeypatch.undo()
    assert upload.size == 10_000 and upload.read() == content
    upload.close()


def test_a_path_target_is_written_in_place_and_removed_by_abort(tmp_path: Path) -> None:
    target = tmp_path / "final.bin"
    upload = filled(UploadFile("f", "final.bin", target=target), b"content")
    assert upload.path == target and target.read_bytes() == b"content"
    assert upload.read() == b"content"
    upload.abort()
    assert not target.exists()


def test_a_file_object_target_gets_the_bytes_and_stays_open() -> None:
    sink = io.BytesIO()
    upload = filled(UploadFile("f", "m.bin", target=sink), b"ab", b"cd")
    assert sink.getvalue() == b"abcd"
    upload.close()
    assert not sink.closed


def test_save_writes_memory_out_and_moves_a_spool_in_place(tmp_path: Path) -> None:
    small = filled(UploadFile("f", "s.txt"), b"tiny")
    assert small.save(tmp_path / "small.txt") == tmp_path / "small.txt"
    big = filled(UploadFile("f", "b.bin", spool_size=4, upload_dir=str(tmp_path)), b"x" * 100)
    big.save(tmp_path / "big.bin")
    big.close()
    assert (tmp_path / "small.txt").read_bytes() == b"tiny"
    assert (tmp_path / "big.bin").read_bytes() == b"x" * 100
    assert sorted(os.listdir(tmp_path)) == ["big.bin", "small.txt"]


@pytest.mark.parametrize("digest", [None, "sha256"])
@pytest.mark.parametrize("to", ["memory", "spool", "path", "sink"])
def test_every_way_an_upload_is_filled_keeps_all_of_it_and_its_digest(
    to: str, digest: str | None, tmp_path: Path
) -> None:
    """The content, its size and its digest, whether it stays in memory,
    goes to a temp file after some of it was held, or goes to a target (a
    path or a file object) from the start: `write` takes a short way only
    where the bytes go to a file and nowhere else."""
    import hashlib

    pieces = [os.urandom(size) for size in (7, 100, 3000, 1)]
    content = b"".join(pieces)
    sink = io.BytesIO()
    target = str(tmp_path / "target.bin") if to == "path" else sink if to == "sink" else None
    spool_size = 1 << 20 if to == "memory" else 50
    upload = UploadFile("f", "f.bin", spool_size=spool_size, upload_dir=str(tmp_path), target=target, digest=digest)
    filled(upload, *pieces)
    assert upload.size == len(content)
    if to == "sink":  # the app's own file object, as it left it
        assert sink.getvalue() == content
    else:
        assert upload.in_memory == (to == "memory")
        assert upload.read() == content
    if to == "path":
        assert (tmp_path / "target.bin").read_bytes() == content
    assert upload.hexdigest == (None if digest is None else hashlib.sha256(content).hexdigest())
    upload.close()


def test_content_before_finish_is_not_readable() -> None:
    upload = UploadFile("f", "f.bin")
    upload.write(memoryview(b"x"))
    with pytest.raises(ValueError, match="no readable content"):
        upload.read()


@pytest.mark.anyio
@pytest.mark.parametrize("spool_size", [1 << 20, 100])  # in memory, and spooled to disk
async def test_a_digest_is_computed_as_the_upload_streams(spool_size: int, tmp_path: Path) -> None:
    import hashlib

    from asyncweb import App, Request, Response
    from tests.support import asgi_client

    seen: dict[str, object] = {}

    async def handler(request: Request, response: Response, log: object) -> None:
        for name, upload in request.files.multi_items():
            seen[name] = (upload.hexdigest, hashlib.sha256(upload.read()).hexdigest())

    app = App(handler, upload_digest="sha256", spool_size=spool_size, upload_dir=str(tmp_path))
    data = os.urandom(300_000)
    async with asgi_client(app) as client:
        files = [("a", ("a.bin", data)), ("b", ("b.bin", b""))]
        assert (await client.post("/", files=files, data={"t": "x"})).status_code == 200
    assert seen["a"] == (hashlib.sha256(data).hexdigest(),) * 2
    assert seen["b"] == (hashlib.sha256(b"").hexdigest(),) * 2


def test_no_digest_unless_asked_and_an_unknown_name_is_refused_at_once() -> None:
    from asyncweb import App

    assert UploadFile("f", "f.bin").hexdigest is None
    with pytest.raises(ValueError):
        App(lambda request, response, log: None, upload_digest="sha257")


def test_parse_request_refuses_an_unknown_digest_at_once() -> None:
    import io

    from asyncweb import parse_request

    with pytest.raises(ValueError):
        parse_request({"REQUEST_METHOD": "GET"}, io.BytesIO(), upload_digest="sha257")
