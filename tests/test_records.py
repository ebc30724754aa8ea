"""records.NamedTuple must make at run time what typing.NamedTuple makes:
Limits and Config rely on it for defaults, `_replace`, equality and
pickling, and users construct both."""

from __future__ import annotations

import pickle
import typing

import pytest

from asyncweb._records import NamedTuple


class Theirs(typing.NamedTuple):
    """A record."""

    name: str
    size: int | None = 3
    tags: tuple[str, ...] = ()

    def label(self) -> str:
        return f"{self.name}:{self.size}"


class Ours(NamedTuple):
    """A record."""

    name: str
    size: int | None = 3
    tags: tuple[str, ...] = ()

    def label(self) -> str:
        return f"{self.name}:{self.size}"


def test_the_same_record_as_typing_makes() -> None:
    for attribute in ("_fields", "_field_defaults", "__doc__"):
        assert getattr(Ours, attribute) == getattr(Theirs, attribute), attribute
    assert typing.get_type_hints(Ours) == typing.get_type_hints(Theirs)
    ours = Ours("a", tags=("x",))
    theirs = Theirs("a", tags=("x",))
    assert tuple(ours) == tuple(theirs) == ("a", 3, ("x",))
    assert repr(ours) == repr(theirs).replace("Theirs", "Ours")
    assert ours == Ours("a", 3, ("x",)) and hash(ours) == hash(theirs)
    assert tuple(ours._replace(size=None)) == ("a", None, ("x",)) and type(ours._replace()) is Ours
    assert ours.label() == theirs.label() == "a:3"
    assert pickle.loads(pickle.dumps(ours)) == ours
    assert Ours.__module__ == __name__ and Ours.__qualname__ == "Ours"
    with pytest.raises(AttributeError):
        ours.name = "b"  # type: ignore[misc]  # the point: read-only
    with pytest.raises(TypeError):
        Ours()  # type: ignore[call-arg]


def test_a_field_without_default_after_one_with_is_refused() -> None:
    with pytest.raises(TypeError, match="without a default"):

        class Bad(NamedTuple):
            first: int = 1
            second: int  # type: ignore[misc]  # the point: refused


def test_limits_and_config_change_by_copy() -> None:
    from asyncweb._config import Config
    from asyncweb.limits import Limits

    limits = Limits(max_files=5)
    assert limits._replace(max_fields=7) == Limits(max_files=5, max_fields=7) != limits
    assert Config(limits=limits).limits.max_files == 5 and Config().limits == Limits()
