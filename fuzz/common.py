"""What the harnesses share: the input layout, the chunkings compared, the
invariants, and the atheris entry point.

An input is laid out the same way for every target, so that a seed, a crash
file and a regression test's bytes mean one thing whether atheris runs them
or a test calls `TestOneInput` directly (atheris' FuzzedDataProvider is not
needed, nor used, for that reason):

    byte 0         flags: each harness reads its own options from the bits
    byte 1         low 3 bits: n, the number of cut points (0 to 7)
    2 * n bytes    cut points, big-endian, each modulo len(payload) + 1
    the rest       the payload

Missing bytes count as 0, so any byte string is an input. This module
imports nothing of asyncweb: a harness imports the modules under test
inside `instrumented()`, which is where atheris instruments them.
"""

from __future__ import annotations

import contextlib
import hashlib
import importlib
import logging
import os
import re
import sys
import traceback
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, fields, is_dataclass
from pathlib import Path

TYPE_CHECKING = False
if TYPE_CHECKING:  # the project's rule: typing at run time only where it must be
    from typing import Any

HERE = Path(__file__).resolve().parent
# Payloads up to this size are also fed one byte at a time.
BYTEWISE_MAX = 256
# The packages whose code atheris instruments: coverage guides the fuzzer there.
INSTRUMENTED = ("asyncweb", "python_multipart")


@dataclass(frozen=True, slots=True)
class Input:
    flags: int
    cuts: tuple[int, ...]
    payload: bytes

    def flag(self, bit: int) -> bool:
        return bool(self.flags >> bit & 1)


def parse_input(data: bytes) -> Input:
    flags = data[0] if data else 0
    count = data[1] & 7 if len(data) > 1 else 0
    raw_cuts = data[2 : 2 + 2 * count].ljust(2 * count, b"\0")
    payload = data[2 + 2 * count :]
    cuts = tuple(sorted(int.from_bytes(raw_cuts[i : i + 2]) % (len(payload) + 1) for i in range(0, 2 * count, 2)))
    return Input(flags, cuts, payload)


def make_input(payload: bytes, flags: int = 0, cuts: Iterable[int] = ()) -> bytes:
    """The input whose parse is (flags, cuts, payload): for seeds and regressions."""
    points = list(cuts)[:7]
    return bytes((flags & 0xFF, len(points))) + b"".join(p.to_bytes(2) for p in points) + payload


def cut(payload: bytes, points: Iterable[int]) -> list[bytes]:
    """`payload` cut at `points` (sorted offsets); empty pieces are dropped:
    a b"" chunk means end of input to some of the codecs."""
    pieces, start = [], 0
    for point in [*points, len(payload)]:
        if point > start:
            pieces.append(payload[start:point])
            start = point
    return pieces


def chunkings(payload: bytes, points: tuple[int, ...]) -> list[list[bytes]]:
    """The ways of feeding `payload` that must give one result: whole, cut
    at the fuzzer's points, and (when small) one byte at a time."""
    ways = [[payload] if payload else []]
    if points:
        ways.append(cut(payload, points))
    if 1 < len(payload) <= BYTEWISE_MAX:
        ways.append([payload[i : i + 1] for i in range(len(payload))])
    return ways


def browser_form(payload: bytes, boundary: bytes = b"XyZ") -> tuple[bytes, list[tuple[str, str | None, bytes]]] | None:
    """A multipart body as a browser would send it, for the round trips:
    the payload's pieces between RS bytes (0x1E) are the values of fields
    f0, f2, ... and of files f1.bin, f3.bin, ...; returns the body and the
    (name, file name, value) of each part, or None when a value holds the
    delimiter (CRLF--boundary), which no browser would have picked."""
    values = payload.split(b"\x1e")[:64]
    delimiter = b"\r\n--" + boundary
    if any(delimiter in b"\r\n" + value for value in values):
        return None
    parts, body = [], bytearray()
    for i, value in enumerate(values):
        name, filename = f"f{i}", f"f{i}.bin" if i % 2 else None
        body += b"--" + boundary + b'\r\nContent-Disposition: form-data; name="' + name.encode() + b'"'
        if filename:
            body += b'; filename="' + filename.encode() + b'"\r\nContent-Type: application/octet-stream'
        body += b"\r\n\r\n" + value + b"\r\n"
        parts.append((name, filename, value))
    body += b"--" + boundary + b"--\r\n"
    return bytes(body), parts


# -- invariants -------------------------------------------------------------------
class Finding(AssertionError):
    """An invariant broken: what the fuzzer reports as a crash."""


def check_text(value: object, where: str = "result") -> None:
    """Finding if any str inside `value` holds a lone surrogate (text that
    cannot be encoded, to UTF-8 or anything else). Walks str, bytes,
    numbers, None, mappings, lists, tuples and dataclasses."""
    if isinstance(value, str):
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            raise Finding(f"lone surrogate in {where}: {value!r}") from None
    elif value is None or isinstance(value, bytes | bytearray | memoryview | int | float):
        return
    elif isinstance(value, Mapping):
        for key, item in value.items():
            check_text(key, f"{where} key")
            check_text(item, f"{where}[{key!r}]")
    elif isinstance(value, list | tuple):
        for index, item in enumerate(value):
            check_text(item, f"{where}[{index}]")
    elif is_dataclass(value) and not isinstance(value, type):
        for field in fields(value):
            check_text(getattr(value, field.name), f"{where}.{field.name}")
    else:
        raise Finding(f"check_text cannot look inside {type(value).__name__} at {where}")


@dataclass(frozen=True, slots=True)
class Refused:
    """A documented refusal, as compared across chunkings: the exception's
    HTTP status when it has one (QueryError and BadRequest are both 400),
    else its class."""

    what: str


def attempt(allowed: tuple[type[BaseException], ...], function: Callable[..., object], *args: object) -> object:
    """`function(*args)`, or Refused for an exception of `allowed`; any
    other exception propagates (a finding)."""
    try:
        return function(*args)
    except allowed as exc:
        status = getattr(exc, "status", None)
        return Refused(str(status) if status is not None else type(exc).__name__)


def _kind(first: object, other: object) -> str:
    if isinstance(first, Refused) and isinstance(other, Refused):
        return f"refused {first.what} whole, {other.what} in chunks"
    if isinstance(first, Refused):
        return f"refused {first.what} whole, accepted in chunks"
    if isinstance(other, Refused):
        return f"accepted whole, refused {other.what} in chunks"
    return "different results"


# Kinds of finding a run may be told to let pass (FUZZ_TOLERATE=refusal-status,
# comma-separated), so that it goes on hunting past a known, open one:
# "refusal-status" lets two chunkings refuse an input with different statuses.
TOLERATED = frozenset(os.environ.get("FUZZ_TOLERATE", "").replace(",", " ").split())


def check_same(results: list[object], ways: list[list[bytes]], what: str) -> None:
    """Finding unless every chunking gave the first one's result."""
    for result, way in zip(results[1:], ways[1:], strict=True):
        if result == results[0]:
            continue
        if "refusal-status" in TOLERATED and isinstance(result, Refused) and isinstance(results[0], Refused):
            continue
        sizes = [len(piece) for piece in way]
        raise Finding(
            f"{what} depend on chunking ({_kind(results[0], result)}): whole gave\n  {results[0]!r:.1500}\n"
            f"chunks of {sizes[:20]}{'...' if len(sizes) > 20 else ''} gave\n  {result!r:.1500}"
        )


# -- running under atheris --------------------------------------------------------
def load_atheris() -> Any:
    """The atheris module (untyped, so imported by name)."""
    return importlib.import_module("atheris")


def instrumented(active: bool) -> contextlib.AbstractContextManager[object]:
    """Around a harness' imports of the code under test: atheris'
    instrument_imports when `active` (the harness runs as __main__) and
    atheris is installed, else nothing (a test calling TestOneInput)."""
    if not active:
        return contextlib.nullcontext()
    try:
        atheris = load_atheris()
    except ImportError:
        return contextlib.nullcontext()
    manager: contextlib.AbstractContextManager[object] = atheris.instrument_imports(include=list(INSTRUMENTED))
    return manager


def signature(exc: BaseException) -> str:
    if isinstance(exc, Finding):
        # Where in the result, not which item: fields[3][1] and fields[0][1] are one kind.
        return "Finding: " + re.sub(r"\[[^\]]*\]", "[]", str(exc).partition(": ")[0])[:120]
    frames = traceback.extract_tb(exc.__traceback__)
    ours = [f for f in frames if "asyncweb" in f.filename or "python_multipart" in f.filename] or frames
    last = ours[-1]
    return f"{type(exc).__name__} at {Path(last.filename).name}:{last.lineno} ({last.name})"


def keep_going(test_one_input: Callable[[bytes], None], target: str, folder: Path) -> Callable[[bytes], None]:
    """For long runs by hand: each new kind of failure (exception class and
    where it was raised) is saved to `folder` and reported once, and the
    fuzzer goes on instead of stopping at the first."""
    folder.mkdir(parents=True, exist_ok=True)
    seen: set[str] = set()

    def wrapped(data: bytes) -> None:
        try:
            test_one_input(data)
        except Exception as exc:
            kind = signature(exc)
            if kind in seen:
                return
            seen.add(kind)
            name = f"{target}-{hashlib.sha1(data).hexdigest()[:12]}"
            (folder / name).write_bytes(data)
            report = "".join(traceback.format_exception(exc))
            with (folder / "findings.txt").open("a") as log:
                log.write(f"== {name}: {kind}\ninput = {data!r}\n{report}\n")
            print(f"\n#### finding {name}: {kind}\n", file=sys.stderr, flush=True)

    return wrapped


# The libFuzzer dictionary of each target: tokens of its format.
DICTIONARIES = {
    "multipart": "multipart",
    "form_reader": "multipart",
    "content_disposition": "multipart",
    "query": "query",
    "cookies": "cookies",
    "fastcgi_codec": "fastcgi",
    "cgi_variables": "fastcgi",
}


def fuzz(test_one_input: Callable[[bytes], None], harness_file: str) -> None:
    """atheris.Setup and Fuzz with the command line's libFuzzer options;
    the harness' dictionary (fuzz/*.dict) unless -dict= is given;
    FUZZ_KEEP_GOING=<folder> saves every kind of failure and goes on.
    Logging is off: python-multipart warns of every malformed body."""
    logging.disable(logging.CRITICAL)
    atheris = load_atheris()
    target = Path(harness_file).stem
    argv = list(sys.argv)
    dictionary = HERE / f"{DICTIONARIES.get(target, target)}.dict"
    if dictionary.exists() and not any(arg.startswith("-dict=") for arg in argv):
        argv.insert(1, f"-dict={dictionary}")
    findings = os.environ.get("FUZZ_KEEP_GOING")
    if findings:
        test_one_input = keep_going(test_one_input, target, Path(findings))
    atheris.Setup(argv, test_one_input)
    atheris.Fuzz()


def each_seed(folder: Path) -> Iterator[tuple[str, bytes]]:
    for path in sorted(folder.iterdir()):
        if path.is_file():
            yield path.name, path.read_bytes()


_CONTROLS = {chr(c) for c in [*range(0x20), *range(0x7F, 0xA0)]}


def check_filename(name: str | None, where: str = "filename") -> None:
    """Finding unless `name` keeps part_headers.safe_filename's promise: a
    base name (no slash either way), no C0/C1 control, not `.` or `..`, at
    most 255 bytes of UTF-8, no lone surrogate."""
    if name is None:
        return
    check_text(name, where)
    problem = None
    if "/" in name or "\\" in name:
        problem = "a folder separator"
    elif _CONTROLS.intersection(name):
        problem = "a control character"
    elif name in (".", ".."):
        problem = "a relative folder name"
    elif len(name.encode("utf-8")) > 255:
        problem = "more than 255 bytes"
    if problem:
        raise Finding(f"{where} has {problem}: {name!r}")
