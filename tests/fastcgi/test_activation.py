"""Socket activation, systemd's way: `asyncweb fastcgi` serving the socket
it was passed as fd 3 with LISTEN_PID and LISTEN_FDS, and a second server
taking over that socket, which the parent (here the test, in production
the init system) keeps open, with no connection refused in between."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from tests.fastcgi import servers
from tests.fastcgi.test_cli import fcgi_request, finish
from tests.support import ROOT, wait_for

APP = "tests.fastcgi.apps:app"

# What systemd does between fork and exec: the socket moved to fd 3, and
# LISTEN_PID set to the pid of the process that will run (exec keeps it),
# as `sh -c 'LISTEN_PID=$$ LISTEN_FDS=1 exec ...'` would, with the dup2 a
# shell cannot do for a descriptor above 9. argv: the socket's fd here,
# LISTEN_PID ("" for our own), LISTEN_FDS, then the command.
LAUNCH = """
import os, sys
fd, pid, count, command = int(sys.argv[1]), sys.argv[2], sys.argv[3], sys.argv[4:]
for target in range(3, 3 + int(count)):  # LISTEN_FDS=2: the same socket twice
    os.dup2(fd, target)
if not 3 <= fd < 3 + int(count):
    os.close(fd)
os.environ.update(LISTEN_PID=pid or str(os.getpid()), LISTEN_FDS=count, LISTEN_FDNAMES="app")
os.execv(command[0], command)
"""


def activated(
    sock: socket.socket, *command: str, listen_pid: str = "", listen_fds: str = "1", **options: object
) -> subprocess.Popen[bytes]:
    """`command` started as a .socket unit starts its service, `sock` as fd 3."""
    argv = [sys.executable, "-c", LAUNCH, str(sock.fileno()), listen_pid, listen_fds, *command]
    options.setdefault("stderr", subprocess.PIPE)
    proc: subprocess.Popen[bytes] = subprocess.Popen(argv, cwd=ROOT, pass_fds=(sock.fileno(),), **options)  # type: ignore[call-overload]
    return proc


def fastcgi(*args: str) -> list[str]:
    return [servers.PYTHON, "-m", "asyncweb", "fastcgi", APP, *args]


@contextmanager
def unix_listener(path: Path) -> Iterator[socket.socket]:
    sock = socket.socket(socket.AF_UNIX)
    sock.bind(str(path))
    sock.listen(128)
    try:
        yield sock
    finally:
        sock.close()


def connect(path: Path) -> socket.socket:
    client = socket.socket(socket.AF_UNIX)
    client.connect(str(path))
    return client


def test_the_socket_is_fd_3_close_on_exec_and_the_variables_are_gone(tmp_path: Path) -> None:
    probe = (
        "import json, os; from asyncweb.fastcgi import listen\n"
        "sock = listen('systemd')\n"
        "print(json.dumps([sock.fileno(), os.get_inheritable(3), sock.getsockname(),"
        " sorted(k for k in os.environ if k.startswith('LISTEN_'))]))"
    )
    with unix_listener(tmp_path / "probe.sock") as sock:
        proc = activated(sock, sys.executable, "-c", probe, stdout=subprocess.PIPE)
        out, err = proc.communicate(timeout=30)
    assert proc.returncode == 0, err.decode()
    assert json.loads(out) == [3, False, str(tmp_path / "probe.sock"), []]


def test_serves_the_passed_socket_and_a_restart_refuses_no_connection(tmp_path: Path) -> None:
    """The first server is asked for `--bind systemd`, the second finds the
    socket by itself (no --bind). Between the first one's exit and the second
    one's start, connections wait in the backlog of the socket the parent
    holds: a client connecting all along is never refused."""
    path = tmp_path / "app.sock"
    outcomes: Counter[str] = Counter()
    stop = threading.Event()

    def client() -> None:
        while not stop.is_set():
            try:
                with connect(path) as conn:
                    response = fcgi_request(conn, "/echo?restart=1", timeout=30)
                outcomes["ok" if response.status == 200 else f"status {response.status}"] += 1
            except ConnectionRefusedError:
                outcomes["refused"] += 1
            except FileNotFoundError:
                outcomes["socket file gone"] += 1
            except AssertionError:  # closed before END_REQUEST
                outcomes["unanswered"] += 1
            except OSError as exc:  # reset, timed out
                outcomes[f"{type(exc).__name__}: {exc}"] += 1

    with unix_listener(path) as sock:
        first = activated(sock, *fastcgi("--bind", "systemd", "--shutdown-timeout", "10"))
        second: subprocess.Popen[bytes] | None = None
        thread = threading.Thread(target=client)
        try:
            with connect(path) as conn:
                assert json.loads(fcgi_request(conn, "/echo?q=1", timeout=30).body)["query_string"] == "q=1"
            thread.start()
            wait_for(lambda: outcomes["ok"] >= 20, 20, "requests through the first server")
            first.send_signal(signal.SIGTERM)
            first_code, first_err = finish(first)
            served_by_first = outcomes["ok"]
            assert path.exists()  # the server's shutdown leaves the unit's socket file alone
            time.sleep(0.5)  # a restart's gap: clients queue in the backlog meanwhile
            second = activated(sock, *fastcgi())
            wait_for(lambda: outcomes["ok"] >= served_by_first + 20, 30, "requests through the second server")
            stop.set()
            thread.join(30)
            second.send_signal(signal.SIGTERM)
            second_code, second_err = finish(second)
        finally:
            stop.set()
            for proc in (first, second):
                if proc is not None and proc.poll() is None:
                    proc.kill()
                    proc.wait()
    assert first_code == 0, first_err
    assert second_code == 0, second_err
    assert f"serving FastCGI on unix:{path}" in first_err
    assert f"serving FastCGI on unix:{path}" in second_err
    # Not even a connection the first server had accepted but read no
    # request from when the signal came goes unanswered: its request is read
    # before the idle close. No connection was refused, reset, or hung.
    assert set(outcomes) == {"ok"}, outcomes


def test_listen_pid_of_another_process_is_ignored(tmp_path: Path) -> None:
    with unix_listener(tmp_path / "other.sock") as sock:
        # Variables a parent left for itself: not ours, so no --bind means
        # none (stdin is no socket either) ...
        other = str(os.getpid())
        proc = activated(sock, *fastcgi(), listen_pid=other, stdin=subprocess.DEVNULL)
        code, err = finish(proc)
        assert code == 2
        assert "give --bind" in err
        # ... and asking for the systemd socket is refused, not served.
        code, err = finish(activated(sock, *fastcgi("--bind", "systemd"), listen_pid=other))
    assert code == 1
    assert "no socket was passed to this process" in err


def test_bind_systemd_without_a_socket_is_refused() -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("LISTEN_")}
    argv = fastcgi("--bind", "systemd")
    proc = subprocess.Popen(argv, cwd=ROOT, env=env, stdin=subprocess.DEVNULL, stderr=subprocess.PIPE)
    code, err = finish(proc)
    assert code == 1
    assert "cannot serve: systemd socket activation: no socket was passed to this process" in err


@pytest.mark.parametrize(
    ("listen_fds", "kind", "message"),
    [
        ("2", "listening", "2 sockets were passed (LISTEN_FDS=2)"),
        ("1", "connected", "fd 3 is not a listening stream socket"),
        ("1", "pipe", "fd 3 is not a socket"),
    ],
)
def test_what_cannot_be_served_is_refused(tmp_path: Path, listen_fds: str, kind: str, message: str) -> None:
    read_end, write_end = os.pipe()
    with unix_listener(tmp_path / "x.sock") as listener, connect(tmp_path / "x.sock") as connected:
        passed = {"listening": listener, "connected": connected}.get(kind)
        fd = passed.fileno() if passed is not None else read_end
        argv = [sys.executable, "-c", LAUNCH, str(fd), "", listen_fds, *fastcgi()]
        proc = subprocess.Popen(argv, cwd=ROOT, pass_fds=(fd,), stderr=subprocess.PIPE)
        code, err = finish(proc)
    os.close(read_end)
    os.close(write_end)
    assert code == 1
    assert message in err


def test_a_tcp_socket_is_found_without_bind(tmp_path: Path) -> None:
    """The TCP flavour of a .socket unit (ListenStream=127.0.0.1:PORT),
    found with no --bind, with the app's lifespan run as usual."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        address = sock.getsockname()
        proc = activated(sock, *fastcgi())
        try:
            with socket.create_connection(address, timeout=20) as conn:
                response = fcgi_request(conn, "/echo?tcp=1", timeout=30)
            report = json.loads(response.body)
            proc.send_signal(signal.SIGTERM)
            code, err = finish(proc)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
    assert (response.status, report["query_string"], report["state"]) == (200, "tcp=1", ["started"])
    assert code == 0, err
    assert f"serving FastCGI on 127.0.0.1:{address[1]}" in err
