"""UploadFile.save(): one behaviour whatever path the content takes (in
memory, an O_TMPFILE link, a named temp file renamed, a kernel copy across
filesystems): atomic, never through a symlink, nothing left on failure, and
the mode a plain open() would give."""

from __future__ import annotations

import errno
import logging
import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from asyncweb import App, Request, Response, UploadFile
from asyncweb.forms import uploads
from asyncweb.forms.part_headers import safe_filename
from tests.forms.helpers import MULTIPART_TYPE, file_part, multipart
from tests.support import asgi_client

CONTENT = b"0123456789" * 1000


def exdev(*args: Any, **kwargs: Any) -> None:
    raise OSError(errno.EXDEV, "Invalid cross-device link")


def force_memory(monkeypatch: pytest.MonkeyPatch, spool: Path) -> UploadFile:
    return UploadFile("f", "f.bin", spool_size=len(CONTENT))


def force_link(monkeypatch: pytest.MonkeyPatch, spool: Path) -> UploadFile:
    upload = UploadFile("f", "f.bin", spool_size=16, upload_dir=str(spool))
    if not uploads._O_TMPFILE:
        pytest.skip("no O_TMPFILE here")
    return upload


def force_rename(monkeypatch: pytest.MonkeyPatch, spool: Path) -> UploadFile:
    monkeypatch.setattr(uploads, "_O_TMPFILE", 0)
    return UploadFile("f", "f.bin", spool_size=16, upload_dir=str(spool))


def force_link_copy(monkeypatch: pytest.MonkeyPatch, spool: Path) -> UploadFile:
    monkeypatch.setattr(os, "link", exdev)  # as if upload_dir were on another filesystem
    return force_link(monkeypatch, spool)


def force_rename_copy(monkeypatch: pytest.MonkeyPatch, spool: Path) -> UploadFile:
    real = os.replace

    def replace(source: Any, destination: Any, **kwargs: Any) -> None:
        if os.fspath(source).startswith(str(spool)):  # the spool's rename: across filesystems
            exdev()
        real(source, destination, **kwargs)

    monkeypatch.setattr(os, "replace", replace)
    return force_rename(monkeypatch, spool)


def force_target(monkeypatch: pytest.MonkeyPatch, spool: Path) -> UploadFile:
    return UploadFile("f", "f.bin", target=spool / "target.bin")  # an upload_target path, moved by save()


PATHS: dict[str, Callable[[pytest.MonkeyPatch, Path], UploadFile]] = {
    "memory": force_memory,
    "o_tmpfile-link": force_link,
    "named-rename": force_rename,
    "o_tmpfile-copy": force_link_copy,
    "named-copy": force_rename_copy,
    "target-rename": force_target,
}


WRITING = {"memory", "o_tmpfile-copy", "named-copy"}  # the paths that write bytes, not a link or a rename


@pytest.fixture(params=list(PATHS))
def kind(request: pytest.FixtureRequest) -> str:
    name: str = request.param
    return name


@pytest.fixture
def upload(kind: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[UploadFile]:
    spool = tmp_path / "spool"
    spool.mkdir()
    made = PATHS[kind](monkeypatch, spool)
    made.write(memoryview(CONTENT))
    made.finish()
    assert made.in_memory == (kind == "memory")
    yield made
    made.close()
    assert os.listdir(spool) == []


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    path = tmp_path / "saved"
    path.mkdir()
    return path


@pytest.fixture
def umask() -> Iterator[Callable[[int], None]]:
    old = os.umask(0o022)

    def set_umask(value: int) -> None:
        os.umask(value)

    yield set_umask
    os.umask(old)


def test_save_puts_the_content_in_place_and_leaves_no_temp_name(upload: UploadFile, folder: Path) -> None:
    (folder / "f.bin").write_bytes(b"old")
    assert upload.save(folder / "f.bin") == folder / "f.bin" == upload.path
    assert (folder / "f.bin").read_bytes() == CONTENT
    assert os.listdir(folder) == ["f.bin"]
    upload.seek(0)
    assert upload.read() == CONTENT  # still readable after the save


def test_a_symlink_at_the_destination_is_replaced_not_written_through(
    upload: UploadFile, folder: Path, tmp_path: Path
) -> None:
    victim = tmp_path / "victim"
    victim.write_bytes(b"not yours")
    (folder / "f.bin").symlink_to(victim)
    upload.save(folder / "f.bin")
    assert victim.read_bytes() == b"not yours"
    assert not (folder / "f.bin").is_symlink() and (folder / "f.bin").read_bytes() == CONTENT


@pytest.mark.parametrize("mask", [0o022, 0o077, 0o002, 0o027])
def test_the_mode_is_what_open_gives_under_the_umask(
    upload: UploadFile, folder: Path, umask: Callable[[int], None], mask: int
) -> None:
    umask(mask)
    with open(folder / "plain", "w"):
        pass
    upload.save(folder / "f.bin")
    assert os.stat(folder / "f.bin").st_mode & 0o777 == 0o666 & ~mask == os.stat(folder / "plain").st_mode & 0o777


def test_save_takes_a_mode(upload: UploadFile, folder: Path, umask: Callable[[int], None]) -> None:
    umask(0o077)
    upload.save(folder / "f.bin", mode=0o644)  # not subject to the umask: it is what was asked for
    assert os.stat(folder / "f.bin").st_mode & 0o777 == 0o644


def test_the_default_mode_reads_the_umask_without_changing_it(umask: Callable[[int], None]) -> None:
    umask(0o027)
    assert uploads._default_mode() == 0o640
    assert os.umask(0o027) == 0o027  # left as it was


def test_the_umask_fallback_when_proc_is_absent(monkeypatch: pytest.MonkeyPatch, umask: Callable[[int], None]) -> None:
    real_open = open

    def no_proc(path: Any, *args: Any, **kwargs: Any) -> Any:
        if str(path).startswith("/proc/"):
            raise FileNotFoundError(path)
        return real_open(path, *args, **kwargs)

    umask(0o007)
    monkeypatch.setattr(uploads, "_umask_read", [])
    monkeypatch.setattr("builtins.open", no_proc)
    assert uploads._default_mode() == 0o660
    assert os.umask(0o007) == 0o007


def everything_under(path: Path) -> list[str]:
    return sorted(str(entry.relative_to(path)) for entry in path.rglob("*"))


@pytest.mark.parametrize(
    ("where", "error"),
    [
        ("saved", IsADirectoryError),  # the folder itself, as save(f"/srv/photos/{''}") would name it
        ("saved/sub", IsADirectoryError),
        ("saved/missing/f.bin", FileNotFoundError),
        ("saved/file/f.bin", NotADirectoryError),  # a folder that is a file
    ],
)
def test_a_failed_save_leaves_nothing_behind(
    upload: UploadFile, folder: Path, tmp_path: Path, where: str, error: type[OSError]
) -> None:
    (folder / "sub").mkdir()
    (folder / "file").write_bytes(b"a file")
    before = everything_under(tmp_path)
    with pytest.raises(error):
        upload.save(tmp_path / where)
    assert everything_under(tmp_path) == before
    assert upload.path is None or upload.path.parent == tmp_path / "spool"
    upload.save(folder / "f.bin")  # the upload is intact: it can still be saved
    assert (folder / "f.bin").read_bytes() == CONTENT


def test_a_write_that_fails_midway_leaves_the_old_file_and_no_temp(
    upload: UploadFile, kind: str, folder: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (folder / "f.bin").write_bytes(b"old")

    def full(*args: Any) -> int:
        raise OSError(errno.ENOSPC, "No space left on device")

    # The paths that write bytes fail; a link or a rename writes none.
    monkeypatch.setattr(os, "write", full)
    monkeypatch.setattr(os, "sendfile", full)
    if kind in WRITING:
        with pytest.raises(OSError, match="No space"):
            upload.save(folder / "f.bin")
        assert os.listdir(folder) == ["f.bin"] and (folder / "f.bin").read_bytes() == b"old"
    else:
        upload.save(folder / "f.bin")
        assert (folder / "f.bin").read_bytes() == CONTENT


@pytest.mark.parametrize("kind", ["o_tmpfile-copy", "named-copy"])
def test_a_short_spool_is_never_saved_half(upload: UploadFile, folder: Path) -> None:
    upload.size += 10  # as if the spool had lost its tail
    with pytest.raises(OSError, match="ended at byte"):
        upload.save(folder / "f.bin")
    assert os.listdir(folder) == []
    upload.size -= 10


@pytest.mark.parametrize("raw", ["..", ".", "/", "   ", "C:\\", "../", "", "\x01\x02"])
def test_a_name_with_nothing_left_is_upload(raw: str) -> None:
    assert safe_filename(raw) == "upload"


@pytest.mark.anyio
@pytest.mark.parametrize("spool_size", [1 << 20, 16])
async def test_the_readme_save_line_with_a_name_that_sanitises_to_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, spool_size: int
) -> None:
    """`upload.save(f"/srv/photos/{upload.filename}")` for `..`, `/`, spaces:
    a 500 in memory, a `.part` left or the folder replaced when spooled."""
    monkeypatch.setattr(uploads, "_O_TMPFILE", 0)
    photos, spool = tmp_path / "photos", tmp_path / "spool"
    photos.mkdir()
    spool.mkdir()

    async def handler(request: Request, response: Response, log: logging.Logger) -> None:
        upload = request.get_uploaded_file("photo")
        assert upload is not None
        response.set_body(str(upload.save(f"{photos}/{upload.filename}")))

    app = App(handler, spool_size=spool_size, upload_dir=str(spool))
    async with asgi_client(app) as client:
        for raw in (b"..", b"/", b"   ", b"C:\\"):
            body = multipart(file_part(b"photo", raw, b"jpeg bytes"))
            reply = await client.post("/", content=body, headers=MULTIPART_TYPE)
            assert reply.status_code == 200 and reply.text == f"{photos}/upload"
            assert os.listdir(photos) == ["upload"] and (photos / "upload").read_bytes() == b"jpeg bytes"
    assert os.listdir(spool) == []
