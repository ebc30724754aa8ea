"""benchmarks/wsgi.py runs, small: both apps answer alike under gunicorn
and the three parsers agree (nothing here is timed)."""

from __future__ import annotations

import shutil
import subprocess
import sys

import pytest

from tests.support import ROOT
from tests.wsgi import servers

pytestmark = pytest.mark.slow


@pytest.mark.skipif(
    not (servers.has_module("flask") and servers.has_module("gunicorn")) or shutil.which("ab") is None,
    reason="the WSGI benchmark needs Flask (pip install -e '.[bench]'), gunicorn and ab (apache2-utils)",
)
def test_the_wsgi_benchmark_runs_a_small_round() -> None:
    command = [sys.executable, "-m", "benchmarks.wsgi", "--rounds", "1", "--duration", "1", "--upload-mib", "4"]
    command += ["--parse-rounds", "1", "--file-mib", "1", "--callgrind-mib", "0"]
    done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    for row in ("| hello |", "| form |", "| asyncweb / Flask |", "| 20 fields |", "| 1 MiB file |"):
        assert row in done.stdout, done.stdout
