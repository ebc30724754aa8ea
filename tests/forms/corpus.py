"""The shared corpus of other projects' test data (/work/shared/corpus in a
session, `shared/corpus` beside the clone in CI), read in place: never
copied into this repository. Absent, the tests that need it are skipped,
the reason said."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import pytest

from tests.support import ROOT

CORPUS = ROOT.parent / "shared" / "corpus"


def path(relative: str) -> Path:
    return CORPUS / relative


def load(relative: str) -> Any:
    return json.loads(path(relative).read_text(encoding="utf-8"))


def cases(relative: str, read: Callable[[], Iterable[tuple[str, Any]]]) -> list[Any]:
    """pytest params, one per (id, case) that `read` gives; if `relative` is
    absent, a single param skipped with the reason."""
    if not path(relative).exists():
        reason = f"{path(relative)} is absent: CI clones the shared corpus beside the repository (shared/corpus)"
        return [pytest.param(None, marks=pytest.mark.skip(reason=reason), id="corpus-absent")]
    return [pytest.param(case, id=case_id) for case_id, case in read()]
