"""Upload benchmark: asyncweb against Starlette, the peers and the raw parser, in one run.
It times no app that answered wrong, and writes nothing outside its temp folder.

    .venv/bin/python -m benchmarks upload            # everything below
    .venv/bin/python benchmarks/upload.py --help     # the same, standalone

1. In process, a 256 MiB multipart upload fed as ASGI messages of 64 KiB,
   256 KiB and 1 MiB: python-multipart with no-op callbacks, the same with
   synchronous `os.write` of memoryview slices (the parse-and-write ceiling),
   asyncweb's App, Starlette's `request.form()` and the peers of
   `benchmarks/upload_peers.py` (Falcon, BlackSheep, Litestar, Django).
   Each measurement runs in a fresh process, so peak RSS and minor page
   faults are its own; the targets are interleaved round by round, in an
   order shuffled each round (`round_order`), and medians reported, with
   the best run's ratio beside them (noise here only ever slows a run).
2. Write strategies for spooling, with the event loop's lag measured by a
   1 ms ticker while the upload runs: inline `os.write` (asyncweb's), a
   thread hop per chunk (Starlette's design) and batched `os.writev` in a
   thread every 1 MiB.
3. Over a real uvicorn on 127.0.0.1, curl posting a 256 MiB file
   (`--http-size-mib 2048` for 2 GiB) to asyncweb, Starlette and the peers,
   a fresh server each, interleaved the same way: MB/s, the server's MB per
   CPU second, its peak RSS above idle and its minor page faults.
4. Paired: the ceiling, asyncweb, Starlette and the peers taking turns in
   one process, a 64 MiB upload each turn (`paired_table`). On this VM the
   noise of fresh processes (up to 5x for the same code) hides a few per
   cent; in one process it falls on every target alike.

The server's MB per CPU second (user and system time of every thread)
is its own cost, which neither curl nor the machine's other work inflate.
Every app answers the upload's size as text; a 4 MiB upload first (so imports and first temp
files are done) must be answered right before anything is timed, and the
timed one is checked too. Peak RSS counts from that point (the kernel's
high-water mark is reset there). Each message is a fresh bytes object, as
a server allocates it, so the cost of glibc's page-fault trap (see
asyncweb/malloc.py) shows here too.

Each measurement spools into a folder of its own inside the run's temp
folder (asyncweb's `upload_dir`, `tempfile`'s folder for the others),
removed after it whatever a target left there (a count of what was left is
printed); a peer that is not installed is left out, saying why.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

BOUNDARY = b"asyncwebBenchBoundary7Q2x"
HEAD = b"--" + BOUNDARY + b'\r\nContent-Disposition: form-data; name="file"; filename="big.bin"\r\n'
HEAD += b"Content-Type: application/octet-stream\r\n\r\n"
TAIL = b"\r\n--" + BOUNDARY + b"--\r\n"
CONTENT_TYPE = b"multipart/form-data; boundary=" + BOUNDARY
MiB = 1024 * 1024
WARM_UP = 4 * MiB  # above Django's 2.5 MB in-memory limit and Starlette's 1 MiB spool: every disk path is warmed
ROOT = Path(__file__).resolve().parent.parent
CEILING = "parser + os.write"
PARSERS = ("parser, no-op", CEILING)
APPS = ("asyncweb", "asyncweb, sha256", "asyncweb, default malloc", "starlette")  # besides the peers
STRATEGIES = ("inline", "thread per chunk", "batched 1 MiB in a thread")


# -- the body, as a server hands it over ------------------------------------------
def messages(size: int, chunk: int) -> Iterator[bytes]:
    """HEAD, `size` payload bytes in fresh `chunk`-sized bytes objects, TAIL.
    The payload is random-looking but the same in every run, so that an
    instruction count repeats (`bytes.find`'s work depends on the data)."""
    block = bytearray(random.Random(chunk).randbytes(chunk))
    yield HEAD
    for _ in range(size // chunk):
        yield bytes(block)  # one allocation and copy per message, like a server's read
    yield TAIL


def vm_kib(field: str, pid: int | str = "self") -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise LookupError(field)


def _stat(pid: int) -> list[str]:
    """/proc/PID/stat's fields from the third (state) on: the name before may hold spaces."""
    return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()


def minor_faults(pid: int) -> int:
    return int(_stat(pid)[7])


def cpu_seconds(pid: int) -> float:
    """User and system time of every thread of process `pid` so far."""
    fields = _stat(pid)
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


# -- what every measurement shares: the check, the peers, the spool folder ----------
def reset_peak(pid: int | str = "self") -> None:
    """Set the process's VmHWM to its VmRSS (Linux, clear_refs 5): the peak
    then counts from here, not from imports or the warm-up."""
    Path(f"/proc/{pid}/clear_refs").write_text("5")


def expect_size(target: str, status: int, body: bytes, size: int) -> None:
    """AssertionError unless `target` answered 200 and the upload's size."""
    expected = f"{size}\n".encode()
    if (status, body) != (200, expected):
        raise AssertionError(f"{target} answered {status} {body[:200]!r} to a {size}-byte upload, not {expected!r}")


def installed_peers() -> list[str]:
    """The peers whose framework is installed, in the tables' order."""
    from benchmarks.upload_peers import MISSING, PEERS

    return [name for name in PEERS if name not in MISSING]


def spool_folder(parent: str) -> str:
    """A fresh folder for one measurement's spooled files."""
    return tempfile.mkdtemp(prefix="spool-", dir=parent)


def removed(folder: str) -> int:
    """Remove `folder` and whatever a target left in it; how many entries it held."""
    left = len(os.listdir(folder))
    shutil.rmtree(folder)
    return left


# -- in-process targets (each runs in a worker process) ------------------------
def run_parser(size: int, chunk: int, upload_dir: str, write: bool) -> None:
    from python_multipart.multipart import MultipartParser, MultipartState

    from asyncweb.forms.uploads import open_temp, write_all

    fd, _ = open_temp(upload_dir) if write else (-1, None)

    def on_part_data(data: bytes, start: int, end: int) -> None:
        write_all(fd, memoryview(data)[start:end])

    parser = MultipartParser(BOUNDARY, {"on_part_data": on_part_data} if write else {})
    for message in messages(size, chunk):
        parser.write(message)
    assert parser.state == MultipartState.END
    if write:
        assert os.fstat(fd).st_size == size
        os.close(fd)


def asgi_scope(size: int) -> dict[str, Any]:
    """A POST of the `size`-byte upload, with the Content-Length a client
    sends (Django's parser reads nothing without one)."""
    length = str(len(HEAD) + size + len(TAIL)).encode()
    return {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "http",
        "path": "/",
        "raw_path": b"/",
        "root_path": "",
        "query_string": b"",
        "headers": [(b"content-type", CONTENT_TYPE), (b"content-length", length), (b"host", b"bench")],
        "client": ("127.0.0.1", 1),
        "server": ("127.0.0.1", 80),
    }


async def drive_asgi(app: Any, size: int, chunk: int) -> tuple[int, bytes]:
    """Feed the upload to an ASGI app; the status and body it answered.

    Each message is made when the app asks for it, as a server reads it,
    and the last is TAIL itself, not found by making the next one ahead:
    the apps hold one message at a time, as the ceiling does."""
    stream = messages(size, chunk)
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        body = next(stream)
        return {"type": "http.request", "body": body, "more_body": body is not TAIL}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    await app(asgi_scope(size), receive, send)
    status: int = sent[0]["status"]
    return status, b"".join(message.get("body", b"") for message in sent[1:])


def asyncweb_app(upload_dir: str | None = None, tune_malloc: bool = True, digest: str | None = None) -> Any:
    from asyncweb import App, HTTPError, Limits, Request, Response

    async def handler(request: Request, response: Response, log: Any) -> None:
        upload = request.get_uploaded_file("file")
        if upload is None:
            raise HTTPError(400, "no file")
        response.set_body(f"{upload.size}\n")

    limits = Limits(max_body_size=None)
    return App(handler, upload_dir=upload_dir, limits=limits, tune_malloc=tune_malloc, upload_digest=digest)


def starlette_app() -> Any:
    from starlette.applications import Starlette
    from starlette.requests import Request
    from starlette.responses import PlainTextResponse
    from starlette.routing import Route

    async def upload(request: Request) -> PlainTextResponse:
        async with request.form() as form:
            upload = form["file"]
            return PlainTextResponse(f"{upload.size}\n")  # type: ignore[union-attr]

    return Starlette(routes=[Route("/", upload, methods=["POST"])])


# -- write strategies ------------------------------------------------------------
async def spool(size: int, chunk: int, upload_dir: str, strategy: str) -> list[float]:
    """Parse with asyncweb's decoder, spool with `strategy`; returns loop lags (s)."""
    import anyio

    from asyncweb.forms.multipart import MultipartDecoder
    from asyncweb.forms.uploads import open_temp, write_all

    lags: list[float] = []
    done = False

    async def ticker() -> None:
        while not done:
            start = time.perf_counter()
            await asyncio.sleep(0.001)
            lags.append(time.perf_counter() - start - 0.001)

    tick = asyncio.create_task(ticker())
    decoder = MultipartDecoder(BOUNDARY, 8192, 16)
    fd, _ = open_temp(upload_dir)
    batch: list[memoryview] = []
    batched = 0

    def writev(views: list[memoryview]) -> None:
        for view in views:
            write_all(fd, view)

    for message in messages(size, chunk):
        await asyncio.sleep(0)  # a real receive() waits on the socket
        for event in decoder.feed(message):
            if not isinstance(event, memoryview):
                continue
            if strategy == "inline":
                write_all(fd, event)
            elif strategy == "thread per chunk":
                await anyio.to_thread.run_sync(write_all, fd, event)
            else:
                batch.append(event)
                batched += len(event)
                if batched >= MiB:
                    await anyio.to_thread.run_sync(writev, batch)
                    batch, batched = [], 0
    if batch:
        await anyio.to_thread.run_sync(writev, batch)
    decoder.close()
    assert os.fstat(fd).st_size == size
    os.close(fd)
    done = True
    await tick
    return lags


# -- the worker: one measurement in a fresh process ------------------------------
def upload_app(target: str, upload_dir: str) -> Any:
    """The ASGI app of an app target (`APPS` or a peer), spooling into `upload_dir`."""
    tempfile.tempdir = upload_dir  # Starlette and the peers spool to tempfile's folder
    if target == "starlette":
        return starlette_app()
    if target in APPS:
        digest = "sha256" if target == "asyncweb, sha256" else None
        return asyncweb_app(upload_dir, tune_malloc=False, digest=digest)
    from benchmarks.upload_peers import in_process

    return in_process(target)


def worker(target: str, size: int, chunk: int, upload_dir: str) -> dict[str, Any]:
    """One timed run of `target` in this (fresh) process; an app's answer is
    checked on the warm-up, before the clock, and on the run itself."""
    if not target.endswith("default malloc"):
        from asyncweb._malloc import tune_malloc

        tune_malloc()
    # A smaller upload first, the same for every target: imports (each
    # framework's parser, 11 ms for python-multipart) and the first temp
    # files are costs a server pays once, not per upload.
    warm_up = max(WARM_UP, chunk)
    run: Callable[[], Any]
    answered: dict[str, Any] = {}
    if target in PARSERS:
        write = target == CEILING
        run_parser(warm_up, chunk, upload_dir, write)

        def run() -> Any:
            return run_parser(size, chunk, upload_dir, write)
    elif target in STRATEGIES:
        import anyio.to_thread  # noqa: F401

        def run() -> Any:
            return asyncio.run(spool(size, chunk, upload_dir, target))
    else:
        app = upload_app(target, upload_dir)
        expect_size(target, *asyncio.run(drive_asgi(app, warm_up, chunk)), warm_up)

        def run() -> Any:
            answered["status"], answered["body"] = asyncio.run(drive_asgi(app, size, chunk))

    reset_peak()
    idle = vm_kib("VmRSS")
    before = resource.getrusage(resource.RUSAGE_SELF)
    start = time.perf_counter()
    lags: list[float] = run() or []
    seconds = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_SELF)
    rss_kib = vm_kib("VmHWM") - idle
    if answered:
        expect_size(target, answered["status"], answered["body"], size)
    lags.sort()
    return {
        "seconds": seconds,
        "faults": after.ru_minflt - before.ru_minflt,
        "rss_kib": rss_kib,
        "answer": answered["body"].decode() if answered else None,
        "lag_p99_ms": 1000 * lags[int(len(lags) * 0.99)] if lags else None,
        "lag_max_ms": 1000 * lags[-1] if lags else None,
    }


def measure(target: str, size: int, chunk: int, upload_dir: str) -> dict[str, Any]:
    """One measurement of `target` in a fresh process, spooling into a fresh
    folder inside `upload_dir`, removed after; `left` counts what it held."""
    spool_dir = spool_folder(upload_dir)
    command = [sys.executable, __file__, "--worker", target, str(size), str(chunk), spool_dir]
    try:
        out = subprocess.run(command, capture_output=True, text=True, timeout=600, cwd=ROOT)
    finally:
        left = removed(spool_dir)
    if out.returncode != 0:
        raise RuntimeError(f"{target}: the worker failed ({out.returncode})\n{out.stderr[-3000:]}")
    result: dict[str, Any] = json.loads(out.stdout.strip().splitlines()[-1])
    result["left"] = left
    return result


def round_order(targets: list[str], round_: int) -> list[str]:
    """`targets` shuffled for round `round_`, the same in every run: no target
    always follows the same one. A writer that follows a pause (the no-op
    parser, a server starting) is slower on this VM, up to 5x for 256 MiB:
    in a fixed order one target paid it every round."""
    order = list(targets)
    random.Random(round_).shuffle(order)
    return order


def interleaved(
    targets: list[str], chunks: list[int], size: int, rounds: int, upload_dir: str
) -> dict[tuple[str, int], list[dict[str, Any]]]:
    results: dict[tuple[str, int], list[dict[str, Any]]] = {}
    for round_ in range(rounds):
        for chunk in chunks:
            for target in round_order(targets, round_):
                results.setdefault((target, chunk), []).append(measure(target, size, chunk, upload_dir))
        print(f"  round {round_ + 1}/{rounds} done", file=sys.stderr)
    return results


def left_behind(results: dict[Any, list[dict[str, Any]]]) -> str:
    """A line naming each target that left files in its spool folder (removed since)."""
    counts: dict[str, int] = {}
    for key, runs in results.items():
        name = key[0] if isinstance(key, tuple) else key
        counts[name] = counts.get(name, 0) + sum(run["left"] for run in runs)
    named = [f"{name} {count}" for name, count in counts.items() if count]
    return "Files left in the spool folders, removed by the benchmark: " + (", ".join(named) or "none")


def median(runs: list[dict[str, Any]], key: str) -> float:
    values: list[float] = [run[key] for run in runs]
    return statistics.median(values)


def mb_per_s(size: int, runs: list[dict[str, Any]]) -> tuple[float, float, float]:
    speeds = [size / run["seconds"] / 1e6 for run in runs]
    return statistics.median(speeds), min(speeds), max(speeds)


def mb_per_cpu_s(size: int, runs: list[dict[str, Any]]) -> float:
    """The median of MB per second of CPU: the server's own cost, whatever
    the client and the machine's other work took of the cores."""
    # A server's time is counted in clock ticks (10 ms): a tiny run may read 0.
    speeds: list[float] = [size / max(run["cpu_seconds"], 1e-6) / 1e6 for run in runs]
    return statistics.median(speeds)


def in_process_table(size: int, chunks: list[int], rounds: int, upload_dir: str) -> str:
    targets = [*PARSERS, "asyncweb", "asyncweb, sha256", "starlette", *installed_peers(), "asyncweb, default malloc"]
    results = interleaved(targets, chunks, size, rounds, upload_dir)
    lines = [
        f"In process, {size // MiB} MiB upload, median of {rounds} interleaved rounds "
        "(ratio: to the parse-and-write ceiling's median; best ratio: the best run's to the ceiling's best)",
        "",
        "| chunk | target | MB/s (min-max) | ratio | best ratio | peak RSS above idle | minor faults |",
        "|---|---|---|---|---|---|---|",
    ]
    for chunk in chunks:
        ceiling, _, ceiling_best = mb_per_s(size, results[CEILING, chunk])
        for target in targets:
            runs = results[target, chunk]
            speed, low, high = mb_per_s(size, runs)
            lines.append(
                f"| {chunk // 1024} KiB | {target} | {speed:,.0f} ({low:,.0f}-{high:,.0f}) | {speed / ceiling:.2f}x "
                f"| {high / ceiling_best:.2f}x "
                f"| {median(runs, 'rss_kib') / 1024:.1f} MiB | {median(runs, 'faults'):,.0f} |"
            )
    return "\n".join([*lines, "", left_behind(results)])


# -- paired: every target in one process ------------------------------------------
def paired_worker(targets: list[str], size: int, chunk: int, rounds: int, upload_dir: str) -> dict[str, list[float]]:
    """Seconds of each target's run, round after round in this one process,
    each answer checked (after a warm-up, as the worker's)."""
    from asyncweb._malloc import tune_malloc

    tune_malloc()
    warm_up = max(WARM_UP, chunk)
    apps = {target: upload_app(target, upload_dir) for target in targets if target != CEILING}
    run_parser(warm_up, chunk, upload_dir, write=True)
    for target, app in apps.items():
        expect_size(target, *asyncio.run(drive_asgi(app, warm_up, chunk)), warm_up)
    times: dict[str, list[float]] = {target: [] for target in targets}
    for round_ in range(rounds):
        for target in round_order(targets, round_):
            app = apps.get(target)
            start = time.perf_counter()
            if app is None:
                run_parser(size, chunk, upload_dir, write=True)
                times[target].append(time.perf_counter() - start)
                continue
            status, body = asyncio.run(drive_asgi(app, size, chunk))
            times[target].append(time.perf_counter() - start)
            expect_size(target, status, body, size)
    return times


def paired_table(size: int, chunks: list[int], rounds: int, upload_dir: str) -> str:
    """The ceiling, asyncweb, Starlette and the peers taking turns in one
    process per message size: the VM's noise (a slow first write into fresh
    page cache, other work on the cores) falls on them alike, as it cannot
    across processes. They share the process's memory, so only time counts."""
    targets = [CEILING, "asyncweb", "starlette", *installed_peers()]
    lines = [
        f"Paired in one process, {size // MiB} MiB upload, {rounds} rounds, every target in turn "
        "(ratio: to the parse-and-write ceiling; µs per message: the best run's)",
        "",
        "| chunk | target | best MB/s | ratio | median MB/s | ratio | µs per message |",
        "|---|---|---|---|---|---|---|",
    ]
    for chunk in chunks:
        spool_dir = spool_folder(upload_dir)
        command = [sys.executable, __file__, "--paired-worker", ",".join(targets), str(size), str(chunk), str(rounds)]
        try:
            out = subprocess.run([*command, spool_dir], capture_output=True, text=True, timeout=1800, cwd=ROOT)
        finally:
            removed(spool_dir)
        if out.returncode != 0:
            raise RuntimeError(f"the paired worker failed ({out.returncode})\n{out.stderr[-3000:]}")
        times: dict[str, list[float]] = json.loads(out.stdout.strip().splitlines()[-1])
        best_ceiling, median_ceiling = min(times[CEILING]), statistics.median(times[CEILING])
        for target in targets:
            best, middle = min(times[target]), statistics.median(times[target])
            lines.append(
                f"| {chunk // 1024} KiB | {target} | {size / best / 1e6:,.0f} | {best_ceiling / best:.2f}x "
                f"| {size / middle / 1e6:,.0f} | {median_ceiling / middle:.2f}x "
                f"| {best / (size // chunk) * 1e6:.1f} |"
            )
    return "\n".join(lines)


def strategies_table(size: int, chunk: int, rounds: int, upload_dir: str) -> str:
    targets = list(STRATEGIES)
    results = interleaved(targets, [chunk], size, rounds, upload_dir)
    lines = [
        f"Spooling strategies, {size // MiB} MiB in {chunk // 1024} KiB messages, event-loop lag from a 1 ms ticker",
        "",
        "| strategy | MB/s (min-max) | loop lag p99 | loop lag max |",
        "|---|---|---|---|",
    ]
    for target in targets:
        runs = results[target, chunk]
        speed, low, high = mb_per_s(size, runs)
        lines.append(
            f"| {target} | {speed:,.0f} ({low:,.0f}-{high:,.0f}) | {median(runs, 'lag_p99_ms'):.2f} ms "
            f"| {median(runs, 'lag_max_ms'):.2f} ms |"
        )
    return "\n".join(lines)


# -- over a real uvicorn ------------------------------------------------------------
HTTP_APPS = {
    "asyncweb": "benchmarks.upload:http_asyncweb",
    "asyncweb, default malloc": "benchmarks.upload:http_asyncweb_default_malloc",
    "starlette": "benchmarks.upload:http_starlette",
}


def _lazy_app(factory: Callable[[], Any]) -> Any:
    app = None

    async def asgi(scope: Any, receive: Any, send: Any) -> None:
        nonlocal app
        if app is None:
            app = factory()
        await app(scope, receive, send)

    return asgi


http_asyncweb = _lazy_app(asyncweb_app)
http_asyncweb_default_malloc = _lazy_app(lambda: asyncweb_app(tune_malloc=False))
http_starlette = _lazy_app(starlette_app)


def http_spec(name: str) -> str:
    """What uvicorn imports to serve `name`: an app of `HTTP_APPS` or a peer."""
    return HTTP_APPS.get(name) or f"benchmarks.upload_peers:{name}"


def curl_post(base: str, body: Path) -> tuple[int, bytes, float]:
    """POST `body` as the form's file, as `curl -F` does; the status, the
    reply and curl's seconds for the whole exchange."""
    out = subprocess.run(
        ["curl", "-s", "-S", "-w", "\n%{http_code} %{time_total}", "-F", f"file=@{body}", base + "/"],
        capture_output=True,
        timeout=600,
        check=True,
    )
    reply, _, tail = out.stdout.rpartition(b"\n")
    status, seconds = tail.split()
    return int(status), reply, float(seconds)


def http_upload(name: str, body: Path, warm_up: Path, spool_dir: str) -> dict[str, Any]:
    """`body` posted to `name` under a fresh uvicorn spooling into `spool_dir`,
    after `warm_up` (checked); memory and faults count from after the warm-up."""
    sys.path.insert(0, str(ROOT))
    from tests.support import SERVER_PIDS, run_uvicorn

    with run_uvicorn(http_spec(name), env={"TMPDIR": spool_dir}) as base:
        pid = SERVER_PIDS[base]
        status, reply, _ = curl_post(base, warm_up)
        expect_size(name, status, reply, warm_up.stat().st_size)
        reset_peak(pid)
        idle, faults, cpu = vm_kib("VmRSS", pid), minor_faults(pid), cpu_seconds(pid)
        status, reply, seconds = curl_post(base, body)
        result = {
            "seconds": seconds,
            "cpu_seconds": cpu_seconds(pid) - cpu,
            "rss_kib": vm_kib("VmHWM", pid) - idle,
            "faults": minor_faults(pid) - faults,
            "answer": reply.decode(),
        }
    expect_size(name, status, reply, body.stat().st_size)
    return result


def random_file(path: Path, size: int) -> Path:
    block = os.urandom(MiB)
    with path.open("wb") as out:
        for _ in range(size // MiB):
            out.write(block)
    return path


def http_table(size: int, rounds: int, upload_dir: str) -> str:
    names = [*HTTP_APPS, *installed_peers()]
    body = random_file(Path(upload_dir) / "body.bin", size)
    warm_up = random_file(Path(upload_dir) / "warm-up.bin", WARM_UP)
    results: dict[str, list[dict[str, Any]]] = {name: [] for name in names}
    try:
        for round_ in range(rounds):
            for name in round_order(names, round_):
                spool_dir = spool_folder(upload_dir)
                try:
                    result = http_upload(name, body, warm_up, spool_dir)
                finally:
                    left = removed(spool_dir)  # the server has stopped: nothing holds its files
                results[name].append({**result, "left": left})
            print(f"  http round {round_ + 1}/{rounds} done", file=sys.stderr)
    finally:
        body.unlink()
        warm_up.unlink()
    asyncweb, asyncweb_cpu = mb_per_s(size, results["asyncweb"])[0], mb_per_cpu_s(size, results["asyncweb"])
    lines = [
        f"Over uvicorn on 127.0.0.1, curl -F posting {size // MiB} MiB, median of {rounds} interleaved rounds "
        "(after a 4 MiB warm-up upload each; ratio: to asyncweb)",
        "",
        "| server app | MB/s (min-max) | vs asyncweb | server MB per CPU s (vs asyncweb) "
        "| server peak RSS above idle | server minor faults |",
        "|---|---|---|---|---|---|",
    ]
    for name, runs in results.items():
        speed, low, high = mb_per_s(size, runs)
        cpu = mb_per_cpu_s(size, runs)
        lines.append(
            f"| {name} | {speed:,.0f} ({low:,.0f}-{high:,.0f}) | {speed / asyncweb:.2f}x "
            f"| {cpu:,.0f} ({cpu / asyncweb_cpu:.2f}x) "
            f"| {median(runs, 'rss_kib') / 1024:.1f} MiB | {median(runs, 'faults'):,.0f} |"
        )
    return "\n".join([*lines, "", left_behind(results)])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks upload", description=__doc__.split("\n\n")[0])
    parser.add_argument("--size-mib", type=int, default=256, help="upload size in process (default 256)")
    parser.add_argument("--http-size-mib", type=int, default=256, help="upload size over uvicorn (default 256)")
    parser.add_argument("--chunks-kib", default="64,256,1024", help="message sizes in KiB (default 64,256,1024)")
    parser.add_argument("--rounds", type=int, default=3, help="interleaved rounds (default 3)")
    parser.add_argument("--paired-size-mib", type=int, default=64, help="upload size in the paired part (default 64)")
    parser.add_argument("--only", choices=["inprocess", "strategies", "http", "paired"], help="run one part only")
    parser.add_argument("--upload-dir", default=None, help="where files spool (default: the temp folder)")
    parser.add_argument("--worker", nargs=4, help=argparse.SUPPRESS)
    parser.add_argument("--paired-worker", nargs=5, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker:
        target, size, chunk, upload_dir = args.worker
        print(json.dumps(worker(target, int(size), int(chunk), upload_dir)))
        return 0
    if args.paired_worker:
        targets, size, chunk, rounds, upload_dir = args.paired_worker
        print(json.dumps(paired_worker(targets.split(","), int(size), int(chunk), int(rounds), upload_dir)))
        return 0
    size, chunks = args.size_mib * MiB, [int(kib) * 1024 for kib in args.chunks_kib.split(",")]
    with tempfile.TemporaryDirectory(dir=args.upload_dir) as upload_dir:
        print(f"machine: {os.cpu_count()} cores, Python {sys.version.split()[0]}, spool folder {upload_dir}\n")
        from benchmarks.upload_peers import MISSING

        for name, why in MISSING.items():
            print(f"{name} left out: {why}\n")
        if args.only in (None, "inprocess"):
            print(in_process_table(size, chunks, args.rounds, upload_dir), end="\n\n", flush=True)
        if args.only in (None, "strategies"):
            print(strategies_table(size, 256 * 1024, args.rounds, upload_dir), end="\n\n", flush=True)
        if args.only in (None, "http"):
            print(http_table(args.http_size_mib * MiB, args.rounds, upload_dir), end="\n\n", flush=True)
        if args.only in (None, "paired"):
            print(paired_table(args.paired_size_mib * MiB, chunks, args.rounds, upload_dir), flush=True)
    return 0


if __name__ == "__main__":
    sys.path.insert(0, str(ROOT))
    sys.exit(main())
