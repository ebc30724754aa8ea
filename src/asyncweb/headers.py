"""Request headers (read-only, over the ASGI list) and response headers
(mutable, validated at every change so CR/LF can never be sent)."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping

from ._fieldsyntax import check_name, check_value, join_header_values

RawHeaders = list[tuple[bytes, bytes]]


def header_values(raw: Iterable[tuple[bytes, bytes]], wanted: bytes) -> list[str]:
    """Every value of the header named `wanted` (lower-case bytes) in an ASGI
    header list, in order: for a reader of one header, who need not make a
    `Headers` for it."""
    values = []
    for name, value in raw:  # a loop, not a comprehension: on 3.11 that costs a function call
        if name == wanted:
            values.append(value.decode("latin-1"))
    return values


class Headers(Mapping[str, str]):
    """Case-insensitive view of an ASGI request's headers.

    `headers[name]` and `get(name)` give the first value; `get_list(name)`
    every value; `get_joined(name)` the values merged as one field.
    """

    __slots__ = ("raw",)

    def __init__(self, raw: Iterable[tuple[bytes, bytes]] = ()) -> None:
        self.raw: RawHeaders = list(raw)

    def get(self, key: str, default: str | None = None) -> str | None:  # type: ignore[override]
        try:
            wanted = key.lower().encode("latin-1")
        except UnicodeEncodeError:  # no header name holds such a character
            return default
        for name, value in self.raw:
            if name == wanted:
                return value.decode("latin-1")
        return default

    def __getitem__(self, key: str) -> str:
        value = self.get(key)
        if value is None:
            raise KeyError(key)
        return value

    def __contains__(self, key: object) -> bool:
        return isinstance(key, str) and self.get(key) is not None

    def __iter__(self) -> Iterator[str]:
        return iter(dict.fromkeys(name.decode("latin-1") for name, _ in self.raw))

    def __len__(self) -> int:
        return len({name for name, _ in self.raw})

    def get_list(self, key: str) -> list[str]:
        try:
            wanted = key.lower().encode("latin-1")
        except UnicodeEncodeError:
            return []
        return header_values(self.raw, wanted)

    def get_joined(self, key: str) -> str | None:
        values = self.get_list(key)
        return join_header_values(key, values) if values else None

    def multi_items(self) -> list[tuple[str, str]]:
        return [(name.decode("latin-1"), value.decode("latin-1")) for name, value in self.raw]

    def __repr__(self) -> str:
        return f"Headers({self.multi_items()!r})"


class MutableHeaders:
    """Response headers: ordered pairs, names case-insensitive, every name
    and value checked when it is set."""

    __slots__ = ("_pairs",)

    def __init__(self, headers: Mapping[str, str] | Iterable[tuple[str, str]] | None = None) -> None:
        self._pairs: list[tuple[str, str]] = []
        if headers is not None:
            items = headers.items() if isinstance(headers, Mapping) else headers
            for name, value in items:
                self.add(name, value)

    def add(self, name: str, value: str) -> None:
        self._pairs.append((check_name(name), check_value(value)))

    def __setitem__(self, name: str, value: str) -> None:
        check_value(value)
        del self[check_name(name)]
        self._pairs.append((name, value))

    def __delitem__(self, name: str) -> None:
        lowered = name.lower()
        self._pairs = [pair for pair in self._pairs if pair[0].lower() != lowered]

    def get(self, name: str, default: str | None = None) -> str | None:
        lowered = name.lower()
        for key, value in self._pairs:
            if key.lower() == lowered:
                return value
        return default

    def __getitem__(self, name: str) -> str:
        value = self.get(name)
        if value is None:
            raise KeyError(name)
        return value

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and self.get(name) is not None

    def get_list(self, name: str) -> list[str]:
        lowered = name.lower()
        return [value for key, value in self._pairs if key.lower() == lowered]

    def items(self) -> list[tuple[str, str]]:
        return list(self._pairs)

    def __len__(self) -> int:
        return len(self._pairs)

    def raw(self) -> RawHeaders:
        """ASGI form: lower-case names, latin-1 bytes."""
        return [(name.lower().encode("latin-1"), value.encode("latin-1")) for name, value in self._pairs]

    def __repr__(self) -> str:
        return f"MutableHeaders({self._pairs!r})"
