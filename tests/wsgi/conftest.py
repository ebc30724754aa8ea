"""Session fixtures of the WSGI server tests: the bodies they send (made
fresh for the run), a folder for the servers' run folders, and for
mod_wsgi a folder and a venv www-data can use (one install per session)."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import pytest

from tests.hosts.conftest import Upload
from tests.wsgi.apps import MAX_FILE_SIZE, MiB

BIG_SIZE = 50 * MiB + 7  # under the site's file limit, not a multiple of any buffer
OVERSIZED = MAX_FILE_SIZE + 4 * MiB


def _random_file(path: Path, size: int) -> Upload:
    digest = hashlib.sha256()
    with open(path, "wb") as file:
        left = size
        while left:
            piece = os.urandom(min(left, MiB))
            digest.update(piece)
            file.write(piece)
            left -= len(piece)
    return Upload(path, size, digest.hexdigest())


@pytest.fixture(scope="session")
def uploads(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("wsgi-uploads")


@pytest.fixture(scope="session")
def big_upload(uploads: Path) -> Upload:
    """50 MiB of incompressible bytes."""
    return _random_file(uploads / "big.bin", BIG_SIZE)


@pytest.fixture(scope="session")
def small_upload(uploads: Path) -> Upload:
    """2 MiB: spooled to disk too (over the App's 1 MiB spool_size), for a warm-up."""
    return _random_file(uploads / "small.bin", 2 * MiB + 3)


@pytest.fixture(scope="session")
def oversized_upload(uploads: Path) -> Upload:
    """A file over the site app's max_file_size."""
    return _random_file(uploads / "oversized.bin", OVERSIZED)
