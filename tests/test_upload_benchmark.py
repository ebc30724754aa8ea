"""The upload benchmark (benchmarks/upload.py) and its peers
(benchmarks/upload_peers.py): every app target takes a small upload in a
fresh process, as the benchmark runs it, and answers its exact size; a
wrong answer stops the run; a peer of the bench extra that is not installed
is skipped here, saying so, and left out of the tables, saying why; nothing
a measurement spools outlives it. Nothing here is timed."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("starlette", reason="the upload benchmark compares against Starlette (pip install -e '.[test]')")
pytest.importorskip("python_multipart", reason="the ceiling is python-multipart's parser (pip install -e '.[test]')")

from benchmarks import upload, upload_peers
from tests.support import ROOT

MiB = 1024 * 1024
SIZE = 2 * MiB
CHUNK = 64 * 1024


def needs(target: str) -> None:
    """Skip unless `target`'s framework is installed (the peers are in the bench extra alone)."""
    if target in upload_peers.PEERS:
        pytest.importorskip(target, reason=f"{target} is a peer of the bench extra (pip install -e '.[bench]')")


@pytest.mark.parametrize("target", [*upload.APPS, *upload_peers.PEERS])
def test_every_app_answers_the_uploads_size_in_a_fresh_process(target: str, tmp_path: Path) -> None:
    needs(target)
    result = upload.measure(target, SIZE, CHUNK, str(tmp_path))
    assert result["answer"] == f"{SIZE}\n"
    assert result["seconds"] > 0 and result["rss_kib"] >= 0
    # The measurement's spool folder is gone, with whatever the target left there.
    assert list(tmp_path.iterdir()) == []


def test_a_wrong_size_or_status_is_refused() -> None:
    upload.expect_size("app", 200, b"6\n", 6)
    for status, body in ((200, b"5\n"), (200, b"6"), (201, b"6\n"), (500, b"")):
        with pytest.raises(AssertionError, match="app answered"):
            upload.expect_size("app", status, body, 6)


def test_a_worker_that_fails_names_its_target_and_leaves_no_spool_folder(tmp_path: Path) -> None:
    with pytest.raises(RuntimeError, match="no such app: the worker failed"):
        upload.measure("no such app", SIZE, CHUNK, str(tmp_path))
    assert list(tmp_path.iterdir()) == []


def test_what_a_target_leaves_in_its_spool_folder_is_counted_and_removed(tmp_path: Path) -> None:
    folder = Path(upload.spool_folder(str(tmp_path)))
    (folder / "tmpabc.upload.bin").write_bytes(b"spooled")
    (folder / "nested").mkdir()
    assert upload.removed(str(folder)) == 2
    assert not folder.exists()


def test_a_missing_peer_is_left_out_saying_why(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    why = "not installed (pip install -e '.[bench]')"
    monkeypatch.setattr(upload_peers, "MISSING", dict.fromkeys(upload_peers.PEERS, why))
    assert upload.installed_peers() == []
    argv = ["--only", "inprocess", "--size-mib", "4", "--chunks-kib", "1024", "--rounds", "1"]
    assert upload.main([*argv, "--upload-dir", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    for peer in upload_peers.PEERS:
        assert f"{peer} left out: {why}" in out
        assert f"| {peer} |" not in out
    for target in [*upload.PARSERS, "asyncweb", "starlette"]:
        assert f"| 1024 KiB | {target} |" in out
    assert list(tmp_path.iterdir()) == []


def test_the_django_target_wants_a_process_of_its_own() -> None:
    # Django's settings are the process's: once benchmarks/apps.py has made
    # them for its routes, the upload view could not be routed.
    needs("django")
    code = "from benchmarks import apps, upload_peers; apps.django_app(); upload_peers.django_app()"
    result = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert result.returncode != 0
    assert "RuntimeError: Django's settings are configured for another project" in result.stderr


def test_paired_in_one_process_every_app_answers_in_turn(tmp_path: Path) -> None:
    # Each turn's answer is checked inside the paired worker: a wrong one fails the table.
    table = upload.paired_table(SIZE, [CHUNK], 2, str(tmp_path))
    for target in [upload.CEILING, "asyncweb", "starlette", *upload.installed_peers()]:
        assert f"| 64 KiB | {target} |" in table
    assert list(tmp_path.iterdir()) == []


@pytest.mark.slow
def test_over_uvicorn_every_app_answers_and_every_file_is_removed(tmp_path: Path) -> None:
    if shutil.which("curl") is None:
        pytest.skip("the upload benchmark posts with curl (Debian: curl)")
    table = upload.http_table(SIZE, 1, str(tmp_path))
    for name in [*upload.HTTP_APPS, *upload.installed_peers()]:
        assert f"| {name} |" in table
    # The bodies posted and every server's spool folder are gone.
    assert list(tmp_path.iterdir()) == []
