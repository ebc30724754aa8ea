"""PEP 222's dictionary utility classes, for filling templates."""

from __future__ import annotations

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any


class NoKeyErrors(dict[str, "Any"]):
    """A dict whose missing keys give '', never KeyError:
    `"%(a)s-%(b)s" % NoKeyErrors(a=1)` is `"1-"`."""

    def __missing__(self, key: str) -> str:
        return ""


class _Placeholder:
    """Writes itself back as the placeholder it stands for."""

    __slots__ = ("key",)

    def __init__(self, key: str) -> None:
        self.key = key

    def __str__(self) -> str:
        return f"%({self.key})s"

    def __repr__(self) -> str:
        return f"%({self.key})r"

    def __format__(self, spec: str) -> str:
        return "{" + self.key + (":" + spec if spec else "") + "}"


class PartialStringSubstitution(dict[str, "Any"]):
    """A dict whose missing keys give back their placeholder, so a template
    can be filled in several passes:
    `"%(a)s %(b)s" % PartialStringSubstitution(a=1)` is `"1 %(b)s"`, and
    `"{a} {b}".format_map(PartialStringSubstitution(a=1))` is `"1 {b}"`."""

    def __missing__(self, key: str) -> _Placeholder:
        return _Placeholder(key)
