"""An ordered, read-only multi-dict for query and form data."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import TypeVar

    V = TypeVar("V", covariant=True)


# Generic through Mapping alone, which also gives `MultiDict[str]` at run time.
class MultiDict(Mapping[str, "V"]):
    """Pairs in their original order, repeated keys kept.

    As a mapping, `md[key]` is the first value for the key (as PEP 222's
    `getField` returns); `get_list(key)` gives every value and
    `multi_items()` every pair.
    """

    __slots__ = ("_first", "_pairs")

    def __init__(self, pairs: Iterable[tuple[str, V]] = ()) -> None:
        self._pairs = list(pairs)
        self._first: dict[str, V] | None = None

    def _index(self) -> dict[str, V]:
        if self._first is None:
            first: dict[str, V] = {}
            for key, value in self._pairs:
                if key not in first:
                    first[key] = value
            self._first = first
        return self._first

    def __getitem__(self, key: str) -> V:
        return self._index()[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self._index())

    def __len__(self) -> int:
        return len(self._index())

    def __contains__(self, key: object) -> bool:
        return key in self._index()

    def get_list(self, key: str) -> list[V]:
        return [value for name, value in self._pairs if name == key]

    def multi_items(self) -> list[tuple[str, V]]:
        return list(self._pairs)

    def __eq__(self, other: object) -> bool:
        if isinstance(other, MultiDict):
            return self._pairs == other._pairs
        return NotImplemented

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self._pairs!r})"
