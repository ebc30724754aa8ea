"""Shrink a failing input of a harness, keeping its failure.

    python -m fuzz.minimize TARGET FILE [--out FILE]

Works on the input's parts (fuzz/common.py): drops cut points, clears
flag bits, deletes payload bytes (the cut points moved along), then
replaces bytes by 'a', for as long as the same kind of failure (an
invariant's first line, or an exception's class and the line of asyncweb
or python-multipart it came from) comes out. Prints the result as a Python bytes literal, the form a
regression test takes.
"""

from __future__ import annotations

import argparse
import importlib
import logging
from collections.abc import Callable
from pathlib import Path

from fuzz.common import Input, make_input, parse_input, signature


def failure(test_one_input: Callable[[bytes], None], data: bytes) -> str | None:
    try:
        test_one_input(data)
    except Exception as exc:
        return signature(exc)
    return None


def _encode(given: Input) -> bytes:
    return make_input(given.payload, given.flags, given.cuts)


def _delete(given: Input, start: int, end: int) -> Input:
    gone = end - start
    cuts = tuple(c if c <= start else max(start, c - gone) for c in given.cuts)
    return Input(given.flags, cuts, given.payload[:start] + given.payload[end:])


def minimize(test_one_input: Callable[[bytes], None], data: bytes) -> bytes:
    wanted = failure(test_one_input, data)
    if wanted is None:
        raise SystemExit("the input does not fail")
    given = parse_input(data)
    given = Input(given.flags, given.cuts, given.payload)  # cut points as the harness saw them

    def keeps(candidate: Input) -> bool:
        return failure(test_one_input, _encode(candidate)) == wanted

    if not keeps(given):  # a layout make_input cannot give back: keep the raw input
        return data
    for i in reversed(range(len(given.cuts))):
        candidate = Input(given.flags, given.cuts[:i] + given.cuts[i + 1 :], given.payload)
        if keeps(candidate):
            given = candidate
    for bit in range(8):
        candidate = Input(given.flags & ~(1 << bit), given.cuts, given.payload)
        if candidate.flags != given.flags and keeps(candidate):
            given = candidate
    size = max(1, len(given.payload) // 2)
    while size >= 1:
        start = 0
        while start < len(given.payload):
            candidate = _delete(given, start, start + size)
            if keeps(candidate):
                given = candidate
            else:
                start += size
        size //= 2
    for i in range(len(given.payload)):
        if given.payload[i : i + 1] not in (b"a", b"\r", b"\n"):
            candidate = Input(given.flags, given.cuts, given.payload[:i] + b"a" + given.payload[i + 1 :])
            if keeps(candidate):
                given = candidate
    return _encode(given)


def main() -> None:
    parser = argparse.ArgumentParser(description="Shrink a failing input of a harness.")
    parser.add_argument("target", help="a harness: multipart, query, ...")
    parser.add_argument("file", type=Path)
    parser.add_argument("--out", type=Path, help="write the smaller input there")
    args = parser.parse_args()
    logging.disable(logging.CRITICAL)
    test_one_input = importlib.import_module(f"fuzz.{args.target}").TestOneInput
    small = minimize(test_one_input, args.file.read_bytes())
    if args.out:
        args.out.write_bytes(small)
    given = parse_input(small)
    print(f"{failure(test_one_input, small)}\nflags={given.flags} cuts={list(given.cuts)}\ninput = {small!r}")


if __name__ == "__main__":
    main()
