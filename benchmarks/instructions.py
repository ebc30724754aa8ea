"""Instructions per request under callgrind, for one tree or several side by side.

    python -m benchmarks instructions [--tree DIR ...] [--only PREFIX ...] [--requests N]

Wall time on a shared machine moves by tens of percent between runs; the
instruction count of the same work moves by well under one. Each scenario
runs under `valgrind --tool=callgrind` twice, with N and 3N requests, and
the difference over 2N is the cost of one request, start-up cancelled out:

- `app/TARGET/ROUTE`: `benchmarks/apps.py`'s targets on its routes, each
  app awaited directly as in the in-process mode (`inprocess.time_batch`;
  `n/a` for a target an older tree does not have);
- `app/asyncweb-mypyc/ROUTE`: the asyncweb target as a release wheel
  carries it, the tree's own `tests.compiled.build` made first (`n/a`
  where it cannot be built);
- `uvicorn/TARGET/ROUTE`: the same targets and routes behind uvicorn's
  httptools protocol on uvloop, as the over-HTTP mode serves them, with
  fake transports (no kernel, no wrk); a target whose reply differs from
  raw's there is `n/a`;
- `fastcgi/SERVER`: nginx's bytes for a GET through asyncweb's FastCGI
  connection and through uvicorn's httptools protocol, with fake
  transports (`fastcgi.py --in-process`); `fastcgi/asyncweb-mypyc` runs
  asyncweb as a release wheel carries it, the tree's own
  `tests.compiled.build` made first (`n/a` where it cannot be built);
  `fastcgi/SERVER/cookies` the same for the cookies GET (10 request
  cookies, 3 Set-Cookie; `n/a` for a tree whose fastcgi.py has no routes);
- `upload/TARGET/CHUNK`: one message of CHUNK KiB in the middle of a
  file upload (`upload.py`'s body, the same bytes every run) through
  asyncweb, its compiled build, Falcon, and the parse-and-write ceiling
  (`upload/ceiling/CHUNK`: python-multipart's parser and `os.write`),
  N/8 and 3N/8 messages (per message, not per request);
- `cgi/VARIANT`: one whole CGI hello process of each of
  `cgi_startup.py`'s variants (instructions per process, not per request).

Every scenario of a tree runs that tree's own benchmark code with that
tree's `src` first on the path: `--tree /tmp/before --tree .` (the first a
`git worktree` of an older commit) gives before and after in one run, with
a column for each tree's ratio to the first. Runs go two at a time (`--jobs`); PYTHONHASHSEED is
fixed so that a run repeats itself.
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import re
import subprocess
import sys
import tempfile
import threading
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from .apps import TARGETS
from .report import markdown

HERE = Path(__file__).resolve().parents[1]
ROUTES = ("hello", "query", "form", "cookies")
FASTCGI_SERVERS = ("asyncweb", "asyncweb-mypyc", "uvicorn")
# The fake-transport benchmark serves this many connections at once: N must
# be a multiple of it.
FASTCGI_CONNECTIONS = 64

_APP_WORKER = """\
import asyncio, sys
from benchmarks.apps import ROUTES, TARGETS  # not .routes: older trees, measured beside, lack it
from benchmarks.inprocess import time_batch
app, route = TARGETS[sys.argv[1]], ROUTES[sys.argv[2]]
asyncio.run(time_batch(app, route, 20))  # imports and caches warmed alike in both runs
asyncio.run(time_batch(app, route, int(sys.argv[3])))
"""
# The same requests behind uvicorn's httptools protocol on uvloop, as the
# over-HTTP benchmark serves them, with the FastCGI benchmark's fake
# transports (no kernel, no wrk): 32 protocols get a request each, the loop
# runs the apps, again.
# Each target's reply is checked against raw's first, normalized as the
# over-HTTP check does (`apps.normalized`): exit 3 if it differs.
_UVICORN_WORKER = """\
import asyncio, sys
import uvloop
from benchmarks.apps import ROUTES, TARGETS, normalized
from benchmarks.fastcgi import Recorder, Sink
from uvicorn.config import Config
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol
from uvicorn.server import ServerState

route = ROUTES[sys.argv[2]]
lines = [f"{route.method} {route.target} HTTP/1.1", "Host: 127.0.0.1:8080"]
lines += [f"{k.decode()}: {v.decode()}" for k, v in route.headers if k != b"host"]
request = ("\\r\\n".join(lines) + "\\r\\n\\r\\n").encode("latin-1") + route.body

async def serve(app, requests, sinks):
    config = Config(app, http="httptools", access_log=False, log_level="warning", lifespan="off")
    config.load()
    state = ServerState()
    protocols = [HttpToolsProtocol(config, state, {}) for _ in sinks]
    for protocol, sink in zip(protocols, sinks):
        protocol.connection_made(sink)
    for _ in range(requests // len(sinks)):
        for protocol in protocols:
            protocol.data_received(request)
        while state.tasks:
            await asyncio.sleep(0)

async def reply(app):
    recorder = Recorder()
    await serve(app, 1, [recorder])
    head, _, body = bytes(recorder.written).partition(b"\\r\\n\\r\\n")
    status, *fields = head.decode("latin-1").split("\\r\\n")
    return normalized(int(status.split()[1]), [tuple(field.split(": ", 1)) for field in fields], body)

async def main():
    app = TARGETS[sys.argv[1]]
    if await reply(app) != await reply(TARGETS["raw"]):
        sys.exit(3)
    sinks = [Sink() for _ in range(32)]  # each keeps its last write alone: nothing piles up
    await serve(app, 64, sinks)  # imports and caches warmed alike in both runs
    await serve(app, int(sys.argv[3]), sinks)

uvloop.run(main())
"""
# One run of `upload.py`'s worker (its warm-up, then the upload, each
# answer checked). The decoder's find-timing guard reads int() for its
# clock, a C call that gives 0: under valgrind every find looks tens of
# times slower than it is, and the guard would hand the search over to sre.
_UPLOAD_WORKER = """\
import os, shutil, sys, tempfile
from benchmarks import upload
from asyncweb.forms import multipart
if hasattr(multipart, "_clock"):  # older trees time their finds otherwise
    multipart._clock = int
target, chunk, count = sys.argv[1], int(sys.argv[2]) * 1024, int(sys.argv[3])
folder = tempfile.mkdtemp()
try:
    upload.worker(upload.CEILING if target == "ceiling" else target, count * chunk, chunk, folder)
    left = os.listdir(folder)  # each upload's spool file is gone once it is answered
    if left:
        sys.exit(f"{target} left {left} behind")
finally:
    shutil.rmtree(folder)
"""
_DIFFERS = 3
_COLLECTED = re.compile(rb"Collected : (\d+)")
_BUILD = "import sys; from pathlib import Path; from tests.compiled import build; build(Path(sys.argv[1]))"
_MYPYC = "-mypyc"
UPLOAD_TARGETS = ("asyncweb", f"asyncweb{_MYPYC}", "falcon", "ceiling")
UPLOAD_CHUNKS = (64, 256, 1024)  # KiB, as `upload --only paired` runs them


@dataclass(frozen=True, slots=True)
class Scenario:
    """One thing measured: `app/raw/hello`, `fastcgi/uvicorn`, `cgi/run`..."""

    name: str

    @property
    def compiled(self) -> bool:
        """Whether it runs the tree's mypyc build."""
        return any(part.endswith(_MYPYC) for part in self.name.split("/"))

    @property
    def per_request(self) -> bool:
        """False for a CGI variant: one run, the whole process counted."""
        return not self.name.startswith("cgi/")

    def units(self, requests: int) -> int:
        """What a run with N requests counts: N requests, or N/8 upload messages."""
        return requests // 8 if self.name.startswith("upload/") else requests

    def run(self, tree: Path, requests: int, folder: Path) -> tuple[list[str], dict[str, str]]:
        """The command line and environment of one run in `tree`."""
        kind, *rest = self.name.split("/")
        path = f"{tree}/src{os.pathsep}{tree}"
        env = dict(os.environ, PYTHONPATH=path, PYTHONHASHSEED="0")
        if self.compiled:
            env["PYTHONPATH"] = f"{compiled_site(tree, folder)}{os.pathsep}{path}"
        if kind in ("app", "uvicorn"):
            target = rest[0].removesuffix(_MYPYC)
            worker = _APP_WORKER if kind == "app" else _UVICORN_WORKER
            return [sys.executable, "-c", worker, target, rest[1], str(requests)], env
        if kind == "upload":
            target = rest[0].removesuffix(_MYPYC)
            return [sys.executable, "-c", _UPLOAD_WORKER, target, rest[1], str(self.units(requests))], env
        if kind == "fastcgi":
            server = rest[0].removesuffix(_MYPYC)
            script = str(tree / "benchmarks" / "fastcgi.py")
            argv = [sys.executable, script, "--in-process", "--servers", server, "--repeat", "1"]
            argv += ["--routes", rest[1]] if len(rest) > 1 else []  # hello, the default, as older trees have it
            return [*argv, "--requests", str(requests), "--connections", str(FASTCGI_CONNECTIONS)], env
        # As a CGI host runs it: its variables and nothing else.
        environ, sources = _cgi_startup(tree, folder)
        script_path = folder / f"{tree.name}-{rest[0]}.py"
        script_path.write_text(sources[CGI_VARIANTS[rest[0]]])
        return [sys.executable, str(script_path)], dict(environ, PYTHONPATH=f"{tree}/src", PYTHONHASHSEED="0")


_sites: dict[Path, Path | None] = {}
_sites_lock = threading.Lock()


def compiled_site(tree: Path, folder: Path) -> Path | None:
    """The tree's mypyc build, unpacked once per run for PYTHONPATH; None
    where it cannot be built (the reason goes to stderr)."""
    with _sites_lock:
        if tree not in _sites:
            site = Path(tempfile.mkdtemp(dir=folder))
            env = dict(os.environ, PYTHONPATH=f"{tree}/src{os.pathsep}{tree}")
            done = subprocess.run(
                [sys.executable, "-c", _BUILD, str(site)], env=env, cwd=tree, capture_output=True, text=True
            )
            if done.returncode:
                print(f"no mypyc build of {tree}:\n{done.stderr[-1000:]}", file=sys.stderr)
            _sites[tree] = None if done.returncode else site
        return _sites[tree]


def _cgi_startup(tree: Path, folder: Path) -> tuple[dict[str, str], dict[str, str]]:
    """The CGI environment and the variants' sources of the tree's own
    `cgi_startup.py` (loaded apart, not as `benchmarks.cgi_startup`)."""
    spec = importlib.util.spec_from_file_location(f"cgi_startup_{id(tree)}", tree / "benchmarks" / "cgi_startup.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    own = Path(tempfile.mkdtemp(dir=folder))  # runs go on at once: each writes its own files
    sources = {name: path.read_text() for name, path in module.variants(own).items()}
    return {k: v for k, v in module.ENVIRON.items() if k != "PYTHONPATH"}, sources


CGI_VARIANTS = {"pass": "python -c pass", "stdlib": "stdlib", "import": "import asyncweb", "run": "asyncweb.run"}


def scenarios() -> list[Scenario]:
    targets = list(TARGETS)
    targets.insert(targets.index("asyncweb") + 1, f"asyncweb{_MYPYC}")  # the compiled build beside the pure one
    found = [Scenario(f"app/{target}/{route}") for route in ROUTES for target in targets]
    found += [Scenario(f"uvicorn/{target}/{route}") for route in ROUTES for target in targets]
    found += [Scenario(f"fastcgi/{server}") for server in FASTCGI_SERVERS]
    found += [Scenario(f"fastcgi/{server}/cookies") for server in FASTCGI_SERVERS]
    found += [Scenario(f"upload/{target}/{chunk}") for chunk in UPLOAD_CHUNKS for target in UPLOAD_TARGETS]
    return found + [Scenario(f"cgi/{variant}") for variant in CGI_VARIANTS]


class Differs(Exception):
    """The target's reply differs from raw's: it is not counted."""


def count(argv: Sequence[str], env: dict[str, str], tree: Path) -> int:
    """Instructions callgrind counted for one run."""
    done = subprocess.run(
        ["valgrind", "--tool=callgrind", "--callgrind-out-file=/dev/null", *argv],
        env=env, cwd=tree, stdin=subprocess.DEVNULL, capture_output=True, timeout=1800,
    )  # fmt: skip
    found = _COLLECTED.search(done.stderr)
    if done.returncode == _DIFFERS:
        raise Differs(argv[3])
    if done.returncode != 0 or found is None:
        raise RuntimeError(f"{argv[1:3]} failed in {tree}:\n{done.stderr[-2000:].decode(errors='replace')}")
    return int(found.group(1))


def compile_sources(tree: Path) -> None:
    """Write the tree's .pyc files before anything is counted: the first run
    in a new worktree would otherwise compile them, and its count (the N of
    N and 3N) would hold that one-off cost."""
    command = [sys.executable, "-m", "compileall", "-q", "src", "benchmarks"]
    subprocess.run(command, cwd=tree, stdin=subprocess.DEVNULL, capture_output=True, check=True, timeout=600)


def measure(scenario: Scenario, tree: Path, requests: int, folder: Path) -> float | None:
    """Instructions per request (per process for a CGI variant, per message
    for an upload); None for a target the tree does not have, or one that
    answers otherwise than raw."""
    kind, *rest = scenario.name.split("/")
    if kind in ("app", "uvicorn") and not _has_target(tree, rest[0].removesuffix(_MYPYC)):
        return None
    if kind == "upload" and rest[0] == "falcon" and importlib.util.find_spec("falcon") is None:
        return None  # a bench extra
    if scenario.compiled and compiled_site(tree, folder) is None:
        return None
    if (
        scenario.name.startswith("fastcgi/")
        and scenario.name.endswith("/cookies")
        and "--routes" not in (tree / "benchmarks" / "fastcgi.py").read_text()
    ):
        return None
    if not scenario.per_request:
        # The second of two runs: the first may compile and write .pyc files.
        count(*scenario.run(tree, requests, folder), tree)
        return count(*scenario.run(tree, requests, folder), tree)
    try:
        low = count(*scenario.run(tree, requests, folder), tree)
    except Differs:
        return None
    high = count(*scenario.run(tree, 3 * requests, folder), tree)
    return (high - low) / (scenario.units(3 * requests) - scenario.units(requests))


def _has_target(tree: Path, target: str) -> bool:
    apps = (tree / "benchmarks" / "apps.py").read_text()
    return re.search(rf"""["']{target}["']\s*:""", apps) is not None


def table(names: Sequence[str], trees: Sequence[Path], figures: dict[tuple[str, Path], float | None]) -> str:
    """One row per scenario, one column per tree, then each tree against the
    first; app rows also against raw in the same tree."""
    header = ["scenario", *(f"`{tree}`" for tree in trees)]
    header += [f"{i + 1} / 1" for i in range(1, len(trees))]
    rows = []
    for name in names:
        row = [name]
        for tree in trees:
            base = _baseline(name)
            row.append(_cell(name, figures[name, tree], base, None if base is None else figures.get((base, tree))))
        first = figures[name, trees[0]]
        for tree in trees[1:]:
            figure = figures[name, tree]
            row.append("n/a" if figure is None or first is None else f"{figure / first:.3f}")
        rows.append(row)
    return markdown(header, rows)


def _baseline(name: str) -> str | None:
    """The row a row is also given against: raw's for an app, the ceiling's
    for an upload (None for those rows themselves, and for the rest)."""
    kind, *rest = name.split("/")
    base = {"app": "raw", "uvicorn": "raw", "upload": "ceiling"}.get(kind)
    if base is None or rest[0] == base:
        return None
    return "/".join([kind, base, *rest[1:]])


def _cell(name: str, figure: float | None, base: str | None, base_figure: float | None) -> str:
    if figure is None:
        return "n/a"
    if name.startswith("cgi/"):
        return f"{figure / 1e6:,.1f}M"
    if base is not None and base_figure:
        return f"{figure:,.0f} ({figure / base_figure:.2f}x {base.split('/')[1]})"
    return f"{figure:,.0f}"


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks instructions", description=__doc__.split("\n")[0])
    parser.add_argument("--tree", action="append", type=Path, default=[], help="a checkout (repeatable; default: this)")
    parser.add_argument("--only", nargs="+", default=[], metavar="PREFIX", help="scenarios starting so")
    parser.add_argument("--requests", type=int, default=1280, help="N: runs with N and 3N requests")
    parser.add_argument("--jobs", type=int, default=2, help="valgrind runs at once (default 2)")
    args = parser.parse_args(argv)
    if args.requests <= 0 or args.requests % FASTCGI_CONNECTIONS:
        parser.error(f"--requests must be a positive multiple of {FASTCGI_CONNECTIONS}")
    trees = [tree.resolve() for tree in args.tree] or [HERE]
    names = [s.name for s in scenarios() if not args.only or s.name.startswith(tuple(args.only))]
    if not names:
        parser.error("no scenario matches --only")
    by_name = {s.name: s for s in scenarios()}
    for tree in trees:
        compile_sources(tree)
    with tempfile.TemporaryDirectory() as folder, ThreadPoolExecutor(args.jobs) as pool:
        jobs = {
            (name, tree): pool.submit(measure, by_name[name], tree, args.requests, Path(folder))
            for name in names
            for tree in trees
        }
        figures = {cell: job.result() for cell, job in jobs.items()}
    print(
        "Instructions per request (per process for cgi/, per message for upload/), "
        f"valgrind --tool=callgrind, N={args.requests} and 3N:\n"
    )
    print(table(names, trees, figures))
    return 0


if __name__ == "__main__":
    sys.exit(main())
