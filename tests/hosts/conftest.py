"""Session fixtures of the host tests: the www-data folder, its venv (one
install per session), and the upload every host carries."""

from __future__ import annotations

import hashlib
import os
import shutil
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.hosts import common

UPLOAD_SIZE = (4 << 20) + 321  # a few MiB, not a multiple of any buffer


@dataclass
class Upload:
    path: Path
    size: int
    sha256: str


@pytest.fixture(scope="session")
def www() -> Iterator[Path]:
    """A folder www-data can enter (mode 755 up to /), removed at the end."""
    folder = common.www_folder()
    try:
        yield folder
    finally:
        shutil.rmtree(folder, ignore_errors=True)


@pytest.fixture(scope="session")
def www_python(www: Path) -> Path:
    """The python of a venv in `www`, asyncweb installed from this checkout
    (about 10 s: once per session)."""
    common.www_user()
    started = time.monotonic()
    python = common.www_venv(www)
    print(f"venv for {common.WWW_USER}: {time.monotonic() - started:.1f}s")
    return python


@pytest.fixture(scope="session")
def upload(tmp_path_factory: pytest.TempPathFactory) -> Upload:
    """Incompressible bytes in a file, made fresh for the run."""
    path = tmp_path_factory.mktemp("hosts-upload") / "big.bin"
    data = os.urandom(UPLOAD_SIZE)
    path.write_bytes(data)
    return Upload(path, len(data), hashlib.sha256(data).hexdigest())
