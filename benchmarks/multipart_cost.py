"""Crafted multipart bodies against plain ones: what each costs the decoder.

    .venv/bin/python -m benchmarks.multipart_cost                       # CPU time, about a minute
    .venv/bin/python -m benchmarks.multipart_cost --callgrind --server  # all of it, about 12 minutes
    .venv/bin/python -m benchmarks.multipart_cost --help

Each body is one file part of 8 MiB (`--size-mib`) between its headers and
the closing boundary, fed in 64 KiB chunks (`--chunk-kib`) made before the
clock starts: plain random bytes, and data made of the delimiter's pieces,
the kind that sent python-multipart's boundary scan into a per-byte Python
loop (the issue: `CRLF--BX` repeated with the boundary `B`, 8 MiB in 3.12 s
of server CPU against 0.12 s for plain bytes), or that leaves `bytes.find`
nothing to skip (a run of the boundary's second-to-last character). Two
parsers run side by side, interleaved round by round: asyncweb's
`MultipartDecoder` (events taken, nothing done with them) and, for
reference, python-multipart's `MultipartParser` with no callbacks, the scan
asyncweb used before.

Reported: CPU time (`time.process_time`, median of `--rounds`), MB/s, and
each body's ratio to plain bytes with the same boundary, of the medians and
of the fastest rounds: the goal is at most 2x for asyncweb. A body it
refuses (400: made of lines that begin with the boundary) counts for what
it cost up to the refusal. `--callgrind` also counts instructions
(valgrind's callgrind, one run per body and parser and one that stops
before feeding, subtracted): steady where times are not, but not time:
`bytes.find` skipping runs few instructions a byte, sre's byte loop more,
each at its own speed. Under valgrind the decoder's clock, which decides
when `bytes.find` hands over to sre, is faked to decide as it did natively.
`--server` POSTs each body to asyncweb's App under uvicorn (h11, then
httptools) and reports the server's CPU per request and the longest wait
of another client pinging it meanwhile. Each decoder's output is checked
(every byte of the file part, once) before anything is timed.
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import os
import re
import socket
import statistics
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

MiB = 1024 * 1024
ROOT = Path(__file__).resolve().parent.parent

B1 = b"B"
WEBKIT = b"----WebKitFormBoundary7MA4YWxkTrZu0gW"  # a browser's, 38 characters
B70 = (b"x" + hashlib.sha256(b"multipart_cost").hexdigest().encode() * 2)[:70]  # the longest allowed

# name -> (boundary, the unit the file part repeats (b"" for random bytes),
# None for the unit over and over, else every how many bytes, random between)
BODIES: dict[str, tuple[bytes, bytes, int | None]] = {
    "plain, boundary B": (B1, b"", None),
    "CRLF--BX repeated, boundary B": (B1, b"\r\n--BX", None),
    "CRLF--BX every 16 KiB, boundary B": (B1, b"\r\n--BX", 16 * 1024),
    "CR repeated, boundary B": (B1, b"\r", None),
    "- repeated, boundary B": (B1, b"-", None),
    "CRLF repeated, boundary B": (B1, b"\r\n", None),
    "plain, 38-char boundary": (WEBKIT, b"", None),
    "CRLF--boundaryX repeated, 38-char": (WEBKIT, b"\r\n--" + WEBKIT + b"X", None),
    "boundary[-2] repeated, 38-char": (WEBKIT, WEBKIT[-2:-1], None),
    # Each run of it 16 KiB with the near miss that ends it: finds shorter
    # than 16 KiB, as many near misses as a body may have.
    "boundary[-2] runs, CRLF--boundaryX every 16 KiB, 38-char": (
        WEBKIT,
        WEBKIT[-2:-1] * (16 * 1024 - len(WEBKIT) - 5) + b"\r\n--" + WEBKIT + b"X",
        None,
    ),
    "plain, 70-char boundary": (B70, b"", None),
    "CRLF--boundary[:-1] repeated, 70-char": (B70, b"\r\n--" + B70[:-1], None),
    "CR repeated, 70-char": (B70, b"\r", None),
    "- repeated, 70-char": (B70, b"-", None),
    "CRLF repeated, 70-char": (B70, b"\r\n", None),
}
TARGETS = ("asyncweb", "python-multipart")


def content(name: str, size: int) -> bytes:
    _, unit, every = BODIES[name]
    if not unit:
        return _random(size)
    if every is None:
        return (unit * (size // len(unit) + 1))[:size]
    stretch = unit + _random(every - len(unit))
    return (stretch * (size // every + 1))[:size]


def body(name: str, size: int) -> bytes:
    boundary = BODIES[name][0]
    head = b"--" + boundary + b'\r\nContent-Disposition: form-data; name="file"; filename="f.bin"\r\n'
    head += b"Content-Type: application/octet-stream\r\n\r\n"
    return head + content(name, size) + b"\r\n--" + boundary + b"--\r\n"


def _random(size: int) -> bytes:
    """Random bytes from a fixed seed: the same plain body in every process."""
    block = hashlib.shake_256(b"multipart_cost").digest(MiB)
    return (block * (size // MiB + 1))[:size]


def chunked(data: bytes, chunk: int) -> list[bytes]:
    return [data[i : i + chunk] for i in range(0, len(data), chunk)]


# -- the parsers ---------------------------------------------------------------------------
def asyncweb_run(boundary: bytes) -> Callable[[list[bytes]], None]:
    from asyncweb.errors import BadRequest
    from asyncweb.forms.multipart import MultipartDecoder

    def run(chunks: list[bytes]) -> None:
        decoder = MultipartDecoder(boundary, 8192, 16)
        feed = decoder.feed
        try:
            for chunk in chunks:
                feed(chunk)
            decoder.close()
        except BadRequest:  # refused: what it cost so far is what it costs
            pass

    return run


def reference_run(boundary: bytes) -> Callable[[list[bytes]], None]:
    from python_multipart.multipart import MultipartParser, MultipartState

    def run(chunks: list[bytes]) -> None:
        parser = MultipartParser(boundary, {})
        write = parser.write
        for chunk in chunks:
            write(chunk)
        assert parser.state == MultipartState.END

    return run


RUNNERS = {"asyncweb": asyncweb_run, "python-multipart": reference_run}


def check(name: str, size: int, chunks: list[bytes]) -> str:
    """What asyncweb's decoder makes of the body: '' when it gives the file
    part, every byte of it, and one part only; else how far it read before
    its 400."""
    from asyncweb.errors import BadRequest
    from asyncweb.forms.multipart import MultipartDecoder, PartEnd
    from asyncweb.forms.part_headers import PartStart

    decoder = MultipartDecoder(BODIES[name][0], 8192, 16)
    digest, length, starts, ends, fed = hashlib.sha256(), 0, 0, 0, 0
    try:
        for chunk in chunks:
            fed += len(chunk)
            for event in decoder.feed(chunk):
                if isinstance(event, memoryview):
                    digest.update(event)
                    length += len(event)
                starts += isinstance(event, PartStart)
                ends += isinstance(event, PartEnd)
        decoder.close()
    except BadRequest:
        return f"400 at {fed // 1024:,} KiB"
    assert (length, starts, ends) == (size, 1, 1), (name, length, starts, ends)
    assert digest.digest() == hashlib.sha256(content(name, size)).digest(), name
    return ""


# -- CPU time --------------------------------------------------------------------------------
OUTCOMES: dict[str, str] = {}  # body -> asyncweb's 400, if it refuses it
FASTEST: dict[tuple[str, str], float] = {}  # (body, target) -> the fastest round (s)


def cpu_times(names: list[str], targets: list[str], size: int, chunk: int, rounds: int) -> dict[tuple[str, str], float]:
    """Median process time (s) per (body, target), the targets interleaved round by round."""
    prepared = {}
    for name in names:
        chunks = chunked(body(name, size), chunk)
        OUTCOMES[name] = check(name, size, chunks)
        prepared[name] = chunks
    times: dict[tuple[str, str], list[float]] = {}
    for round_ in range(rounds):
        for name in names:
            for target in targets:
                run = RUNNERS[target](BODIES[name][0])
                for chunk_ in prepared[name]:  # in the cache, as a server's read just left it
                    chunk_.count(0)
                start = time.process_time()
                run(prepared[name])
                times.setdefault((name, target), []).append(time.process_time() - start)
        print(f"  round {round_ + 1}/{rounds} done", file=sys.stderr, flush=True)
    for key, values in times.items():
        FASTEST[key] = min(values)
    return {key: statistics.median(values) for key, values in times.items()}


# -- instructions, under callgrind ---------------------------------------------------------
def find_hands_over(name: str, size: int, chunk: int) -> bool:
    """Whether asyncweb's decoder, timing bytes.find, hands over to sre on this
    body (in most of 3 runs, natively): under valgrind, where everything runs
    50 times slower, the worker is told, its clock faked to decide alike."""
    from asyncweb.forms.multipart import MultipartDecoder

    chunks = chunked(body(name, size), chunk)
    votes = 0
    for _ in range(3):
        decoder = MultipartDecoder(BODIES[name][0], 8192, 16)
        found_first = decoder._literal is None
        with contextlib.suppress(Exception):
            for piece in chunks:
                decoder.feed(piece)
        votes += found_first and decoder._literal is not None
    return votes >= 2


def worker(target: str, name: str, size: int, chunk: int, feed: bool, slow_find: bool) -> None:
    from asyncweb.forms import multipart

    ticks = iter(range(0, 10**18, 10**9))  # each timed find a second: slow
    multipart._clock = (lambda: next(ticks)) if slow_find else (lambda: 0)
    chunks = chunked(body(name, size), chunk)
    run = RUNNERS[target](BODIES[name][0])
    run(chunked(body(name, chunk), chunk))  # imports and first calls, in both runs
    if feed:
        run(chunks)


COLLECTED = re.compile(r"Collected\s*:\s*(\d+)")


def instructions(target: str, name: str, size: int, chunk: int, slow_find: bool) -> int:
    """Instructions of feeding the body: a run that feeds it minus one that stops before."""
    counts = []
    for feed in (True, False):
        command = ["valgrind", "--tool=callgrind", "--callgrind-out-file=/dev/null", sys.executable, __file__]
        command += ["--worker", target, name, str(size), str(chunk), "feed" if feed else "setup"]
        command += ["slow" if slow_find else "fast"]
        env = {**os.environ, "PYTHONHASHSEED": "0"}
        out = subprocess.run(command, capture_output=True, text=True, timeout=3600, check=True, cwd=ROOT, env=env)
        found = COLLECTED.findall(out.stderr)
        if not found:
            raise RuntimeError(f"no instruction count from callgrind: {out.stderr[-500:]}")
        counts.append(int(found[-1]))
    return counts[0] - counts[1]


# -- over a real uvicorn: the server's CPU, and another client's wait ------------------------
def _app() -> Any:
    from asyncweb import App, Limits, Request, Response

    async def handler(request: Request, response: Response, log: Any) -> None:
        if request.path == "/ping":
            response.set_body("pong")
            return
        upload = request.get_uploaded_file("file")
        response.set_body(f"{upload.size if upload is not None else -1}\n")

    return App(handler, limits=Limits(max_body_size=None, max_file_size=None))


_served: Any = None


async def server_app(scope: Any, receive: Any, send: Any) -> None:
    """The app `--server` runs under uvicorn: `/ping`, or a form's file size."""
    global _served
    if _served is None:
        _served = _app()
    await _served(scope, receive, send)


def server_cpu_ns(pid: int) -> int:
    """CPU time of every thread of `pid` so far (ns, /proc/PID/task/*/schedstat)."""
    total = 0
    for task in Path(f"/proc/{pid}/task").iterdir():
        with contextlib.suppress(FileNotFoundError, ProcessLookupError):  # a thread gone meanwhile
            total += int((task / "schedstat").read_text().split()[0])
    return total


def _reply(sock: socket.socket) -> tuple[int, bytes]:
    """One HTTP/1.1 reply with a Content-Length: its status and body."""
    data = b""
    while b"\r\n\r\n" not in data:
        more = sock.recv(65536)
        if not more:
            raise ConnectionError("the server closed the connection")
        data += more
    head, _, rest = data.partition(b"\r\n\r\n")
    length = int(re.search(rb"(?i)content-length: *(\d+)", head).group(1))  # type: ignore[union-attr]
    while len(rest) < length:
        rest += sock.recv(65536)
    return int(head.split()[1]), rest


def post(port: int, name: str, data: bytes, chunk: int) -> tuple[tuple[int, bytes], float]:
    """POST the body from another thread while this one pings: (reply, the longest ping in s)."""
    boundary = BODIES[name][0]
    head = f"POST /upload HTTP/1.1\r\nHost: bench\r\nContent-Length: {len(data)}\r\n"
    head += f"Content-Type: multipart/form-data; boundary={boundary.decode()}\r\n\r\n"
    result: list[tuple[int, bytes]] = []

    def upload() -> None:
        with socket.create_connection(("127.0.0.1", port)) as sock:
            try:
                sock.sendall(head.encode())
                for start in range(0, len(data), chunk):
                    sock.sendall(data[start : start + chunk])
            except OSError:  # a 400 before the end, and the connection closed
                pass
            result.append(_reply(sock))

    waits = [0.0]
    with socket.create_connection(("127.0.0.1", port)) as pinger:
        sender = threading.Thread(target=upload)
        sender.start()
        while sender.is_alive():
            start = time.perf_counter()
            pinger.sendall(b"GET /ping HTTP/1.1\r\nHost: bench\r\n\r\n")
            _reply(pinger)
            waits.append(time.perf_counter() - start)
            time.sleep(0.001)
        sender.join()
    return result[0], max(waits)


def server_table(names: list[str], size: int, chunk: int, rounds: int, stacks: list[str]) -> str:
    sys.path.insert(0, str(ROOT))
    from tests.support import SERVER_PIDS, run_uvicorn

    bodies = {name: body(name, size) for name in names}
    refused = {name: check(name, size, chunked(bodies[name], chunk)) for name in names}
    header = ["body"]
    for stack in stacks:
        header += [f"{stack}: server CPU ms", "ratio", "longest ping ms"]
    cells: dict[str, list[str]] = {name: [name] for name in names}
    for stack in stacks:
        with run_uvicorn("benchmarks.multipart_cost:server_app", "--http", stack, "--no-access-log") as base:
            pid, port = SERVER_PIDS[base], int(base.rsplit(":", 1)[1])
            post(port, names[0], body(names[0], chunk), chunk)  # imports done before the clock
            cpu: dict[str, list[float]] = {name: [] for name in names}
            waits: dict[str, list[float]] = {name: [] for name in names}
            for _ in range(rounds):
                for name in names:
                    before = server_cpu_ns(pid)
                    reply, wait = post(port, name, bodies[name], chunk)
                    cpu[name].append((server_cpu_ns(pid) - before) / 1e6)
                    waits[name].append(wait * 1000)
                    expected = (400,) if refused[name] else (200, f"{size}\n".encode())
                    assert reply[: len(expected)] == expected, (name, reply)
            print(f"  server ({stack}) done", file=sys.stderr, flush=True)
        for name in names:
            ms, plain = statistics.median(cpu[name]), statistics.median(cpu[plain_of(name)])
            cells[name] += [f"{ms:,.1f}", f"{ms / plain:.2f}x", f"{statistics.median(waits[name]):,.1f}"]
    rows = [cells[name] for name in names]
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return "\n".join(lines)


# -- the table ----------------------------------------------------------------------------------
def plain_of(name: str) -> str:
    boundary = BODIES[name][0]
    return next(other for other, (b, unit, _) in BODIES.items() if b == boundary and not unit)


def table(
    names: list[str],
    targets: list[str],
    size: int,
    times: dict[tuple[str, str], float],
    counts: dict[tuple[str, str], int] | None,
) -> str:
    header = ["body", "asyncweb's answer"]
    for target in targets:
        header += [f"{target} ms", f"{target} MB/s", f"{target} ratio (fastest rounds')"]
        if counts is not None:
            header += [f"{target} instr/MiB", f"{target} instr ratio"]
    rows = []
    for name in names:
        refused = OUTCOMES.get(name, "")
        row = [name, refused or "the file"]
        for target in targets:
            seconds, plain = times[name, target], times[plain_of(name), target]
            speed = "-" if refused and target == "asyncweb" else f"{size / seconds / 1e6:,.0f}"
            fastest, fastest_plain = FASTEST[name, target], FASTEST[plain_of(name), target]
            row += [f"{seconds * 1000:,.1f}", speed, f"{seconds / plain:.2f}x ({fastest / fastest_plain:.2f}x)"]
            if counts is not None:
                count, plain_count = counts[name, target], counts[plain_of(name), target]
                row += [f"{count / (size / MiB):,.0f}", f"{count / plain_count:.2f}x"]
        rows.append(row)
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.multipart_cost", description=__doc__.split("\n\n")[0])
    parser.add_argument("--size-mib", type=int, default=8, help="the file part's size (default 8)")
    parser.add_argument("--chunk-kib", type=int, default=64, help="bytes fed at a time (default 64)")
    parser.add_argument("--rounds", type=int, default=5, help="interleaved rounds of CPU time (default 5)")
    parser.add_argument("--targets", default=",".join(TARGETS), help="asyncweb, python-multipart or both")
    parser.add_argument("--bodies", help="a regular expression: only the bodies it finds (their plain ones too)")
    parser.add_argument("--callgrind", action="store_true", help="count instructions too, under valgrind")
    parser.add_argument("--server", action="store_true", help="also POST each body to asyncweb under uvicorn")
    parser.add_argument("--stacks", default="h11,httptools", help="uvicorn's HTTP stacks for --server")
    parser.add_argument("--worker", nargs=6, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker:
        target, name, size, chunk, feed, slow_find = args.worker
        worker(target, name, int(size), int(chunk), feed == "feed", slow_find == "slow")
        return 0
    size, chunk = args.size_mib * MiB, args.chunk_kib * 1024
    targets = [target.strip() for target in args.targets.split(",")]
    names = list(BODIES)
    if args.bodies:
        wanted = {name for name in BODIES if re.search(args.bodies, name)}
        names = [name for name in BODIES if name in wanted or name in {plain_of(w) for w in wanted}]
    print(
        f"machine: {os.cpu_count()} cores, Python {sys.version.split()[0]}; {args.size_mib} MiB file part "
        f"in {args.chunk_kib} KiB chunks; ratio: to plain bytes with the same boundary\n",
        flush=True,
    )
    times = cpu_times(names, targets, size, chunk, args.rounds)
    counts = None
    if args.callgrind:
        counts = {}
        for name in names:
            slow_find = find_hands_over(name, size, chunk)
            for target in targets:
                counts[name, target] = instructions(target, name, size, chunk, slow_find)
            print(f"  callgrind: {name} done", file=sys.stderr, flush=True)
    print(f"CPU time, median of {args.rounds} interleaved rounds" + (", and instructions" if counts else ""))
    print()
    print(table(names, targets, size, times, counts))
    if args.server:
        stacks = [stack.strip() for stack in args.stacks.split(",")]
        print(
            f"\nOver uvicorn on 127.0.0.1 (asyncweb App, the file spooled to disk), median of {args.rounds} "
            "rounds: the server's CPU per request, and the longest wait of a client pinging meanwhile\n"
        )
        print(server_table(names, size, chunk, args.rounds, stacks))
    return 0


if __name__ == "__main__":
    sys.path.insert(0, str(ROOT))
    sys.exit(main())
