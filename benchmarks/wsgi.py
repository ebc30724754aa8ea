"""WSGI benchmark: asyncweb's WSGIGateway against Flask under gunicorn, and
the synchronous parser against cgi.FieldStorage and Werkzeug's, in one run.

    .venv/bin/pip install -e '.[test,bench]' # gunicorn, Flask (ab, curl and valgrind from Debian)
    .venv/bin/python -m benchmarks.wsgi      # everything below, about 3 minutes on 2 cores
    .venv/bin/python -m benchmarks.wsgi --rounds 3 --duration 5 --upload-mib 256 --callgrind-mib 4

1. Under gunicorn (`-k sync -w 2` for both): `WSGIGateway(App(handler))`
   with a plain-function handler against a Flask 3 app (Werkzeug) doing
   the same work: "Hello, world!" and a 20-field urlencoded form, loaded
   by ab (-c 4, one connection per request as sync workers close each),
   cells interleaved round by round, medians of req/s; then a multipart
   upload of 256 MiB by curl into a fresh gunicorn per target and round:
   its time, the serving worker's peak RSS growth (VmHWM, after a 2 MiB
   warm-up upload) and the bytes the workers wrote to disk (write_bytes of
   /proc/PID/io; the upload itself is 256 MiB).
2. In process, the same multipart bodies (20 text fields; 2 fields and a
   16 MiB file) parsed by `asyncweb.parse_request`, `cgi.FieldStorage`
   (Python 3.11's, deprecated) and `werkzeug.formparser.parse_form_data`:
   wall time (median of interleaved rounds), and with valgrind the
   instructions of one parse (callgrind, collecting only inside it:
   steadier than wall time on a shared machine) on a smaller file.

Both apps answer alike (checked first); ratios are asyncweb's figure over
Flask's (or the other parser's), so > 1 in req/s and < 1 elsewhere is
asyncweb ahead.
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import io
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import warnings
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if __name__ == "__main__" and str(ROOT) not in sys.path:  # `python benchmarks/wsgi.py`
    sys.path.insert(0, str(ROOT))

MiB = 1024 * 1024
TARGETS = ("asyncweb", "flask")
PARSERS = ("asyncweb", "cgi.FieldStorage", "werkzeug")
WORKERS = 2
FIELDS = [(f"field{i:02d}", f"value {i} " + "x" * (i * 3)) for i in range(20)]
BOUNDARY = "wsgiBenchBoundary9f3"
MULTIPART = f"multipart/form-data; boundary={BOUNDARY}"


# -- the apps gunicorn serves (factories: `benchmarks.wsgi:asyncweb_app()`) ------
def _answer_form(pairs: list[tuple[str, str]]) -> str:
    return f"{len(pairs)} fields, {sum(len(value) for _, value in pairs)} characters\n"


def asyncweb_app() -> Any:
    import logging

    from asyncweb import App, Request, Response, WSGIGateway

    def handler(request: Request, response: Response, log: logging.Logger) -> None:
        response.set_header("Content-Type", "text/plain")
        if request.path == "/form":
            response.set_body(_answer_form([(name, value or "") for name, value in request.fields.multi_items()]))
        elif request.path == "/upload":
            upload = request.get_uploaded_file("file")
            response.set_body(f"{upload.size if upload else 0} bytes\n")
        else:
            response.set_body("Hello, world!")

    return WSGIGateway(App(handler))


def flask_app() -> Any:
    from flask import Flask, Response, request

    app = Flask("bench")

    @app.get("/")
    def hello() -> Response:
        return Response("Hello, world!", mimetype="text/plain")

    @app.post("/form")
    def form() -> Response:
        return Response(_answer_form(list(request.form.items(multi=True))), mimetype="text/plain")

    @app.post("/upload")
    def upload() -> Response:
        file = request.files.get("file")
        size = 0
        if file is not None:
            file.stream.seek(0, os.SEEK_END)
            size = file.stream.tell()
        return Response(f"{size} bytes\n", mimetype="text/plain")

    return app


# -- gunicorn and /proc ---------------------------------------------------------------
@contextlib.contextmanager
def gunicorn(target: str, run_dir: Path) -> Iterator[tuple[str, Callable[[], list[int]]]]:
    from tests.support import free_port, port_open, stop_process, wait_until

    port = free_port()
    argv = [sys.executable, "-m", "gunicorn", "-k", "sync", "-w", str(WORKERS), "-b", f"127.0.0.1:{port}"]
    argv += ["--error-logfile", str(run_dir / f"{target}.log"), "--graceful-timeout", "5", "--timeout", "120"]
    if "--no-control-socket" in _gunicorn_help():
        argv.append("--no-control-socket")
    argv.append(f"benchmarks.wsgi:{target}_app()")
    process = subprocess.Popen(argv, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

    def workers() -> list[int]:
        try:
            return [int(pid) for pid in Path(f"/proc/{process.pid}/task/{process.pid}/children").read_text().split()]
        except OSError:
            return []

    try:
        if not wait_until(lambda: port_open(port) and len(workers()) == WORKERS, 30):
            raise RuntimeError(f"gunicorn {target} did not start: see {run_dir / f'{target}.log'}")
        yield f"http://127.0.0.1:{port}", workers
    finally:
        stop_process(process)


_HELP: list[str] = []


def _gunicorn_help() -> str:
    if not _HELP:
        done = subprocess.run([sys.executable, "-m", "gunicorn", "--help"], capture_output=True, text=True)
        _HELP.append(done.stdout)
    return _HELP[0]


def proc_field(pid: int, name: str, field: str) -> int:
    for line in Path(f"/proc/{pid}/{name}").read_text().splitlines():
        key, _, value = line.partition(":")
        if key == field:
            return int(value.split()[0])
    raise LookupError(f"{field} not in /proc/{pid}/{name}")


# -- clients ------------------------------------------------------------------------------
def curl(url: str, *args: str) -> tuple[bytes, float]:
    """The body and curl's time_total."""
    marker = b"\n--curl-time--"
    argv = ["curl", "-sS", "--fail-with-body", "-w", marker.decode() + "%{time_total}", *args, url]
    done = subprocess.run(argv, capture_output=True, timeout=600)
    if done.returncode != 0:
        raise RuntimeError(f"curl {url}: {done.stderr.decode(errors='replace')} {done.stdout[-300:]!r}")
    body, _, seconds = done.stdout.rpartition(marker)
    return body, float(seconds)


def ab(url: str, seconds: int, post: Path | None = None) -> tuple[float, int]:
    """Requests per second and requests done by ab -c 4 for `seconds`;
    RuntimeError on any failure."""
    argv = ["ab", "-q", "-c", "4", "-t", str(seconds), "-n", "10000000", "-r"]
    if post is not None:
        argv += ["-p", str(post), "-T", "application/x-www-form-urlencoded"]
    done = subprocess.run([*argv, url], capture_output=True, text=True, timeout=seconds + 60)
    text = done.stdout
    failed = re.search(r"Failed requests:\s+(\d+)", text)
    non_2xx = re.search(r"Non-2xx responses:\s+(\d+)", text)
    rate = re.search(r"Requests per second:\s+([\d.]+)", text)
    complete = re.search(r"Complete requests:\s+(\d+)", text)
    if done.returncode != 0 or rate is None or complete is None or (failed and int(failed.group(1))) or non_2xx:
        raise RuntimeError(f"ab {url} failed:\n{text[-2000:]}\n{done.stderr[-1000:]}")
    return float(rate.group(1)), int(complete.group(1))


def cpu_seconds(pids: list[int]) -> float:
    """User and system CPU time the processes have used."""
    ticks = 0
    for pid in pids:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        ticks += int(fields[11]) + int(fields[12])  # utime, stime
    return ticks / os.sysconf("SC_CLK_TCK")


# -- 1. under gunicorn --------------------------------------------------------------------
def form_body() -> bytes:
    from urllib.parse import urlencode

    return urlencode(FIELDS).encode()


def check_alike(run_dir: Path, upload: Path, form: Path) -> None:
    """Both apps give the same bodies for the three routes."""
    answers = {}
    for target in TARGETS:
        with gunicorn(target, run_dir) as (url, _):
            hello = curl(url + "/")[0]
            fields = curl(url + "/form", "--data-binary", f"@{form}")[0]
            files = curl(url + "/upload", "-F", f"file=@{upload}")[0]
            answers[target] = (hello, fields, files)
    if len(set(answers.values())) != 1:
        raise AssertionError(f"the apps answer differently: {answers}")


def http_cells(
    run_dir: Path, rounds: int, seconds: int, form: Path
) -> dict[tuple[str, str], list[tuple[float, float]]]:
    """(req/s, worker CPU seconds per request) of each (target, route), one
    gunicorn per target for all rounds. The CPU time is the steadier figure
    where other work shares the cores: req/s swings with it."""
    cells: dict[tuple[str, str], list[tuple[float, float]]] = {}
    with contextlib.ExitStack() as stack:
        servers = {target: stack.enter_context(gunicorn(target, run_dir)) for target in TARGETS}
        for url, _ in servers.values():  # warm-up
            ab(url + "/", 1)
            ab(url + "/form", 1, form)
        for round_ in range(rounds):
            order = [(t, r) for t in TARGETS for r in ("hello", "form")]
            if round_ % 2:
                order.reverse()
            for target, route in order:
                url, workers = servers[target]
                before = cpu_seconds(workers())
                rate, done = ab(url + ("/form" if route == "form" else "/"), seconds, form if route == "form" else None)
                cells.setdefault((target, route), []).append((rate, (cpu_seconds(workers()) - before) / done))
    return cells


def upload_once(target: str, run_dir: Path, upload: Path, warm: Path) -> tuple[float, int, int, float]:
    """Seconds, peak RSS growth (KiB) of the worker that served it, bytes
    written by the workers, and the CPU seconds they spent."""
    with gunicorn(target, run_dir) as (url, workers):
        curl(url + "/upload", "-F", f"file=@{warm}")
        pids = workers()
        peaks = {pid: proc_field(pid, "status", "VmHWM") for pid in pids}
        written = {pid: proc_field(pid, "io", "write_bytes") for pid in pids}
        cpu = cpu_seconds(pids)
        body, seconds = curl(url + "/upload", "-F", f"file=@{upload}")
        if body != f"{upload.stat().st_size} bytes\n".encode():
            raise AssertionError(f"{target} answered {body!r}")
        growth = max(proc_field(pid, "status", "VmHWM") - peaks[pid] for pid in pids)
        wrote = sum(proc_field(pid, "io", "write_bytes") - written[pid] for pid in pids)
        return seconds, growth, wrote, cpu_seconds(pids) - cpu


# -- 2. in process ----------------------------------------------------------------------
def multipart_body(file_size: int) -> bytes:
    parts = [
        f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n{value}\r\n'.encode()
        for name, value in (FIELDS if not file_size else FIELDS[:2])
    ]
    if file_size:
        head = f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="file"; filename="big.bin"\r\n'
        parts.append(head.encode() + b"Content-Type: application/octet-stream\r\n\r\n")
        parts.append(os.urandom(file_size) + b"\r\n")
    return b"".join(parts) + f"--{BOUNDARY}--\r\n".encode()


def environ_for(body: bytes) -> dict[str, Any]:
    return {
        "REQUEST_METHOD": "POST",
        "SCRIPT_NAME": "",
        "PATH_INFO": "/",
        "QUERY_STRING": "",
        "CONTENT_TYPE": MULTIPART,
        "CONTENT_LENGTH": str(len(body)),
        "SERVER_NAME": "127.0.0.1",
        "SERVER_PORT": "80",
        "SERVER_PROTOCOL": "HTTP/1.1",
        "wsgi.input": io.BytesIO(body),
        "wsgi.url_scheme": "http",
    }


def parse_with(parser: str, body: bytes, upload_dir: str) -> tuple[int, str]:
    """Parse `body` with `parser`: (fields, sha256 of the file or '')."""
    environ = environ_for(body)
    if parser == "asyncweb":
        from asyncweb import parse_request

        with parse_request(environ, environ["wsgi.input"], upload_dir=upload_dir) as request:
            upload = request.get_uploaded_file("file")
            return len(request.fields), _digest(upload.file if upload else None)
    if parser == "cgi.FieldStorage":
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)
            import cgi

            form = cgi.FieldStorage(fp=environ["wsgi.input"], environ=environ, keep_blank_values=True)
        item = form["file"] if "file" in form else None  # noqa: SIM401 - FieldStorage has no get()
        try:
            return len(form.keys()) - (item is not None), _digest(item.file if item is not None else None)
        finally:
            for part in form.list or ():  # its own __exit__ fails on a multipart form (no top-level file)
                if part.file is not None:
                    part.file.close()
    from werkzeug.formparser import parse_form_data

    _, fields, files = parse_form_data(environ)
    file = files.get("file")
    try:
        return len(fields), _digest(file.stream if file else None)
    finally:
        if file is not None:
            file.close()


def _digest(file: Any) -> str:
    if file is None:
        return ""
    file.seek(0)
    digest = hashlib.sha256()
    while chunk := file.read(MiB):
        digest.update(chunk)
    return digest.hexdigest()


def parse_times(bodies: dict[str, bytes], rounds: int) -> dict[tuple[str, str], list[float]]:
    """Seconds per parse of each (parser, body), rounds interleaved, the
    answers checked alike first. Each parse also reads its file back once
    (for the digest): the same work for all three."""
    times: dict[tuple[str, str], list[float]] = {}
    with tempfile.TemporaryDirectory(prefix="asyncweb-wsgi-bench-") as upload_dir:
        for name, body in bodies.items():
            results = {parser: parse_with(parser, body, upload_dir) for parser in PARSERS}
            if len(set(results.values())) != 1:
                raise AssertionError(f"the parsers disagree on {name}: {results}")
        for round_ in range(rounds):
            for name, body in bodies.items():
                repeat = 1 if len(body) > MiB else 200
                for parser in PARSERS if round_ % 2 == 0 else reversed(PARSERS):
                    started = time.perf_counter()
                    for _ in range(repeat):
                        parse_with(parser, body, upload_dir)
                    times.setdefault((parser, name), []).append((time.perf_counter() - started) / repeat)
    return times


CALLGRIND_CHILD = """
import operator, sys, tempfile
sys.path.insert(0, {root!r})
from benchmarks.wsgi import multipart_body, parse_with
body = multipart_body({size})
folder = tempfile.mkdtemp()
parse_with({parser!r}, body, folder)  # imports and first-call costs, not collected
operator.call(lambda: [parse_with({parser!r}, body, folder) for _ in range({repeat})])  # collected
"""


def instructions(parser: str, size: int, repeat: int) -> int | None:
    """Instructions per parse under callgrind, collected only inside
    `operator.call` (its C function toggles collection on and off)."""
    valgrind = shutil.which("valgrind")
    if valgrind is None:
        return None
    with tempfile.TemporaryDirectory() as folder:
        script = CALLGRIND_CHILD.format(root=str(ROOT), size=size, parser=parser, repeat=repeat)
        argv = [valgrind, "--tool=callgrind", "--collect-atstart=no", "--toggle-collect=_operator_call"]
        argv += [f"--callgrind-out-file={folder}/out", sys.executable, "-c", script]
        done = subprocess.run(argv, capture_output=True, text=True, timeout=900)
        found = re.search(r"Collected\s*:\s*(\d+)", done.stderr)
        if done.returncode != 0 or found is None:
            raise RuntimeError(f"callgrind failed for {parser}:\n{done.stderr[-2000:]}")
        return int(found.group(1)) // repeat


# -- the report ---------------------------------------------------------------------------
def ratio(ours: float, theirs: float) -> str:
    return f"{ours / theirs:.2f}x" if theirs else "-"


def table(title: str, header: list[str], rows: list[list[str]]) -> None:
    print(title + "\n")
    print("| " + " | ".join(header) + " |")
    print("|---|" + "---:|" * (len(header) - 1))
    for row in rows:
        print("| " + " | ".join(row) + " |")
    print()


def _seconds(value: float) -> str:
    return f"{value * 1e3:.2f} ms" if value >= 1e-3 else f"{value * 1e6:.0f} µs"


def report_http(cells: dict[tuple[str, str], list[tuple[float, float]]], args: argparse.Namespace) -> None:
    rows = []
    for route in ("hello", "form"):
        rate = {t: statistics.median(r for r, _ in cells[(t, route)]) for t in TARGETS}
        cpu = {t: statistics.median(c for _, c in cells[(t, route)]) for t in TARGETS}
        rates = [f"{rate['asyncweb']:.0f}", f"{rate['flask']:.0f}", ratio(rate["asyncweb"], rate["flask"])]
        cpus = [f"{cpu['asyncweb'] * 1e6:.0f} µs", f"{cpu['flask'] * 1e6:.0f} µs", ratio(cpu["asyncweb"], cpu["flask"])]
        rows.append([route, *rates, *cpus])
    title = f"Under gunicorn -k sync -w {WORKERS}, ab -c 4, {args.rounds} rounds of {args.duration} s, medians:"
    header = ["route", "asyncweb req/s", "Flask req/s", "ratio", "asyncweb CPU/request", "Flask CPU/request", "ratio"]
    table(title, header, rows)


def report_uploads(uploads: dict[str, list[tuple[float, int, int, float]]], args: argparse.Namespace) -> None:
    medians = {t: [statistics.median(sample[i] for sample in uploads[t]) for i in range(4)] for t in TARGETS}
    rows = []
    for target, (seconds, growth, wrote, cpu) in medians.items():
        rate = args.upload_mib * MiB / seconds / 1e6
        figures = [f"{seconds:.2f}", f"{rate:.0f}", f"{cpu:.2f}", f"{growth / 1024:.1f} MiB", f"{wrote / MiB:.0f} MiB"]
        rows.append([target, *figures])
    ours, theirs = medians["asyncweb"], medians["flask"]
    # A ratio of two growths of a MiB or so is noise: say that instead.
    flat = max(ours[1], theirs[1]) < 4 * 1024
    rss = "both < 4 MiB" if flat else ratio(ours[1], theirs[1])
    rows.append(
        ["asyncweb / Flask", ratio(ours[0], theirs[0]), "", ratio(ours[3], theirs[3]), rss, ratio(ours[2], theirs[2])]
    )
    title = f"A {args.upload_mib} MiB multipart upload by curl, a fresh gunicorn each time, medians:"
    table(title, ["", "seconds", "MB/s", "worker CPU s", "worker peak RSS growth", "written to disk"], rows)


def parser_rows(figures: dict[str, dict[str, float]], show: Callable[[float], str]) -> list[list[str]]:
    rows = []
    for name, cell in figures.items():
        ratios = [ratio(cell["asyncweb"], cell["cgi.FieldStorage"]), ratio(cell["asyncweb"], cell["werkzeug"])]
        rows.append([name, *(show(cell[parser]) for parser in PARSERS), *ratios])
    return rows


def run(args: argparse.Namespace) -> None:
    from importlib.metadata import version

    command = " ".join(["python -m benchmarks.wsgi", *sys.argv[1:]])
    print(f"`{command}` on {os.cpu_count()} CPUs, Python {sys.version.split()[0]}")
    print(", ".join(f"{package} {version(package)}" for package in ("gunicorn", "flask", "werkzeug")) + "\n")
    with tempfile.TemporaryDirectory(prefix="asyncweb-wsgi-bench-") as folder:
        run_dir = Path(folder)
        upload, warm, form = run_dir / "upload.bin", run_dir / "warm.bin", run_dir / "form.txt"
        with open(upload, "wb") as file:
            for _ in range(args.upload_mib):
                file.write(os.urandom(MiB))
        warm.write_bytes(os.urandom(2 * MiB))
        form.write_bytes(form_body())
        if not args.skip_http:
            check_alike(run_dir, warm, form)
            if shutil.which("ab") is None:
                print("ab (Debian's apache2-utils) is not installed: no req/s\n")
            else:
                report_http(http_cells(run_dir, args.rounds, args.duration, form), args)
            uploads: dict[str, list[tuple[float, int, int, float]]] = {target: [] for target in TARGETS}
            for round_ in range(args.rounds):
                for target in TARGETS if round_ % 2 == 0 else reversed(TARGETS):
                    uploads[target].append(upload_once(target, run_dir, upload, warm))
            report_uploads(uploads, args)

    header = ["body", *PARSERS, "asyncweb / cgi", "asyncweb / werkzeug"]
    bodies = {"20 fields": multipart_body(0), f"{args.file_mib} MiB file": multipart_body(args.file_mib * MiB)}
    times = parse_times(bodies, args.parse_rounds)
    medians = {name: {parser: statistics.median(times[(parser, name)]) for parser in PARSERS} for name in bodies}
    title = (
        f"In process, multipart bodies, median of {args.parse_rounds} interleaved rounds (each reads its file back):"
    )
    table(title, header, parser_rows(medians, _seconds))

    if args.callgrind_mib and shutil.which("valgrind"):
        counts = {}
        for name, size, repeat in (
            ("20 fields", 0, 20),
            (f"{args.callgrind_mib} MiB file", args.callgrind_mib * MiB, 1),
        ):
            counts[name] = {parser: float(instructions(parser, size, repeat) or 0) for parser in PARSERS}
        title = "Instructions per parse (valgrind --tool=callgrind, collected inside the parses only):"
        table(title, header, parser_rows(counts, lambda n: f"{n / 1e6:.1f} M"))
    elif args.callgrind_mib:
        print("valgrind is not installed: no instruction counts\n")


def main(argv: list[str] | None = None) -> int:
    parse = argparse.ArgumentParser(
        prog="python -m benchmarks.wsgi", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parse.add_argument("--rounds", type=int, default=3, help="rounds under gunicorn (default 3)")
    parse.add_argument("--duration", type=int, default=5, help="seconds of ab per cell and round (default 5)")
    parse.add_argument("--upload-mib", type=int, default=256, help="the upload's size (default 256)")
    parse.add_argument("--skip-http", action="store_true", help="only the in-process parsers")
    parse.add_argument("--parse-rounds", type=int, default=7, help="in-process rounds (default 7)")
    parse.add_argument("--file-mib", type=int, default=16, help="the in-process file part (default 16)")
    parse.add_argument(
        "--callgrind-mib", type=int, default=4, help="the file under callgrind; 0: no callgrind (default 4)"
    )
    run(parse.parse_args(argv))
    return 0


if __name__ == "__main__":
    sys.exit(main())
