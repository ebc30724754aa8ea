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


def test_serve_ignores_forwarded_headers_unless_told_to_trust_them() -> None:
    # uvicorn alone would take X-Forwarded-Proto/For from 127.0.0.1; the
    # README says these headers change nothing without trust_proxy.
    forged = {"X-Forwarded-Proto": "https", "X-Forwarded-For": "203.0.113.9"}
    for flags, secure in [([], False), (["--proxy-headers"], True)]:
        port = free_port()
        argv = [sys.executable, "-m", "asyncweb", "serve", "examples.echo:main", "--port", str(port), *flags]
        process = subprocess.Popen([*argv, "--log-level", "warning"], cwd=ROOT)
        try:
            wait_for_port(port, process)
            report = httpx.get(f"http://127.0.0.1:{port}/", headers=forged, timeout=10).json()
        finally:
            stop_process(process)
        assert report["secure"] is secure, flags
        assert report["url"].startswith("https://" if secure else "http://")


def test_serve_refuses_bad_options() -> None:
    argv = [sys.executable, "-m", "asyncweb", "serve", "examples.echo:main", "--port", "http"]
    result = subprocess.run(argv, cwd=ROOT, capture_output=True, text=True, timeout=30)
    assert result.returncode == 2
    assert "--port: invalid int value" in result.stderr
