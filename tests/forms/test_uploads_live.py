"""Uploads from curl to a real uvicorn serving examples/echo.py."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest

from tests.support import SERVER_PIDS, run_uvicorn

pytestmark = pytest.mark.skipif(shutil.which("curl") is None, reason="curl is not installed")


def curl_form(url: str, *fields: str, timeout: float = 120) -> dict[str, Any]:
    command = ["curl", "-s", "-S", "--fail-with-body", "--max-time", str(timeout), url]
    for field in fields:
        # --form-string takes text as is; -F would read `<file` and `@file`.
        command += ["-F" if "=@" in field else "--form-string", field]
    result = subprocess.run(command, capture_output=True, timeout=timeout + 10, check=False)
    assert result.returncode == 0, result.stdout + result.stderr
    answer: dict[str, Any] = json.loads(result.stdout)
    return answer


def server_fds(base: str, settle_to: int | None = None) -> int:
    """The server's open fds; with `settle_to`, give it up to 5 s to close the
    finished connection (it sees curl's close a moment after curl exits)."""
    deadline = time.monotonic() + 5
    while True:
        count = len(os.listdir(f"/proc/{SERVER_PIDS[base]}/fd"))
        if settle_to is None or count <= settle_to or time.monotonic() > deadline:
            return count
        time.sleep(0.05)


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def test_curl_form_with_several_files_odd_names_and_an_empty_input(tmp_path: Path) -> None:
    (tmp_path / "a.bin").write_bytes(bytes(range(256)) * 100)
    (tmp_path / "b.txt").write_text("second\n")
    quoted = tmp_path / 'q"uote.txt'
    quoted.write_text("quoted")
    with run_uvicorn("examples.echo:main") as base:
        data = curl_form(
            base + "/upload?from=query",
            "title=Grüße, world",
            "note=<tmp>",
            f"docs=@{tmp_path / 'a.bin'}",
            f"docs=@{tmp_path / 'b.txt'}",
            f"uni=@{tmp_path / 'b.txt'};filename=résumé ☃.txt",
            f"quoted=@{quoted}",
            "empty=@/dev/null;filename=",
        )
    assert data["method"] == "POST" and data["query"] == [["from", "query"]]
    assert data["fields"] == [["title", "Grüße, world"], ["note", "<tmp>"]]
    files = [(name, info["filename"], info["size"], info["sha256"]) for name, info in data["files"]]
    assert files == [
        ("docs", "a.bin", 25600, sha256(bytes(range(256)) * 100)),
        ("docs", "b.txt", 7, sha256(b"second\n")),
        ("uni", "résumé ☃.txt", 7, sha256(b"second\n")),
        ("quoted", "q%22uote.txt", 6, sha256(b"quoted")),  # curl, like browsers, writes " as %22
    ]


def test_curl_upload_of_200_mib_round_trips(tmp_path: Path) -> None:
    big = tmp_path / "big.bin"
    digest = hashlib.sha256()
    block = os.urandom(1024 * 1024)
    with big.open("wb") as out:
        for index in range(200):
            chunk = block[index:] + block[:index]
            digest.update(chunk)
            out.write(chunk)
    with run_uvicorn("examples.echo:main") as base:
        baseline = server_fds(base)
        data = curl_form(base + "/", "kind=big", f"big=@{big}")
        after = server_fds(base, settle_to=baseline)
    [[name, info]] = data["files"]
    assert (name, info["size"], info["sha256"]) == ("big", 200 * 1024 * 1024, digest.hexdigest())
    assert data["fields"] == [["kind", "big"]]
    assert after == baseline  # the spool file was closed
