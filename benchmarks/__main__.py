"""`python -m benchmarks [MODE] [options]`: run the benchmarks, print Markdown.

Modes: `all` (the default: in process, then over uvicorn + wrk), `inprocess`,
`http`, `profile`; and the benchmarks with their own options, handed the rest
of the command line: `upload` (256 MiB multipart), `fastcgi`, `cgi_startup`,
`instructions` (callgrind's counts, for this tree and others side by side),
`sync_handlers` (plain-function handlers against async ones).
A target whose framework is not installed (the bench extra) is left out,
saying so.
"""

from __future__ import annotations

import argparse
import importlib
import os
import platform
import runpy
import shlex
import sys
from collections.abc import Callable, Sequence

ROUTES = ("hello", "query", "form", "cookies")
TARGETS = ("raw", "starlette", "asyncweb", "falcon", "blacksheep", "litestar", "django")
STACKS = ("h11", "httptools", "granian")
OWN_ENTRY_POINTS = ("fastcgi", "cgi_startup")  # modules run as scripts, reading sys.argv
OWN_MAINS = ("upload", "instructions", "sync_handlers")  # modules whose main(argv) takes the rest


def machine() -> str:
    """`nproc`, CPU model and Python version, for the table's caption."""
    model = "unknown CPU"
    try:
        with open("/proc/cpuinfo") as cpuinfo:
            model = next((line.split(":", 1)[1].strip() for line in cpuinfo if line.startswith("model name")), model)
    except OSError:
        pass
    return f"{os.cpu_count()} CPUs ({model}), {platform.python_implementation()} {platform.python_version()}"


def parser() -> argparse.ArgumentParser:
    parse = argparse.ArgumentParser(
        prog="python -m benchmarks",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parse.add_argument("mode", nargs="?", default="all", choices=("all", "inprocess", "http", "profile"))
    parse.add_argument("--routes", nargs="+", default=list(ROUTES), choices=ROUTES, metavar="ROUTE")
    parse.add_argument(
        "--targets", nargs="+", default=list(TARGETS), choices=TARGETS, metavar="TARGET",
        help="the apps to compare (default all; raw runs always, the ratios being to it)",
    )  # fmt: skip
    group = parse.add_argument_group("in process")
    group.add_argument("--rounds", type=int, default=40, help="interleaved rounds (default 40)")
    group.add_argument("--batch-ms", type=float, default=20, help="time per batch, calibrated (default 20)")
    group.add_argument("--iterations", type=int, help="requests per batch, instead of calibrating")
    group = parse.add_argument_group("over uvicorn + wrk")
    group.add_argument("--http-rounds", type=int, default=4, help="interleaved rounds (default 4)")
    group.add_argument("--duration", type=int, default=2, help="whole seconds of wrk per cell and round (default 2)")
    group.add_argument("--connections", type=int, default=32, help="wrk connections (default 32)")
    group.add_argument(
        "--stacks", nargs="+", default=["h11", "httptools"], choices=STACKS,
        help="uvicorn with h11 on asyncio, with httptools on uvloop, granian on uvloop (default the first two)",
    )  # fmt: skip
    group = parse.add_argument_group("profile")
    group.add_argument("--target", default="asyncweb", choices=TARGETS, help="the app to profile")
    group.add_argument("--requests", type=int, default=20000, help="requests per route (default 20000)")
    return parse


def main(argv: Sequence[str] | None = None) -> int:
    args_list = list(sys.argv[1:] if argv is None else argv)
    if args_list[:1] and args_list[0] in OWN_MAINS:
        own: Callable[[list[str]], int] = importlib.import_module(f".{args_list[0]}", __package__).main
        return own(args_list[1:])
    if args_list[:1] and args_list[0] in OWN_ENTRY_POINTS:
        sys.argv = [f"python -m benchmarks {args_list[0]}", *args_list[1:]]
        runpy.run_module(f"benchmarks.{args_list[0]}", run_name="__main__")
        return 0
    args = parser().parse_args(args_list)
    command = shlex.join(["python", "-m", "benchmarks", *args_list])
    print(f"`{command}` on {machine()}; figures are ratios to raw ASGI measured in one interleaved run.\n")
    from .apps import MISSING

    if args.mode == "profile":
        from .profiling import run as profile

        if args.target in MISSING:
            print(f"{args.target} cannot be profiled: {MISSING[args.target]}")
            return 1
        print(profile(args.target, args.routes, args.requests))
        return 0
    targets = present(args.targets, MISSING)
    if args.mode in ("all", "inprocess"):
        from . import inprocess

        print("In process (µs per request, median of rounds):\n")
        print(inprocess.run(targets, args.routes, args.rounds, args.batch_ms, args.iterations))
        print()
    if args.mode in ("all", "http"):
        from . import over_http

        return over_http.run(targets, args.routes, args.stacks, args.http_rounds, args.duration, args.connections)
    return 0


def present(chosen: Sequence[str], missing: dict[str, str]) -> list[str]:
    """raw and the chosen targets, in TARGETS' order, less those not
    installed (each named, with why)."""
    for target in chosen:
        if target in missing:
            print(f"{target} left out: {missing[target]}\n")
    return [target for target in TARGETS if target == "raw" or (target in chosen and target not in missing)]


if __name__ == "__main__":
    sys.exit(main())
