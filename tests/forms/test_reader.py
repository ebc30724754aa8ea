"""Form bodies through the App: fields, files, spooling, saving, targets,
and the Python calls each chunk of a large upload costs."""

from __future__ import annotations

import asyncio
import io
import logging
import os
import sys
from collections import Counter
from collections.abc import AsyncIterator
from pathlib import Path
from types import FrameType
from typing import Any

import pytest

from asyncweb import App, Request, Response
from asyncweb._config import Config
from asyncweb.forms import multipart as multipart_module
from asyncweb.forms import read_form
from asyncweb.forms import uploads as uploads_module
from asyncweb.types import Message
from tests.forms.helpers import MULTIPART_TYPE, file_part, multipart, open_fds, text_part
from tests.reliability.helpers import http_scope
from tests.support import asgi_client

Seen = dict[str, Any]


def recording_app(seen: Seen, **options: Any) -> App:
    async def handler(request: Request, response: Response, log: logging.Logger) -> None:
        seen["request"] = request
        seen["fields"] = request.fields.multi_items()
        seen["files"] = request.files.multi_items()
        seen["dir_during"] = sorted(os.listdir(options["upload_dir"])) if "upload_dir" in options else None
        for name, upload in request.files.multi_items():
            seen.setdefault("contents", []).append((name, upload.read()))
            upload.seek(0)
        action = seen.get("action")
        if action is not None:
            await action(request)

    return App(handler, **options)


@pytest.mark.anyio
async def test_urlencoded_fields_keep_order_bare_names_and_stay_apart_from_the_query() -> None:
    seen: Seen = {}
    async with asgi_client(recording_app(seen)) as client:
        reply = await client.post(
            "/?q=from-url",
            content=b"a&b=&c=1&c=2&text=caf%C3%A9+au+lait",
            headers={"content-type": "application/x-www-form-urlencoded"},
        )
    assert reply.status_code == 200
    assert seen["fields"] == [("a", None), ("b", ""), ("c", "1"), ("c", "2"), ("text", "café au lait")]
    request: Request = seen["request"]
    assert request.get_field("q") is None and request.query["q"] == "from-url"
    assert request.get_field("c") == "1" and request.fields.get_list("c") == ["1", "2"]


@pytest.mark.anyio
async def test_urlencoded_charset_field_is_honoured() -> None:
    seen: Seen = {}
    async with asgi_client(recording_app(seen)) as client:
        await client.post(
            "/",
            content=b"name=Andr%E9&_charset_=windows-1252",
            headers={"content-type": "application/x-www-form-urlencoded; charset=whatever"},
        )
    assert seen["fields"] == [("name", "André"), ("_charset_", "windows-1252")]


@pytest.mark.anyio
async def test_multipart_fields_and_files(tmp_path: Path) -> None:
    seen: Seen = {}

    async def inspect(request: Request) -> None:
        seen["file_as_text"] = request.get_field("docs")
        # A plain field is no file: the README's `upload.save(...)` must not
        # save one under the name None.
        seen["plain_as_file"] = request.get_uploaded_file("title")
        seen["missing"] = request.get_uploaded_file("missing")

    seen["action"] = inspect
    async with asgi_client(recording_app(seen, upload_dir=str(tmp_path))) as client:
        reply = await client.post(
            "/",
            data={"title": "Hello ☃", "tags": ["a", "b"]},
            files=[
                ("docs", ("one.txt", b"first", "text/plain")),
                ("docs", ("two.bin", b"\x00\xff" * 10, "application/octet-stream")),
            ],
        )
    assert reply.status_code == 200
    assert seen["fields"] == [("title", "Hello ☃"), ("tags", "a"), ("tags", "b")]
    assert [(name, upload.filename, upload.content_type, upload.size) for name, upload in seen["files"]] == [
        ("docs", "one.txt", "text/plain", 5),
        ("docs", "two.bin", "application/octet-stream", 20),
    ]
    assert seen["contents"] == [("docs", b"first"), ("docs", b"\x00\xff" * 10)]
    assert seen["file_as_text"] == "first"  # a file field as text, as the PEP says
    assert seen["plain_as_file"] is None
    assert seen["missing"] is None


@pytest.mark.anyio
async def test_file_names_are_made_safe_and_the_raw_name_kept() -> None:
    seen: Seen = {}
    body = multipart(
        file_part(b"a", b"../../etc/passwd", b"1"),
        file_part(b"b", b"C:\\Users\\me\\report.pdf", b"2"),
        file_part(b"c", b"..", b"3"),
        file_part(b"d", b"new\x01line.txt", b"4"),
        file_part(b"e", b"fallback.txt", b"5", b"; filename*=UTF-8''%E2%82%AC%20rates.txt"),
        file_part(b"f", "Grüße \\ ü.txt".encode(), b"6"),
        file_part(b"g", b"a%22b%22c.txt", b"7"),
        file_part(b"h", b"two%0D%0Alines.txt", b"8"),
    )
    async with asgi_client(recording_app(seen)) as client:
        assert (await client.post("/", content=body, headers=MULTIPART_TYPE)).status_code == 200
    names = [(upload.filename, upload.raw_filename) for _, upload in seen["files"]]
    assert names == [
        ("passwd", "../../etc/passwd"),
        ("report.pdf", "C:\\Users\\me\\report.pdf"),
        ("upload", ".."),  # nothing left: never '', so save(folder / filename) never names the folder
        ("newline.txt", "new\x01line.txt"),
        ("€ rates.txt", "€ rates.txt"),
        ("ü.txt", "Grüße \\ ü.txt"),
        ("a%22b%22c.txt", "a%22b%22c.txt"),
        ("two%0D%0Alines.txt", "two%0D%0Alines.txt"),  # browsers escape CR/LF; never decoded
    ]


@pytest.mark.anyio
async def test_an_empty_file_input_means_no_file_chosen() -> None:
    seen: Seen = {}
    body = multipart(text_part(b"x", b"1"), file_part(b"avatar", b"", b""), file_part(b"empty", b"e.txt", b""))
    async with asgi_client(recording_app(seen)) as client:
        assert (await client.post("/", content=body, headers=MULTIPART_TYPE)).status_code == 200
    request: Request = seen["request"]
    assert request.get_uploaded_file("avatar") is None and "avatar" not in request.fields
    empty = request.get_uploaded_file("empty")  # a chosen file that happens to be empty is kept
    assert empty is not None and empty.size == 0 and empty.filename == "e.txt"


@pytest.mark.anyio
async def test_part_charset_and_charset_field() -> None:
    seen: Seen = {}
    body = multipart(
        text_part(b"latin", "café".encode("latin-1"), b"text/plain; charset=iso-8859-1"),
        text_part(b"form", "naïve".encode("cp1252")),
        text_part(b"_charset_", b"windows-1252"),
    )
    async with asgi_client(recording_app(seen)) as client:
        await client.post("/", content=body, headers=MULTIPART_TYPE)
    assert seen["fields"] == [("latin", "café"), ("form", "naïve"), ("_charset_", "windows-1252")]


@pytest.mark.anyio
async def test_small_files_stay_in_memory_and_large_ones_spool_unnamed(tmp_path: Path) -> None:
    seen: Seen = {}

    async def where(request: Request) -> None:
        seen["in_memory"] = [upload.in_memory for _, upload in request.files.multi_items()]

    seen["action"] = where
    body = multipart(file_part(b"small", b"s.txt", b"s" * 100), file_part(b"big", b"b.bin", b"b" * 300_000))
    app = recording_app(seen, upload_dir=str(tmp_path), spool_size=64 * 1024)
    async with asgi_client(app) as client:
        assert (await client.post("/", content=body, headers=MULTIPART_TYPE)).status_code == 200
    assert seen["in_memory"] == [True, False]
    assert seen["contents"] == [("small", b"s" * 100), ("big", b"b" * 300_000)]
    assert seen["dir_during"] == []  # O_TMPFILE: the spooled file has no name
    assert os.listdir(tmp_path) == []


@pytest.mark.anyio
async def test_spool_size_bounds_the_memory_of_all_files_together(tmp_path: Path) -> None:
    seen: Seen = {}

    async def where(request: Request) -> None:
        seen["in_memory"] = [upload.in_memory for _, upload in request.files.multi_items()]

    seen["action"] = where
    body = multipart(*[file_part(b"f", b"f.bin", b"x" * 30_000) for _ in range(5)])
    app = recording_app(seen, upload_dir=str(tmp_path), spool_size=64 * 1024)
    async with asgi_client(app) as client:
        assert (await client.post("/", content=body, headers=MULTIPART_TYPE)).status_code == 200
    assert seen["in_memory"] == [True, True, False, False, False]  # 2 x 30 kB fit in 64 KiB, the rest spool
    assert [content for _, content in seen["contents"]] == [b"x" * 30_000] * 5


@pytest.mark.anyio
async def test_save_is_a_rename_of_the_spooled_file(tmp_path: Path) -> None:
    seen: Seen = {}
    uploads, final = tmp_path / "uploads", tmp_path / "final"
    uploads.mkdir()
    final.mkdir()
    (final / "exists.bin").write_bytes(b"old")

    async def save(request: Request) -> None:
        upload = request.get_uploaded_file("big")
        assert upload is not None
        inode = os.fstat(upload.file.fileno()).st_ino
        saved = upload.save(final / "exists.bin")
        seen["same_inode"] = os.stat(saved).st_ino == inode
        small = request.get_uploaded_file("small")
        assert small is not None
        small.save(final / "small.txt")

    seen["action"] = save
    body = multipart(file_part(b"big", b"b.bin", b"x" * 2_000_000), file_part(b"small", b"s.txt", b"tiny"))
    async with asgi_client(recording_app(seen, upload_dir=str(uploads))) as client:
        assert (await client.post("/", content=body, headers=MULTIPART_TYPE)).status_code == 200
    assert seen["same_inode"] is True
    assert (final / "exists.bin").read_bytes() == b"x" * 2_000_000
    assert (final / "small.txt").read_bytes() == b"tiny"
    assert sorted(os.listdir(final)) == ["exists.bin", "small.txt"]  # no staging names left
    assert os.listdir(uploads) == []


@pytest.mark.anyio
async def test_without_o_tmpfile_temp_files_are_named_and_removed(tmp_path: Path, monkeypatch: Any) -> None:
    monkeypatch.setattr(uploads_module, "_O_TMPFILE", 0)
    seen: Seen = {}
    body = multipart(file_part(b"a", b"a.bin", b"a" * 200_000), file_part(b"b", b"b.bin", b"b" * 200_000))

    async def save_one(request: Request) -> None:
        upload = request.get_uploaded_file("a")
        assert upload is not None
        upload.save(tmp_path / "kept.bin")

    seen["action"] = save_one
    app = recording_app(seen, upload_dir=str(tmp_path), spool_size=1000)
    async with asgi_client(app) as client:
        assert (await client.post("/", content=body, headers=MULTIPART_TYPE)).status_code == 200
    assert len(seen["dir_during"]) == 2
    assert os.listdir(tmp_path) == ["kept.bin"]
    assert (tmp_path / "kept.bin").read_bytes() == b"a" * 200_000


@pytest.mark.anyio
async def test_save_across_filesystems_copies(tmp_path: Path) -> None:
    shm = Path("/dev/shm")
    if not shm.is_dir() or os.stat(shm).st_dev == os.stat(tmp_path).st_dev:
        pytest.skip("needs /dev/shm on a filesystem other than the temp folder")
    seen: Seen = {}
    destination = shm / f"asyncweb-test-{os.getpid()}.bin"

    async def save(request: Request) -> None:
        upload = request.get_uploaded_file("f")
        assert upload is not None
        upload.save(destination)

    seen["action"] = save
    body = multipart(file_part(b"f", b"f.bin", b"z" * 300_000))
    try:
        async with asgi_client(recording_app(seen, upload_dir=str(tmp_path), spool_size=1000)) as client:
            assert (await client.post("/", content=body, headers=MULTIPART_TYPE)).status_code == 200
        assert destination.read_bytes() == b"z" * 300_000
    finally:
        destination.unlink(missing_ok=True)


@pytest.mark.anyio
async def test_upload_target_writes_straight_into_place(tmp_path: Path) -> None:
    calls = []
    sink = io.BytesIO()

    def target(name: str, filename: str, content_type: str | None) -> Any:
        calls.append((name, filename, content_type))
        if name == "direct":
            return tmp_path / f"final-{filename}"
        if name == "memory":
            return sink
        return None

    seen: Seen = {}
    body = multipart(
        file_part(b"direct", b"d.bin", b"d" * 500_000),
        file_part(b"memory", b"m.bin", b"m" * 10),
        file_part(b"default", b"x.bin", b"x" * 10),
    )
    app = recording_app(seen, upload_target=target, upload_dir=str(tmp_path / "spool"))
    (tmp_path / "spool").mkdir()
    async with asgi_client(app) as client:
        assert (await client.post("/", content=body, headers=MULTIPART_TYPE)).status_code == 200
    assert calls == [
        ("direct", "d.bin", "application/octet-stream"),
        ("memory", "m.bin", "application/octet-stream"),
        ("default", "x.bin", "application/octet-stream"),
    ]
    assert (tmp_path / "final-d.bin").read_bytes() == b"d" * 500_000
    assert sink.getvalue() == b"m" * 10
    direct = dict(seen["files"])["direct"]
    assert direct.path == tmp_path / "final-d.bin"
    assert os.listdir(tmp_path / "spool") == []


@pytest.mark.anyio
async def test_a_failed_form_removes_target_files_too(tmp_path: Path) -> None:
    def target(name: str, filename: str, content_type: str | None) -> Path:
        return tmp_path / filename

    body = multipart(file_part(b"a", b"a.bin", b"a" * 1000))[:-10]  # cut before the end
    async with asgi_client(App(recording_handler_noop, upload_target=target)) as client:
        reply = await client.post("/", content=body, headers=MULTIPART_TYPE)
    assert reply.status_code == 400
    assert os.listdir(tmp_path) == []


async def recording_handler_noop(request: Request, response: Response, log: logging.Logger) -> None:
    pass


@pytest.mark.anyio
async def test_handler_can_opt_out_and_read_the_raw_body() -> None:
    seen: Seen = {}

    async def handler(request: Request, response: Response, log: logging.Logger) -> None:
        if request.path == "/raw":
            seen["raw"] = await request.body()
        elif request.path == "/fields-too-early":
            request.fields  # noqa: B018
        elif request.path == "/later":
            form = await request.form()
            seen["later"] = form.fields.multi_items()
            seen["via_get_field"] = request.get_field("a")
        elif request.path == "/json":
            await request.form()

    app = App(handler, parse_forms=False)
    form_type = {"content-type": "application/x-www-form-urlencoded"}
    async with asgi_client(app) as client:
        assert (await client.post("/raw", content=b"a=1&b", headers=form_type)).status_code == 200
        assert (await client.post("/fields-too-early", content=b"a=1", headers=form_type)).status_code == 500
        assert (await client.post("/later", content=b"a=1&b", headers=form_type)).status_code == 200
        unsupported = await client.post("/json", json={"a": 1})
    assert seen["raw"] == b"a=1&b"
    assert seen["later"] == [("a", "1"), ("b", None)] and seen["via_get_field"] == "1"
    assert unsupported.status_code == 415


@pytest.mark.anyio
async def test_uploads_are_closed_and_removed_when_the_handler_fails(tmp_path: Path) -> None:
    async def handler(request: Request, response: Response, log: logging.Logger) -> None:
        raise RuntimeError("after the upload")

    body = multipart(file_part(b"f", b"f.bin", b"f" * 500_000))
    before = open_fds()
    async with asgi_client(App(handler, upload_dir=str(tmp_path), spool_size=1000)) as client:
        assert (await client.post("/", content=body, headers=MULTIPART_TYPE)).status_code == 500
    assert os.listdir(tmp_path) == []
    assert open_fds() == before


@pytest.mark.anyio
async def test_a_read_cancelled_mid_body_aborts_every_upload(tmp_path: Path) -> None:
    """Not only errors: a BaseException (here a cancellation) aborts the
    uploads too, the finished ones and the one being written."""
    body = multipart(file_part(b"a", b"a.bin", b"a" * 100), file_part(b"b", b"b.bin", b"b" * 100))

    async def chunks() -> AsyncIterator[bytes]:
        yield body[: len(body) - 50]  # a.bin finished, b.bin begun
        raise asyncio.CancelledError

    config = Config(upload_target=lambda name, filename, content_type: tmp_path / filename)
    before = open_fds()
    with pytest.raises(asyncio.CancelledError):
        await read_form(chunks(), MULTIPART_TYPE["content-type"], config)
    assert os.listdir(tmp_path) == [] and open_fds() == before


# -- the cost of a large upload's chunk -------------------------------------------------------------
def _calls_per_chunk(upload_dir: Path, chunks: int) -> Counter[str]:
    """The Python functions called (generators resumed counted too) while an
    App takes a file upload of `chunks` 64 KiB messages after its head, by
    qualified name; the test's own receive() left out."""
    head = b'--XyZ\r\nContent-Disposition: form-data; name="f"; filename="f"\r\n\r\n'
    messages = [head, *(b"x" * 65536 for _ in range(chunks)), b"\r\n--XyZ--\r\n"]

    async def receive() -> Message:
        body = messages.pop(0)
        return {"type": "http.request", "body": body, "more_body": bool(messages)}

    async def send(message: Message) -> None:
        pass

    async def handler(request: Request, response: Response, log: logging.Logger) -> None:
        pass

    scope = http_scope("POST", "/", [("content-type", "multipart/form-data; boundary=XyZ")])
    app = App(handler, upload_dir=str(upload_dir), spool_size=1000)
    calls: Counter[str] = Counter()

    def profile(frame: FrameType, event: str, arg: object) -> None:
        if event == "call" and frame.f_code.co_filename != __file__:
            calls[frame.f_code.co_qualname] += 1

    sys.setprofile(profile)
    try:
        asyncio.run(app(scope, receive, send))
    finally:
        sys.setprofile(None)
    return calls


@pytest.mark.skipif(
    not multipart_module.__file__.endswith(".py"),
    reason="the decoder is compiled (the release build): its calls are C calls, which a profile does not count",
)
def test_each_chunk_of_a_large_upload_makes_one_python_call_per_layer(tmp_path: Path) -> None:
    """A chunk in the middle of a file part goes from the ASGI message to the
    spool file through the request's stream, the decoder and the upload,
    one call each (the data event is the chunk's memoryview, no object of
    its own; the reader's loop, running already, hands it on), and no other Python
    function: at 64 KiB a message, each call more is a measurable share of
    the upload's time (docs/performance.md, "Uploads")."""
    _calls_per_chunk(tmp_path, 2)  # imports and first calls done
    few, more = _calls_per_chunk(tmp_path, 8), _calls_per_chunk(tmp_path, 16)
    per_chunk = {name: (more[name] - few[name]) / 8 for name in more | few if more[name] != few[name]}
    assert per_chunk == {
        "Request._chunks": 1,  # what stream() gives
        "MultipartDecoder.feed": 1,  # which scans part data itself
        "UploadFile.write": 1,
    }
