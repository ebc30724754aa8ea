"""The code checks CI holds the project to: ruff and mypy --strict."""

import shutil
import subprocess
import sys

import pytest

from tests.support import ROOT

CHECKED = ("src", "tests", "examples", "benchmarks")


def run(*command: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=600)


def test_ruff() -> None:
    if shutil.which("ruff") is None and not (ROOT / ".venv/bin/ruff").exists():
        pytest.skip("ruff is not installed (pip install -e '.[test]')")
    result = run(sys.executable, "-m", "ruff", "check", *CHECKED)
    assert result.returncode == 0, result.stdout + result.stderr


def test_mypy_strict() -> None:
    # The library and everything that uses it: the tests, the benchmarks and
    # the examples (pyproject.toml's [tool.mypy] names the module bases).
    pytest.importorskip("mypy", reason="mypy is not installed (pip install -e '.[test]')")
    result = run(sys.executable, "-m", "mypy", "--strict", *CHECKED)
    assert result.returncode == 0, result.stdout + result.stderr
