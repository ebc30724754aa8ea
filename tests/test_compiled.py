"""The modules compiled with mypyc, as release wheels carry them (the
FastCGI hot path, the query parser and the multipart decoder), must behave as the plain modules
do: the FastCGI tests (nginx, lighttpd and cgi-fcgi included), the CGI and
WSGI tests and the tests of the compiled modules run again against that
build."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests import compiled

# The tests of the compiled modules (fastcgi/protocol, cgi/variables,
# cgi/head, cgi/writer, _fieldsyntax, query, forms/multipart, cookies/parse) and of what
# runs through them.
COMPILED_TESTS = (
    "tests/fastcgi",
    "tests/cgi",
    "tests/wsgi",
    "tests/test_gateways.py",
    "tests/test_fieldsyntax.py",
    "tests/test_headers.py",
    "tests/test_query.py",
    "tests/test_fast_paths.py",
    "tests/forms/test_reader.py",
    "tests/forms/test_multipart.py",
    "tests/forms/test_multipart_cost.py",
    "tests/test_cookies.py",
    "tests/test_cookie_corpus.py",
)


@pytest.mark.slow
def test_the_compiled_build_passes_the_fastcgi_and_cgi_tests(tmp_path: Path) -> None:
    try:
        site = compiled.build(tmp_path / "site")
    except compiled.Unavailable as exc:
        pytest.skip(f"no compiled build: {exc}")
    # Servers the tests start inherit PYTHONPATH, so they run compiled too.
    env = {**os.environ, "PYTHONPATH": str(site)}
    assert compiled.is_compiled(site), compiled.loaded_files(site)
    run = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", *COMPILED_TESTS],
        cwd=compiled.ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert run.returncode == 0, run.stdout[-5000:]
    assert " passed" in run.stdout, run.stdout[-2000:]


def test_no_compiled_module_shadows_the_sources() -> None:
    # An in-place mypyc build (`pip wheel .` with the hook on) leaves
    # extensions in src/; Python would import them instead of the .py files
    # beside them, so every other test would run stale code.
    stale = sorted(str(p.relative_to(compiled.ROOT)) for p in (compiled.ROOT / "src").rglob("*.so"))
    assert not stale, f"remove these compiled leftovers: {stale}"
