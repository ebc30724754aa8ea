"""The benchmark's targets answer alike, in process and behind each server,
and its entry point runs (nothing here is timed). A peer of the bench extra
that is not installed is skipped, saying so."""

from __future__ import annotations

import importlib.util
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("starlette", reason="the benchmarks compare against Starlette (pip install -e '.[test]')")

from benchmarks import __main__ as entry
from benchmarks import over_http
from benchmarks.apps import MISSING, PEERS, TARGETS, UNLIKE, exchange, normalized, percent_decoded
from benchmarks.report import TARGET_NAMES
from benchmarks.routes import ROUTES
from tests.support import ROOT


def needs(target: str) -> None:
    """Skip unless `target`'s framework is installed (the peers are in the bench extra alone)."""
    if target in PEERS:
        pytest.importorskip(target, reason=f"{target} is a peer of the bench extra (pip install -e '.[bench]')")


def test_every_target_is_named_in_each_mode() -> None:
    assert set(entry.TARGETS) == set(TARGET_NAMES) == {*TARGETS, *MISSING}
    assert set(TARGETS).isdisjoint(MISSING)
    assert {target for target, _ in UNLIKE} <= set(PEERS)


@pytest.mark.anyio
@pytest.mark.parametrize("route", ROUTES)
@pytest.mark.parametrize("target", entry.TARGETS)
async def test_every_target_answers_the_route_like_raw(target: str, route: str) -> None:
    needs(target)
    expected = await exchange(TARGETS["raw"], ROUTES[route])
    assert expected.status == 200 and expected.body
    reply = await exchange(TARGETS[target], ROUTES[route])
    if (target, route) in UNLIKE:
        # Not raw's reply, for the reason UNLIKE gives, and in no other way.
        assert reply != expected
        assert reply == percent_decoded(expected)
    else:
        assert reply == expected


@pytest.mark.anyio
async def test_the_cookie_route_writes_three_cookies_and_echoes_ten() -> None:
    reply = await exchange(TARGETS["asyncweb"], ROUTES["cookies"])
    assert [name for name, _ in reply.headers].count("set-cookie") == 3
    assert reply.body.count(b"\n") == 10


def test_an_expires_beside_a_max_age_is_left_out_and_kept_alone() -> None:
    expires = "expires=Thu, 02 Dec 2027 06:42:34 GMT"
    both = normalized(200, [("Set-Cookie", f"theme=dark; {expires}; Max-Age=60; Path=/")], b"")
    alone = normalized(200, [("Set-Cookie", f"theme=dark; {expires}; Path=/")], b"")
    assert both.headers == (("set-cookie", "theme=dark; Max-Age=60; Path=/"),)
    assert alone.headers == (("set-cookie", f"theme=dark; Path=/; {expires}"),)


def test_the_entry_point_runs_a_smoke_iteration() -> None:
    command = [sys.executable, "-m", "benchmarks", "inprocess", "--rounds", "1", "--iterations", "2"]
    result = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    for route in ROUTES:
        assert f"| {route} µs (min-max) |" in result.stdout
    for target in TARGETS:
        assert f"| {TARGET_NAMES[target]} |" in result.stdout
    for target in MISSING:
        assert f"{target} left out: " in result.stdout
    for target, route in UNLIKE:
        assert (f"{TARGET_NAMES[target]} on {route}: n/a" in result.stdout) == (target in TARGETS)


@pytest.mark.parametrize(
    ("stack", "routes"),
    [
        ("httptools", list(ROUTES)),
        # asyncweb's form route under granian: see the test below.
        ("granian", [route for route in ROUTES if route != "form"]),
    ],
)
def test_every_server_answers_like_raw(stack: str, routes: list[str]) -> None:
    for module in over_http.STACKS[stack].modules():
        pytest.importorskip(module, reason=f"the {stack} stack needs {module} (pip install -e '.[bench]')")
    with over_http.servers(list(TARGETS), stack) as ports:
        over_http.check(ports, routes, stack)


def test_asyncweb_reads_a_form_under_granian() -> None:
    # granian's receive() gives a future whose __await__ is a plain
    # iterator: the App's body wait stepped it with .send() and answered 500.
    if importlib.util.find_spec("granian") is None:
        pytest.skip("the granian stack needs granian (pip install -e '.[bench]')")
    with over_http.servers(["raw", "asyncweb"], "granian") as ports:
        over_http.check(ports, ["form"], "granian")


def test_the_instruction_counts_start_with_the_trees_sources_compiled(tmp_path: Path) -> None:
    # A new worktree has no .pyc files: the first valgrind run compiled them
    # and counted it, so one route's figure came out at half its cost.
    from benchmarks.instructions import compile_sources

    for folder, name in (("src", "module.py"), ("benchmarks", "bench.py")):
        (tmp_path / folder).mkdir()
        (tmp_path / folder / name).write_text("VALUE = 1\n")
    compile_sources(tmp_path)
    for source in (tmp_path / "src" / "module.py", tmp_path / "benchmarks" / "bench.py"):
        assert Path(importlib.util.cache_from_source(str(source))).is_file()


def test_the_compiled_app_row_runs_the_asyncweb_target_on_the_trees_build(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from benchmarks import instructions

    site = tmp_path / "site"
    monkeypatch.setattr(instructions, "compiled_site", lambda tree, folder: site)
    names = [s.name for s in instructions.scenarios()]
    assert names.index("app/asyncweb-mypyc/query") == names.index("app/asyncweb/query") + 1
    argv, env = instructions.Scenario("app/asyncweb-mypyc/query").run(ROOT, 64, tmp_path)
    assert argv[3:5] == ["asyncweb", "query"]
    assert env["PYTHONPATH"].split(os.pathsep)[0] == str(site)
    _, plain = instructions.Scenario("app/asyncweb/query").run(ROOT, 64, tmp_path)
    assert str(site) not in plain["PYTHONPATH"]


def test_the_fastcgi_cookie_rows_ask_for_the_route_and_skip_a_tree_without_it(tmp_path: Path) -> None:
    from benchmarks import instructions

    argv, _ = instructions.Scenario("fastcgi/uvicorn/cookies").run(ROOT, 64, tmp_path)
    assert argv[argv.index("--servers") + 1] == "uvicorn"
    assert argv[argv.index("--routes") + 1] == "cookies"
    hello, _ = instructions.Scenario("fastcgi/uvicorn").run(ROOT, 64, tmp_path)
    assert "--routes" not in hello  # an older tree's fastcgi.py knows no such option
    old = tmp_path / "old"
    (old / "benchmarks").mkdir(parents=True)
    (old / "benchmarks" / "fastcgi.py").write_text("# a hello-only benchmark\n")
    assert instructions.measure(instructions.Scenario("fastcgi/uvicorn/cookies"), old, 64, tmp_path) is None


@pytest.mark.slow
def test_the_instruction_counts_cover_both_builds_of_the_fastcgi_server() -> None:
    if shutil.which("valgrind") is None:
        pytest.skip("the instruction counts need valgrind (Debian: valgrind)")
    command = [sys.executable, "-m", "benchmarks", "instructions", "--only", "fastcgi/asyncweb", "--requests", "64"]
    result = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=900)
    assert result.returncode == 0, result.stderr
    rows = dict(re.findall(r"^\| (fastcgi/\S+) \| ([\d,]+|n/a) \|$", result.stdout, re.MULTILINE))
    routes = ("", "/cookies")  # hello, and the cookies GET
    builds = ("fastcgi/asyncweb", "fastcgi/asyncweb-mypyc")
    assert set(rows) == {build + route for build in builds for route in routes}, result.stdout
    if rows["fastcgi/asyncweb-mypyc"] == "n/a":
        pytest.skip(f"no mypyc build here: {result.stderr[-500:]}")
    # The compiled rows run the extensions, not the sources beside them.
    for route in routes:
        pure, compiled = (int(rows[build + route].replace(",", "")) for build in builds)
        assert compiled < 0.8 * pure, rows


def test_the_uvicorn_rows_serve_through_uvicorns_protocol_and_refuse_a_reply_unlike_raws(tmp_path: Path) -> None:
    import subprocess

    from benchmarks import instructions

    argv, env = instructions.Scenario("uvicorn/asyncweb/form").run(ROOT, 64, tmp_path)
    assert argv[3:] == ["asyncweb", "form", "64"]
    done = subprocess.run(argv, env=env, cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    # A tree whose target answers otherwise than its raw app: exit 3, which `count` takes as "not counted".
    fake = tmp_path / "fake"
    (fake / "benchmarks").mkdir(parents=True)
    # Its own apps and routes; the rest (the fake transports) from this tree's benchmarks.
    (fake / "benchmarks" / "__init__.py").write_text(f"__path__.append({str(ROOT / 'benchmarks')!r})\n")
    (fake / "benchmarks" / "apps.py").write_text(
        "from benchmarks.routes import ROUTES\n"
        "def answer(text):\n"
        "    async def app(scope, receive, send):\n"
        "        await receive()\n"
        "        await send({'type': 'http.response.start', 'status': 200, 'headers': []})\n"
        "        await send({'type': 'http.response.body', 'body': text})\n"
        "    return app\n"
        "TARGETS = {'raw': answer(b'one'), 'odd': answer(b'other')}\n"
        "def normalized(status, headers, body):\n"
        "    return status, sorted(headers), body\n"
    )
    (fake / "benchmarks" / "routes.py").write_text((ROOT / "benchmarks" / "routes.py").read_text())
    argv, env = instructions.Scenario("uvicorn/odd/hello").run(fake, 64, tmp_path)
    env["PYTHONPATH"] = os.pathsep.join([str(fake), str(ROOT / "src"), str(ROOT)])
    done = subprocess.run(argv, env=env, cwd=fake, capture_output=True, text=True, timeout=120)
    assert done.returncode == 3, done.stderr[-2000:]


@pytest.mark.parametrize("target", ["asyncweb", "ceiling", "falcon"])
def test_the_upload_rows_feed_each_target_a_whole_upload_and_leave_nothing(tmp_path: Path, target: str) -> None:
    import subprocess

    from benchmarks import instructions

    if target == "falcon" and importlib.util.find_spec("falcon") is None:
        pytest.skip("Falcon is a bench extra (pip install -e '.[bench]')")
    argv, env = instructions.Scenario(f"upload/{target}/64").run(ROOT, 64, tmp_path)
    assert argv[3:] == [target, "64", "8"]  # N/8 messages
    env["TMPDIR"] = str(tmp_path)
    done = subprocess.run(argv, env=env, cwd=ROOT, capture_output=True, text=True, timeout=120)
    # Each answer checked against the size sent, and no spool file left in the worker's folder.
    assert done.returncode == 0, done.stderr[-2000:]
    assert list(tmp_path.iterdir()) == []  # nor the folder


def test_the_upload_rows_are_given_against_the_ceiling_and_repeat_their_data() -> None:
    from benchmarks import instructions, upload

    figures: dict[tuple[str, Path], float | None] = {
        ("upload/asyncweb/64", ROOT): 110.0,
        ("upload/ceiling/64", ROOT): 100.0,
    }
    table = instructions.table(["upload/asyncweb/64", "upload/ceiling/64"], [ROOT], figures)
    assert "| upload/asyncweb/64 | 110 (1.10x ceiling) |" in table
    assert "| upload/ceiling/64 | 100 |" in table
    # bytes.find's work depends on the data: the same every run, or counts move.
    assert list(upload.messages(3 * 1024, 1024)) == list(upload.messages(3 * 1024, 1024))
