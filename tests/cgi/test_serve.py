"""`asyncweb serve`: the app under a real uvicorn, started as a command."""

from __future__ import annotations

import subprocess
import sys

import httpx

from tests.support import ROOT, free_port, stop_process, wait_for_port


def test_serve_runs_the_app_under_uvicorn() -> None:
    port = free_port()
    argv = [sys.executable, "-m", "asyncweb", "serve", "examples.echo:main", "--port", str(port)]
    argv += ["--root-path", "/mounted", "--log-level", "warning"]
    process = subprocess.Popen(argv, cwd=ROOT)
    try:
        wait_for_port(port, process)
        reply = httpx.get(f"http://127.0.0.1:{port}/page?a=1", timeout=10)  # a proxy strips --root-path
        assert reply.status_code == 200
        report = reply.json()
        assert report["base_url"] == f"http://127.0.0.1:{port}/mounted"
        assert (report["path"], report["query"]) == ("/page", [["a", "1"]])
    finally:
        stop_process(process)


def test_serve_refuses_bad_options() -> None:
    argv = [sys.executable, "-m", "asyncweb", "serve", "examples.echo:main", "--port", "http"]
    result = subprocess.run(argv, cwd=ROOT, capture_output=True, text=True, timeout=30)
    assert result.returncode == 2
    assert "--port: invalid int value" in result.stderr
