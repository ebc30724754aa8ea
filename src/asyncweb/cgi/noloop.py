"""Running a coroutine with no event loop, for an app that awaits nothing
a loop would have to resume.

A CGI process serves one request; for an asyncweb App whose receive and
send never suspend, the coroutines run to their end in plain calls and the
process is spared asyncio's import (`benchmarks/cgi_startup.py` measures
it). Nothing here may import asyncio.
"""

from __future__ import annotations

from collections.abc import Coroutine, Generator

from .._log import log

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any, TypeVar

    T = TypeVar("T")


class Parked:
    """Awaited by a coroutine that waits for its driver's next event: it
    suspends the coroutine until the driver resumes it."""

    def __await__(self) -> Generator[Any, None, None]:
        yield self


def run_without_loop(coroutine: Coroutine[Any, Any, T], until_parked: bool = False) -> T | None:
    """Run `coroutine` to its end and return its result (or, `until_parked`,
    until it awaits `Parked`: None). A bare `yield` (asyncio.sleep(0), a
    checkpoint) just goes on; awaiting anything else, which only a loop
    could resume, raises RuntimeError at that await, inside the coroutine,
    so the App traps it as any handler error."""
    refused = False
    try:
        yielded = coroutine.send(None)
        while True:
            if yielded is None:
                yielded = coroutine.send(None)
            elif until_parked and isinstance(yielded, Parked):
                return None
            elif not refused:
                refused = True
                yielded = coroutine.throw(RuntimeError(f"awaited {yielded!r}, which needs an event loop"))
            else:  # it awaits on regardless: end it, its finally blocks run
                log.error("ended a coroutine that awaited %r with no event loop to run it", yielded)
                coroutine.close()
                return None
    except StopIteration as end:
        result: T = end.value
        return result
