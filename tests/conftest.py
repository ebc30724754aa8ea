"""Shared fixtures: tests run on asyncio through anyio's own pytest plugin;
the www-data folder and venv of the real-host tests (tests/hosts, tests/wsgi),
made once per session for both."""

import shutil
import time
from collections.abc import Iterator
from pathlib import Path

import pytest


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture(scope="session")
def www() -> Iterator[Path]:
    """A folder www-data can enter (mode 755 up to /), removed at the end."""
    from tests.hosts import common

    folder = common.www_folder()
    try:
        yield folder
    finally:
        shutil.rmtree(folder, ignore_errors=True)


@pytest.fixture(scope="session")
def www_python(www: Path) -> Path:
    """The python of a venv in `www` made with Debian's python3, asyncweb
    installed from this checkout with its dependencies (about 15 s, once)."""
    from tests.hosts import common

    common.www_user()
    started = time.monotonic()
    python = common.www_venv(www)
    print(f"venv for {common.WWW_USER}: {time.monotonic() - started:.1f}s")
    return python
