"""Medians, ratios to raw, and the Markdown tables both modes print."""

from __future__ import annotations

import statistics
from collections.abc import Sequence
from dataclasses import dataclass

TARGET_NAMES = {
    "raw": "raw ASGI",
    "starlette": "Starlette",
    "asyncweb": "asyncweb",
    "falcon": "Falcon",
    "blacksheep": "BlackSheep",
    "litestar": "Litestar",
    "django": "Django",
}


@dataclass(frozen=True, slots=True)
class Sample:
    """Every round's figure for one target on one route."""

    values: Sequence[float]

    @property
    def median(self) -> float:
        return statistics.median(self.values)

    def spread(self, digits: int, scale: float = 1.0) -> str:
        """`min-max`, each divided by `scale`."""
        return f"{min(self.values) / scale:.{digits}f}-{max(self.values) / scale:.{digits}f}"


def markdown(header: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return "\n".join(lines)


def notes(lines: Sequence[str]) -> str:
    """Lines for under a table (goals, cells not timed, the driver's cost),
    each a paragraph of its own; empty for none."""
    return "".join(f"\n\n{line}" for line in lines)


def verdict(ratio: float, goal: float | None, at_most: bool) -> str:
    """`≤ 2.5x met`, or `≥ 0.85x missed by 0.04`, for a ratio against its goal."""
    if goal is None:
        return "-"
    sign = "≤" if at_most else "≥"
    gap = ratio - goal if at_most else goal - ratio
    return f"{sign} {goal:.2f}x " + ("met" if gap <= 0 else f"missed by {gap:.2f}")
