"""Wall time of one CGI "hello" request, as a CGI host runs it.

    .venv/bin/python benchmarks/cgi_startup.py [--rounds N]

Every variant is a fresh process started with a CGI environment and stdin,
whose stdout is read to EOF, like lighttpd's mod_cgi does. The variants run
interleaved (the order rotates every round) so that the machine's load
hits them alike; the table gives medians and the ratios of medians:

- `python -c pass`: the interpreter's own start-up, the floor;
- stdlib: a plain script writing the same response by hand;
- stdlib cgi.FieldStorage: the same with the module asyncweb replaces
  (only on Pythons that still have it, < 3.13);
- import asyncweb: the package import alone, no request served;
- asyncweb.run: the hello app served by `asyncweb.run(App(hello))`.

"To exit" is the issue's measure (the process from start to exit); "to stdout
EOF" is when the CGI host can finish the response (asyncweb closes stdout
as soon as the response is complete).

Then `-X importtime` of the asyncweb script, self time summed by top-level
package and the cumulative time of asyncweb's own modules (medians).
"""

from __future__ import annotations

import argparse
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path
from typing import TypeVar

ENVIRON = {
    "GATEWAY_INTERFACE": "CGI/1.1",
    "SERVER_PROTOCOL": "HTTP/1.1",
    "SERVER_SOFTWARE": "benchmark",
    "SERVER_NAME": "127.0.0.1",
    "SERVER_PORT": "8080",
    "REQUEST_METHOD": "GET",
    "SCRIPT_NAME": "/hello.py",
    "PATH_INFO": "",
    "QUERY_STRING": "name=world",
    "CONTENT_LENGTH": "0",
    "REMOTE_ADDR": "127.0.0.1",
    "HTTP_HOST": "127.0.0.1:8080",
    "HTTP_USER_AGENT": "curl/8.0",
}
# A CGI host passes no PYTHONPATH; the benchmark keeps the one it was run
# with, so that it times the asyncweb it was pointed at (a worktree, a
# compiled build), not whichever one is installed.
if "PYTHONPATH" in os.environ:
    ENVIRON["PYTHONPATH"] = os.environ["PYTHONPATH"]

STDLIB = """\
import os, sys
from urllib.parse import parse_qs
parse_qs(os.environ.get("QUERY_STRING", ""))
body = b"Hello, world!"
head = b"Status: 200 OK\\r\\nContent-Type: text/plain; charset=utf-8\\r\\nContent-Length: %d\\r\\n\\r\\n" % len(body)
sys.stdout.buffer.write(head + body)
"""

STDLIB_CGI = """\
import sys, warnings
warnings.simplefilter("ignore", DeprecationWarning)
import cgi
cgi.FieldStorage()
body = b"Hello, world!"
head = b"Status: 200 OK\\r\\nContent-Type: text/plain; charset=utf-8\\r\\nContent-Length: %d\\r\\n\\r\\n" % len(body)
sys.stdout.buffer.write(head + body)
"""

ASYNCWEB = """\
import asyncweb

async def hello(request, response, log):
    response.set_body("Hello, world!")

asyncweb.run(asyncweb.App(hello))
"""

IMPORT_ONLY = "import asyncweb\n"
PASS = "pass\n"


def variants(folder: Path) -> dict[str, Path]:
    scripts = {"python -c pass": PASS, "stdlib": STDLIB, "import asyncweb": IMPORT_ONLY, "asyncweb.run": ASYNCWEB}
    if sys.version_info < (3, 13):
        scripts["stdlib cgi.FieldStorage"] = STDLIB_CGI
    paths = {}
    for index, (name, source) in enumerate(scripts.items()):
        path = folder / f"variant{index}.py"
        path.write_text(source)
        paths[name] = path
    return paths


def request(script: Path, *flags: str) -> tuple[float, subprocess.CompletedProcess[bytes]]:
    start = time.perf_counter()
    result = subprocess.run(
        [sys.executable, *flags, str(script)], env=ENVIRON, stdin=subprocess.DEVNULL, capture_output=True
    )
    return time.perf_counter() - start, result


def check(name: str, script: Path) -> None:
    _, result = request(script)
    if result.returncode != 0:
        raise SystemExit(f"{name} failed: {result.stderr.decode()}")
    serves = name not in ("python -c pass", "import asyncweb")
    if serves and not (result.stdout.startswith(b"Status: 200 OK\r\n") and result.stdout.endswith(b"Hello, world!")):
        raise SystemExit(f"{name} answered {result.stdout!r}")


def timed_request(script: Path) -> tuple[float, float]:
    """Seconds until stdout's EOF (when the CGI host can finish the
    response) and until the process exited."""
    start = time.perf_counter()
    process = subprocess.Popen(
        [sys.executable, str(script)], env=ENVIRON, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE
    )
    assert process.stdout is not None
    process.stdout.read()
    eof = time.perf_counter() - start
    process.stdout.close()
    process.wait()
    return eof, time.perf_counter() - start


def timings(scripts: dict[str, Path], rounds: int) -> tuple[dict[str, list[float]], dict[str, list[float]]]:
    """Exit and EOF times of every variant, rounds interleaved."""
    exits: dict[str, list[float]] = {name: [] for name in scripts}
    eofs: dict[str, list[float]] = {name: [] for name in scripts}
    names = list(scripts)
    for round_ in range(rounds):
        shift = round_ % len(names)
        for name in names[shift:] + names[:shift]:
            eof, exit_ = timed_request(scripts[name])
            eofs[name].append(eof)
            exits[name].append(exit_)
    return exits, eofs


_Key = TypeVar("_Key")
IMPORT_LINE = re.compile(r"import time:\s+(\d+) \|\s+(\d+) \|( *)(\S+)")


class ImportTimes:
    """Medians over several `-X importtime` runs (ms): self time by top-level
    package, cumulative time of asyncweb's modules, and cumulative time of
    what asyncweb's modules import from outside the package, by importer."""

    def __init__(self, script: Path, runs: int) -> None:
        by_package: dict[str, list[float]] = defaultdict(list)
        ours: dict[str, list[float]] = defaultdict(list)
        theirs: dict[tuple[str, str], list[float]] = defaultdict(list)
        for _ in range(runs):
            _, result = request(script, "-X", "importtime")
            totals: dict[str, float] = defaultdict(float)
            # Children are printed before their parent, one indent deeper:
            # read backwards, a module's importer is the last line seen one
            # level up.
            seen_at_depth: dict[int, str] = {}
            for line in reversed(result.stderr.decode().splitlines()):
                match = IMPORT_LINE.match(line)
                if match is None:
                    continue
                self_us, cumulative_us, indent, module = match.groups()
                depth = len(indent) // 2
                seen_at_depth[depth] = module
                importer = seen_at_depth.get(depth - 1, "")
                totals[module.split(".")[0]] += int(self_us) / 1000
                if module.startswith("asyncweb"):
                    ours[module].append(int(cumulative_us) / 1000)
                elif importer.startswith("asyncweb"):
                    theirs[importer, module].append(int(cumulative_us) / 1000)
            for package, total in totals.items():
                by_package[package].append(total)
        self.by_package = _medians(by_package)
        self.ours = _medians(ours)
        self.theirs = _medians(theirs)


def _medians(samples: dict[_Key, list[float]]) -> dict[_Key, float]:
    return {key: statistics.median(values) for key, values in samples.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=40, help="requests per variant (default: %(default)s)")
    parser.add_argument("--import-runs", type=int, default=15, help="-X importtime runs (default: %(default)s)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        scripts = variants(Path(folder))
        for name, script in scripts.items():
            check(name, script)
        times, eofs = timings(scripts, args.rounds)
        imports = ImportTimes(scripts["asyncweb.run"], args.import_runs)

    medians = {name: statistics.median(values) * 1000 for name, values in times.items()}
    floor, stdlib = medians["python -c pass"], medians["stdlib"]
    print(f"Python {sys.version.split()[0]}, {args.rounds} interleaved rounds, medians\n")
    print("| variant | to exit, median ms | min ms | to stdout EOF, median ms | vs python -c pass | vs stdlib |")
    print("|---|---:|---:|---:|---:|---:|")
    for name, median in medians.items():
        fastest = min(times[name]) * 1000
        eof = statistics.median(eofs[name]) * 1000
        ratios = f"{median / floor:.2f}x | {median / stdlib:.2f}x"
        print(f"| {name} | {median:.1f} | {fastest:.1f} | {eof:.1f} | {ratios} |")
    above = medians["asyncweb.run"] - floor
    print(f"\nasyncweb.run / stdlib, to exit: {medians['asyncweb.run'] / stdlib:.2f}x (target: within 2x)")
    print(f"asyncweb.run above the bare interpreter: {above:.1f} ms, of which the import is ", end="")
    print(f"{medians['import asyncweb'] - floor:.1f} ms")

    print(f"\n-X importtime of the asyncweb.run script ({args.import_runs} runs, medians)\n")
    print("| top-level package | self ms |")
    print("|---|---:|")
    for package, total in sorted(imports.by_package.items(), key=lambda item: -item[1])[:15]:
        print(f"| {package} | {total:.1f} |")
    print(f"| (all) | {sum(imports.by_package.values()):.1f} |")
    print("\n| asyncweb module | cumulative ms |")
    print("|---|---:|")
    for module, total in sorted(imports.ours.items(), key=lambda item: -item[1]):
        if total >= 0.5:
            print(f"| {module} | {total:.1f} |")
    print("\n| imported by | module | cumulative ms |")
    print("|---|---|---:|")
    for (importer, module), total in sorted(imports.theirs.items(), key=lambda item: -item[1]):
        if total >= 1:
            print(f"| {importer} | {module} | {total:.1f} |")


if __name__ == "__main__":
    main()
