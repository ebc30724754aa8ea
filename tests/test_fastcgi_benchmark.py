"""The FastCGI benchmark (benchmarks/fastcgi.py) on its cookies route: in
process, asyncweb's FastCGI connection and uvicorn's httptools protocol
each answer it rightly, and a wrong reply, first or timed, stops the run;
behind nginx (slow) every server is checked and timed on both routes.
Nothing here is timed."""

from __future__ import annotations

import importlib.util
import re
import signal
import subprocess
import sys

import pytest

pytest.importorskip("starlette", reason="benchmarks/apps.py compares against Starlette (pip install -e '.[test]')")

from asyncweb.types import Message, Receive, Scope, Send
from benchmarks import fastcgi
from tests.fastcgi import servers
from tests.support import ROOT

APP = fastcgi.app  # the tests below put their own in its place
# Written out here rather than taken from benchmarks/apps.py, which the app uses.
SET_COOKIES = (
    "session=3f2a9c0d8e7b6a5f4e3d2c1b0a998877; Path=/; HttpOnly; SameSite=Lax",
    "theme=dark; Path=/; Max-Age=31536000",
    "visits=18; Path=/",
)
# What each server needs beyond asyncweb and uvloop.
MODULES = {"fcgisgi": ("fcgisgi",), "uvicorn": ("uvicorn", "httptools")}


def needs(server: str) -> None:
    for module in MODULES.get(server, ()):
        pytest.importorskip(module, reason=f"{server} needs {module} (pip install -e '.[bench]')")


def sent_cookie() -> str:
    (name, value), *others = fastcgi.GETS["cookies"].headers
    assert name == "Cookie" and not others
    return value


def test_the_cookies_get_sends_ten_cookies_to_either_server() -> None:
    cookie = sent_cookie()
    assert len(cookie.split("; ")) == 10
    assert ("HTTP_COOKIE", cookie) in fastcgi.fastcgi_params(fastcgi.GETS["cookies"])
    assert f"\r\nCookie: {cookie}\r\n".encode() in fastcgi.proxied(fastcgi.GETS["cookies"])
    # The hello GET carries Host alone, as before the cookies route.
    assert fastcgi.proxied(fastcgi.GETS["hello"]) == b"GET / HTTP/1.1\r\nHost: 127.0.0.1:8080\r\n\r\n"


def test_a_reply_is_read_through_nginx_and_refused_unless_whole() -> None:
    # curl -i's view of the reply: nginx's own headers, Set-Cookie in any case.
    seen = b"HTTP/1.1 200 OK\r\nServer: nginx\r\nSet-Cookie: a=1\r\nset-cookie:  b=2\r\nContent-Length: 2\r\n\r\nok"
    assert fastcgi.http_reply(seen) == fastcgi.Reply(200, ("a=1", "b=2"), b"ok")
    right = fastcgi.GETS["cookies"].reply
    fastcgi.expect("uvicorn", "cookies", right)
    for wrong in (
        fastcgi.Reply(500, right.set_cookies, right.body),
        fastcgi.Reply(200, right.set_cookies[:2], right.body),
        fastcgi.Reply(200, right.set_cookies[::-1], right.body),
        fastcgi.Reply(200, right.set_cookies, right.body[:-1]),
    ):
        with pytest.raises(RuntimeError, match="uvicorn answered cookies with"):
            fastcgi.expect("uvicorn", "cookies", wrong)


@pytest.mark.anyio
@pytest.mark.parametrize("server", ["asyncweb", "uvicorn"])
async def test_in_process_each_server_answers_the_cookies_route(server: str, monkeypatch: pytest.MonkeyPatch) -> None:
    needs(server)
    checked: list[fastcgi.Reply] = []
    expect = fastcgi.expect

    def spied(name: str, route: str, reply: fastcgi.Reply) -> None:
        checked.append(reply)
        expect(name, route, reply)

    monkeypatch.setattr(fastcgi, "expect", spied)
    assert await fastcgi.in_process(server, "cookies", 128, 64) > 0
    # The cookies sent, one `name=value` line each, and the three written.
    body = "".join(f"{pair}\n" for pair in sent_cookie().split("; ")).encode()
    assert checked == [fastcgi.Reply(200, SET_COOKIES, body)]


async def drops_a_cookie(scope: Scope, receive: Receive, send: Send) -> None:
    """benchmarks/fastcgi.py's app, less its last Set-Cookie."""

    async def sent(message: Message) -> None:
        if message["type"] == "http.response.start":
            message = {**message, "headers": [h for h in message["headers"] if h[1] != b"visits=18; Path=/"]}
        await send(message)

    await APP(scope, receive, sent)


@pytest.mark.anyio
@pytest.mark.parametrize("server", ["asyncweb", "uvicorn"])
async def test_in_process_a_wrong_first_reply_stops_the_run(server: str, monkeypatch: pytest.MonkeyPatch) -> None:
    needs(server)
    monkeypatch.setattr(fastcgi, "app", drops_a_cookie)
    with pytest.raises(RuntimeError, match=f"{server} answered cookies with Reply"):
        await fastcgi.in_process(server, "cookies", 128, 64)


@pytest.mark.anyio
@pytest.mark.parametrize("server", ["asyncweb", "uvicorn"])
async def test_in_process_a_wrong_timed_reply_stops_the_run(server: str, monkeypatch: pytest.MonkeyPatch) -> None:
    needs(server)
    served = 0

    async def right_once(scope: Scope, receive: Receive, send: Send) -> None:
        # The checked request answered right, the timed ones with hello.
        nonlocal served
        served += 1
        await APP(scope if served == 1 else {**scope, "path": "/"}, receive, send)

    monkeypatch.setattr(fastcgi, "app", right_once)
    with pytest.raises(RuntimeError, match=f"{server} answered cookies with b"):
        await fastcgi.in_process(server, "cookies", 128, 64)
    assert served == 1 + 128


def run_bounded(argv: list[str], timeout: float) -> subprocess.CompletedProcess[str]:
    """`argv` run from the repo root to its end; past `timeout` s, SIGINT to
    its pid, so that it stops the servers and nginx it started, and a fail."""
    with subprocess.Popen(argv, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) as proc:
        try:
            out, err = proc.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            proc.send_signal(signal.SIGINT)
            try:
                out, err = proc.communicate(timeout=60)
            except subprocess.TimeoutExpired:
                proc.kill()
                out, err = proc.communicate()
            pytest.fail(f"{argv} did not end within {timeout} s:\n{out[-2000:]}\n{err[-2000:]}")
    return subprocess.CompletedProcess(argv, proc.returncode, out, err)


@pytest.mark.slow
def test_behind_nginx_every_server_is_checked_and_timed_on_both_routes() -> None:
    for tool in ("nginx", "wrk", "curl"):
        if servers.find(tool) is None:
            pytest.skip(f"the nginx mode needs {tool} (Debian: {tool})")
    pytest.importorskip("uvloop", reason="every server runs on uvloop (pip install -e '.[bench]')")
    names = [name for name in fastcgi.SERVERS if all(map(importlib.util.find_spec, MODULES.get(name, ())))]
    argv = [sys.executable, "benchmarks/fastcgi.py", "--rounds", "1", "--duration", "1", "--upload-mib", "1"]
    result = run_bounded([*argv, "--servers", ",".join(names)], timeout=600)
    assert result.returncode == 0, result.stderr
    if "asyncweb's compiled build skipped" in result.stderr:
        names.remove("asyncweb")
    assert f"replies checked through nginx: hello, cookies from {', '.join(names)}\n" in result.stdout
    for name in names:
        label = re.escape(fastcgi.LABELS[name])
        for route in ("hello", "cookies"):
            ratio = r"\d+\.\d\dx \(\d+\.\d\d-\d+\.\d\d\)" if "uvicorn" in names else "n/a"
            row = rf"^\| {label} \| {route} \| \d+ \| {ratio} \| [\d.]+ ms \| \d+ µs \| \d+ µs \|$"
            assert re.search(row, result.stdout, re.MULTILINE), (row, result.stdout)
        assert re.search(rf"^\| {label} \| \d+ \| \d+ MiB \|$", result.stdout, re.MULTILINE), result.stdout
