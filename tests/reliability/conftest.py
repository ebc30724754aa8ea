"""Fixtures of the reliability tests (helpers.py has the functions)."""

from __future__ import annotations

from pathlib import Path

import pytest


@pytest.fixture
def upload_dir(tmp_path: Path) -> Path:
    """An empty upload folder: every test checks it is empty again at the end."""
    directory = tmp_path / "uploads"
    directory.mkdir()
    return directory
