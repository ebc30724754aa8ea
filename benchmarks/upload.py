"""Upload benchmark: asyncweb against Starlette and the raw parser, in one run.

    .venv/bin/python -m benchmarks upload            # everything below
    .venv/bin/python benchmarks/upload.py --help     # the same, standalone

1. In process, a 256 MiB multipart upload fed as ASGI messages of 64 KiB,
   256 KiB and 1 MiB: python-multipart with no-op callbacks, the same with
   synchronous `os.write` of memoryview slices (the parse-and-write ceiling),
   asyncweb's App, and Starlette's `request.form()`. Each measurement runs
   in a fresh process, so peak RSS and minor page faults are its own; the
   targets are interleaved round by round and medians reported.
2. Write strategies for spooling, with the event loop's lag measured by a
   1 ms ticker while the upload runs: inline `os.write` (asyncweb's), a
   thread hop per chunk (Starlette's design) and batched `os.writev` in a
   thread every 1 MiB.
3. Over a real uvicorn on 127.0.0.1, curl posting a 256 MiB file: asyncweb
   and Starlette, MB/s, server peak RSS above idle and minor page faults.

Each message is a fresh bytes object, as a server allocates it, so the
cost of glibc's page-fault trap (see asyncweb/malloc.py) shows here too.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import resource
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
ROOT = Path(__file__).resolve().parent.parent


# -- the body, as a server hands it over ------------------------------------------
def messages(size: int, chunk: int) -> Iterator[bytes]:
    """HEAD, `size` payload bytes in fresh `chunk`-sized bytes objects, TAIL."""
    block = bytearray(os.urandom(chunk))
    yield HEAD
    for _ in range(size // chunk):
        yield bytes(block)  # one allocation and copy per message, like a server's read
    yield TAIL


def vm_kib(field: str, pid: int | str = "self") -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise LookupError(field)


def minor_faults(pid: int) -> int:
    return int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[7])


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


def asgi_scope() -> dict[str, Any]:
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
        "headers": [(b"content-type", CONTENT_TYPE), (b"host", b"bench")],
        "client": ("127.0.0.1", 1),
        "server": ("127.0.0.1", 80),
    }


async def drive_asgi(app: Any, size: int, chunk: int) -> int:
    """Feed the upload to an ASGI app; returns the status it answered."""
    stream = messages(size, chunk)
    pending = next(stream)
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        nonlocal pending
        body = pending
        try:
            pending = next(stream)
            more = True
        except StopIteration:
            more = False
        return {"type": "http.request", "body": body, "more_body": more}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    await app(asgi_scope(), receive, send)
    status: int = sent[0]["status"]
    return status


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

    from asyncweb.forms.multipart import MultipartDecoder, PartData
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
            if not isinstance(event, PartData):
                continue
            if strategy == "inline":
                write_all(fd, event.data)
            elif strategy == "thread per chunk":
                await anyio.to_thread.run_sync(write_all, fd, event.data)
            else:
                batch.append(event.data)
                batched += len(event.data)
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
def worker(target: str, size: int, chunk: int, upload_dir: str) -> dict[str, Any]:
    if not target.endswith("default malloc"):
        from asyncweb._malloc import tune_malloc

        tune_malloc()
    run: Callable[[], Any]
    if target in ("parser, no-op", "parser + os.write"):
        # A small upload first, as for the apps below: imports and the first
        # temp file are done before the clock starts.
        run_parser(chunk, chunk, upload_dir, write=target == "parser + os.write")

        def run() -> Any:
            return run_parser(size, chunk, upload_dir, write=target == "parser + os.write")
    elif target.startswith("asyncweb") or target == "starlette":
        tempfile.tempdir = upload_dir  # Starlette spools to tempfile's default folder
        digest = "sha256" if target == "asyncweb, sha256" else None
        app = asyncweb_app(upload_dir, tune_malloc=False, digest=digest) if target != "starlette" else starlette_app()
        # Both frameworks import python-multipart on their first form
        # (11 ms): a cost a server pays once, not per upload.
        assert asyncio.run(drive_asgi(app, chunk, chunk)) == 200

        def run() -> Any:
            assert asyncio.run(drive_asgi(app, size, chunk)) == 200
    else:
        import anyio.to_thread  # noqa: F401

        def run() -> Any:
            return asyncio.run(spool(size, chunk, upload_dir, target))

    idle = vm_kib("VmHWM")
    faults = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    start = time.perf_counter()
    lags: list[float] = run() or []
    seconds = time.perf_counter() - start
    lags.sort()
    return {
        "seconds": seconds,
        "faults": resource.getrusage(resource.RUSAGE_SELF).ru_minflt - faults,
        "rss_kib": vm_kib("VmHWM") - idle,
        "lag_p99_ms": 1000 * lags[int(len(lags) * 0.99)] if lags else None,
        "lag_max_ms": 1000 * lags[-1] if lags else None,
    }


def measure(target: str, size: int, chunk: int, upload_dir: str) -> dict[str, Any]:
    command = [sys.executable, __file__, "--worker", target, str(size), str(chunk), upload_dir]
    out = subprocess.run(command, capture_output=True, text=True, timeout=600, check=True, cwd=ROOT)
    result: dict[str, Any] = json.loads(out.stdout.strip().splitlines()[-1])
    return result


def interleaved(
    targets: list[str], chunks: list[int], size: int, rounds: int, upload_dir: str
) -> dict[tuple[str, int], list[dict[str, Any]]]:
    results: dict[tuple[str, int], list[dict[str, Any]]] = {}
    for round_ in range(rounds):
        for chunk in chunks:
            for target in targets:
                results.setdefault((target, chunk), []).append(measure(target, size, chunk, upload_dir))
        print(f"  round {round_ + 1}/{rounds} done", file=sys.stderr)
    return results


def median(runs: list[dict[str, Any]], key: str) -> float:
    values: list[float] = [run[key] for run in runs]
    return statistics.median(values)


def mb_per_s(size: int, runs: list[dict[str, Any]]) -> tuple[float, float, float]:
    speeds = [size / run["seconds"] / 1e6 for run in runs]
    return statistics.median(speeds), min(speeds), max(speeds)


def in_process_table(size: int, chunks: list[int], rounds: int, upload_dir: str) -> str:
    targets = [
        "parser, no-op",
        "parser + os.write",
        "asyncweb",
        "asyncweb, sha256",
        "starlette",
        "asyncweb, default malloc",
    ]
    results = interleaved(targets, chunks, size, rounds, upload_dir)
    lines = [
        f"In process, {size // MiB} MiB upload, median of {rounds} interleaved rounds "
        "(ratio: to the parse-and-write ceiling)",
        "",
        "| chunk | target | MB/s (min-max) | ratio | peak RSS above idle | minor faults |",
        "|---|---|---|---|---|---|",
    ]
    for chunk in chunks:
        ceiling = mb_per_s(size, results["parser + os.write", chunk])[0]
        for target in targets:
            runs = results[target, chunk]
            speed, low, high = mb_per_s(size, runs)
            lines.append(
                f"| {chunk // 1024} KiB | {target} | {speed:,.0f} ({low:,.0f}-{high:,.0f}) | {speed / ceiling:.2f}x "
                f"| {median(runs, 'rss_kib') / 1024:.1f} MiB | {median(runs, 'faults'):,.0f} |"
            )
    return "\n".join(lines)


def strategies_table(size: int, chunk: int, rounds: int, upload_dir: str) -> str:
    targets = ["inline", "thread per chunk", "batched 1 MiB in a thread"]
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


def http_upload(spec: str, body: Path, size: int) -> dict[str, float]:
    sys.path.insert(0, str(ROOT))
    from tests.support import SERVER_PIDS, run_uvicorn

    with run_uvicorn(spec) as base:
        pid = SERVER_PIDS[base]
        idle, faults = vm_kib("VmRSS", pid), minor_faults(pid)
        out = subprocess.run(
            ["curl", "-s", "-S", "--fail", "-o", "/dev/null", "-w", "%{time_total}", "-F", f"file=@{body}", base + "/"],
            capture_output=True,
            text=True,
            timeout=600,
            check=True,
        )
        return {
            "seconds": float(out.stdout),
            "rss_kib": vm_kib("VmHWM", pid) - idle,
            "faults": minor_faults(pid) - faults,
        }


def http_table(size: int, rounds: int, upload_dir: str) -> str:
    body = Path(upload_dir) / "body.bin"
    block = os.urandom(MiB)
    with body.open("wb") as out:
        for _ in range(size // MiB):
            out.write(block)
    results: dict[str, list[dict[str, float]]] = {name: [] for name in HTTP_APPS}
    try:
        for round_ in range(rounds):
            for name, spec in HTTP_APPS.items():
                results[name].append(http_upload(spec, body, size))
            print(f"  http round {round_ + 1}/{rounds} done", file=sys.stderr)
    finally:
        body.unlink()
    starlette = mb_per_s(size, results["starlette"])[0]
    lines = [
        f"Over uvicorn on 127.0.0.1, curl -F posting {size // MiB} MiB, median of {rounds} interleaved rounds",
        "",
        "| server app | MB/s (min-max) | vs Starlette | server peak RSS above idle | server minor faults |",
        "|---|---|---|---|---|",
    ]
    for name, runs in results.items():
        speed, low, high = mb_per_s(size, runs)
        lines.append(
            f"| {name} | {speed:,.0f} ({low:,.0f}-{high:,.0f}) | {speed / starlette:.2f}x "
            f"| {median(runs, 'rss_kib') / 1024:.1f} MiB | {median(runs, 'faults'):,.0f} |"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks upload", description=__doc__.split("\n\n")[0])
    parser.add_argument("--size-mib", type=int, default=256, help="upload size in process (default 256)")
    parser.add_argument("--http-size-mib", type=int, default=256, help="upload size over uvicorn (default 256)")
    parser.add_argument("--chunks-kib", default="64,256,1024", help="message sizes in KiB (default 64,256,1024)")
    parser.add_argument("--rounds", type=int, default=3, help="interleaved rounds (default 3)")
    parser.add_argument("--only", choices=["inprocess", "strategies", "http"], help="run one part only")
    parser.add_argument("--upload-dir", default=None, help="where files spool (default: the temp folder)")
    parser.add_argument("--worker", nargs=4, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker:
        target, size, chunk, upload_dir = args.worker
        print(json.dumps(worker(target, int(size), int(chunk), upload_dir)))
        return 0
    size, chunks = args.size_mib * MiB, [int(kib) * 1024 for kib in args.chunks_kib.split(",")]
    with tempfile.TemporaryDirectory(dir=args.upload_dir) as upload_dir:
        print(f"machine: {os.cpu_count()} cores, Python {sys.version.split()[0]}, spool folder {upload_dir}\n")
        if args.only in (None, "inprocess"):
            print(in_process_table(size, chunks, args.rounds, upload_dir), end="\n\n", flush=True)
        if args.only in (None, "strategies"):
            print(strategies_table(size, 256 * 1024, args.rounds, upload_dir), end="\n\n", flush=True)
        if args.only in (None, "http"):
            print(http_table(args.http_size_mib * MiB, args.rounds, upload_dir), flush=True)
    return 0


if __name__ == "__main__":
    sys.path.insert(0, str(ROOT))
    sys.exit(main())
