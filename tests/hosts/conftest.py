"""Session fixtures of the host tests: the www-data folder, its venv (one
install per session), and the upload every host carries."""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass
from pathlib import Path

import pytest

UPLOAD_SIZE = (4 << 20) + 321  # a few MiB, not a multiple of any buffer


@dataclass
class Upload:
    path: Path
    size: int
    sha256: str


@pytest.fixture(scope="session")
def upload(tmp_path_factory: pytest.TempPathFactory) -> Upload:
    """Incompressible bytes in a file, made fresh for the run."""
    path = tmp_path_factory.mktemp("hosts-upload") / "big.bin"
    data = os.urandom(UPLOAD_SIZE)
    path.write_bytes(data)
    return Upload(path, len(data), hashlib.sha256(data).hexdigest())
