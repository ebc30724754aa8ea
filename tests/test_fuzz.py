"""The fuzz harnesses (fuzz/): every seed once through each TestOneInput
(fast, no atheris), what the fuzzers found (fixed: regression tests),
and, slow, a bounded atheris run of each target from seeds built here."""

from __future__ import annotations

import importlib
import os
import re
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from fuzz import seeds
from fuzz.common import Finding, Input, chunkings, make_input, parse_input, signature
from tests.support import ROOT

TARGETS = seeds.TARGETS
# Seconds of fuzzing per target in the slow test: 7 targets, about 2.5 minutes.
SECONDS = int(os.environ.get("ASYNCWEB_FUZZ_SECONDS", "20"))


def harness(target: str) -> Callable[[bytes], None]:
    test_one_input: Callable[[bytes], None] = importlib.import_module(f"fuzz.{target}").TestOneInput
    return test_one_input


def corpus() -> Path | None:
    """The shared corpus of real data, when this machine has it."""
    return seeds.DEFAULT_CORPUS if seeds.DEFAULT_CORPUS.is_dir() else None


@pytest.fixture(scope="module")
def seed_folders(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    return seeds.build(tmp_path_factory.mktemp("seeds"), corpus())


# -- the harnesses' own machinery ----------------------------------------------------
def test_an_input_is_flags_cut_points_and_payload() -> None:
    data = make_input(b"payload", 5, [6, 2])
    assert parse_input(data) == Input(5, (2, 6), b"payload")
    assert parse_input(b"") == Input(0, (), b"")
    assert parse_input(b"\x01\x02\xff") == Input(1, (0, 0), b"")  # missing bytes count as 0
    assert chunkings(b"abc", (1,)) == [[b"abc"], [b"a", b"bc"], [b"a", b"b", b"c"]]


def test_a_lone_surrogate_in_a_result_is_a_finding() -> None:
    from fuzz.common import check_text

    check_text({"a": [("b", b"\xff", None, 1)]})
    with pytest.raises(Finding, match="lone surrogate"):
        check_text([("name", "caf\udce9")])


# -- every seed, in-process: the regression part --------------------------------------
@pytest.mark.parametrize("target", TARGETS)
def test_every_seed_passes_its_harness(target: str, seed_folders: dict[str, Path]) -> None:
    run = harness(target)
    paths = sorted(seed_folders[target].iterdir())
    assert len(paths) >= 3, f"only {len(paths)} seeds for {target}"
    failures = []
    for path in paths:
        data = path.read_bytes()
        try:
            run(data)
        except Exception as exc:
            failures.append(f"{path.name}: {signature(exc)}\n    input = {data!r:.400}")
    assert not failures, f"{len(failures)} of {len(paths)} seeds fail fuzz.{target}:\n" + "\n".join(failures)


# -- what the fuzzers found, and is fixed: regression tests ----------------------
# What the harnesses found in the tree of a85027e, since fixed (edc22fc: only
# WHATWG labels, and filename* only in UTF-8, ISO-8859-1 or US-ASCII).
FIXED = {
    # The decoder raised for a fault late in a chunk before handing out the
    # chunk's earlier events: the reader's 413 for them came only in pieces.
    "multipart-refusal-depends-on-chunking": (
        "form_reader",
        b'\x02\x00multipart/form-data;boundary=XyZ\n--XyZ\r\nContent-Disposition:form-data;name=;a=""\r\na:\r\n'
        b"\r\naaaaa\r\naaaaaaaaaaaaaaaaaa\r\n\r\naaaa\r\n--XyZ a",
    ),
    # QueryParser counted and measured items after unescaping them, and the
    # unfinished item before the complete ones: the status depended on the split.
    "query-parser-refusal-depends-on-chunking": ("query", b"\x03\x00a&a&a&a&a&%&"),
    "query-parser-size-refusal-depends-on-chunking": ("query", b"\x03\x00%&aaaaaaaaaaaaaaaaa"),
    "filename*-nul-in-charset-500": ("content_disposition", b"\x00\x00form-data;name=\"\";filename*=\x00''%"),
    "filename*-idna-500": ("content_disposition", b"\x00\x00form-data; name=a; filename*=idna''%78%6E%2D%2D"),
    "filename*-utf-7-lone-surrogate": ("content_disposition", b"\x00\x00form-data; name=a; filename*=utf-7''%2B2AA-"),
    "filename*-raw-unicode-escape-lone-surrogate": (
        "content_disposition",
        b"\x00\x00form-data; name=a; filename*=raw_unicode_escape''%5C%75%64%38%30%30",
    ),
    "filename*-nul-in-charset-through-read_form": (
        "form_reader",
        b"\x00\x00multipart/form-data; boundary=XyZ\n--XyZ\r\n"
        b"Content-Disposition: form-data; name=\"f\"; filename*=utf-\x008''%41.txt\r\n\r\ndata\r\n--XyZ--\r\n",
    ),
}


@pytest.mark.parametrize(("target", "data"), list(FIXED.values()), ids=list(FIXED))
def test_fixed_finding(target: str, data: bytes) -> None:
    harness(target)(data)


# -- the fuzzers, for a bounded time ---------------------------------------------------
@pytest.mark.slow
@pytest.mark.parametrize("target", TARGETS)
def test_fuzzing_finds_nothing(target: str, tmp_path: Path) -> None:
    pytest.importorskip("atheris", reason="atheris is not installed (pip install -e '.[test]')")
    # Without the shared corpus, the hand-written seeds alone.
    folder = seeds.build(tmp_path / "seeds", corpus(), (target,))[target]
    artifacts = tmp_path / "artifacts"
    artifacts.mkdir()
    command = [
        sys.executable,
        "-m",
        f"fuzz.{target}",
        f"-max_total_time={SECONDS}",
        "-timeout=10",
        "-rss_limit_mb=2048",
        "-print_final_stats=1",
        f"-artifact_prefix={artifacts}/",
        str(folder),
    ]
    env = {**os.environ, "ASYNCWEB_FUZZ_UPLOADS": str(tmp_path / "uploads")}
    result = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=SECONDS + 180)
    if result.returncode != 0:
        found = [f"{path.name}: input = {path.read_bytes()!r:.3000}" for path in sorted(artifacts.iterdir())]
        pytest.fail(
            f"fuzz.{target} exited {result.returncode}; reproduce with "
            f"`python -m fuzz.minimize {target} FILE`\n" + "\n".join(found) + "\n" + result.stderr[-6000:]
        )
    done = re.search(r"Done (\d+) runs", result.stderr)
    assert done and int(done[1]) > 0, result.stderr[-3000:]
