"""The "asyncweb" logger, imported on first use.

`log` stands for `logging.getLogger("asyncweb")`: the handler's `log` when
the App is given none, and the logger of asyncweb's own modules. `logging`
(with `traceback`, `tokenize` and `threading` behind it) is the dearest
import of a CGI process's start-up, and a request that logs nothing does
not need it; the module is imported the first time `log` is touched.

It may not change what the logger does: every attribute read, set or
deleted is the real logger's, and `isinstance(log, logging.Logger)` holds.
It configures nothing itself: `when_loaded` runs a host's configuration
(the CGI host's stderr format) once `logging` is there.
"""

from __future__ import annotations

import sys

TYPE_CHECKING = False
if TYPE_CHECKING:
    import logging
    from collections.abc import Callable
    from typing import Any

NAME = "asyncweb"
_pending: list[Callable[[], None]] = []


def when_loaded(configure: Callable[[], None]) -> None:
    """Run `configure` now if `logging` is imported, else when `log` first
    imports it (an app that imports logging itself imports it before it
    serves, so this runs then). A function asked for again waits once."""
    if "logging" in sys.modules:
        configure()
    elif configure not in _pending:
        _pending.append(configure)


class _Logger:
    __slots__ = ("_real",)

    def __init__(self) -> None:
        object.__setattr__(self, "_real", None)

    def _resolve(self) -> logging.Logger:
        real: logging.Logger | None = object.__getattribute__(self, "_real")
        if real is None:
            import logging

            real = logging.getLogger(NAME)
            object.__setattr__(self, "_real", real)
            # Taken whole: two threads logging first at once cannot pop one list empty.
            pending, _pending[:] = _pending[:], []
            for configure in pending:
                configure()
        return real

    def __getattr__(self, name: str) -> Any:
        return getattr(self._resolve(), name)

    def __setattr__(self, name: str, value: object) -> None:
        setattr(self._resolve(), name, value)

    def __delattr__(self, name: str) -> None:
        delattr(self._resolve(), name)

    def __eq__(self, other: object) -> bool:
        return other is self or other is self._resolve()

    def __hash__(self) -> int:
        return hash(self._resolve())

    def __repr__(self) -> str:
        return repr(self._resolve())

    def __reduce__(self) -> tuple[Callable[[str], logging.Logger], tuple[str]]:
        import logging

        return logging.getLogger, (NAME,)

    @property  # type: ignore[misc]  # isinstance() asks __class__ when the type itself does not match
    def __class__(self) -> type:
        return type(self._resolve())


log: logging.Logger = _Logger()  # type: ignore[assignment]  # it forwards every attribute to one
