"""`asyncweb fastcgi MODULE:APP ...` as a deployer runs it: sockets, signals,
an inherited listening socket on fd 0, and errors on the command line."""

from __future__ import annotations

import json
import os
import signal
import socket
import stat
import subprocess
import time
from pathlib import Path

import httpx
import pytest

from asyncweb._importer import AppImportError, import_app
from asyncweb.fastcgi import is_listening_socket
from tests.fastcgi import servers, wire
from tests.support import ROOT, free_port, wait_for

APP = "tests.fastcgi.apps:app"


def fcgi_request(sock: socket.socket, path: str, timeout: float = 10) -> wire.Response:
    """One request on a blocking socket, read until END_REQUEST."""
    sock.settimeout(timeout)
    params = [("REQUEST_METHOD", "GET"), ("SCRIPT_NAME", ""), ("PATH_INFO", path.partition("?")[0])]
    params.append(("QUERY_STRING", path.partition("?")[2]))
    sock.sendall(wire.request(1, params, keep_conn=False))
    data = b""
    while (found := wire.collect(wire.parse(data)[0], 1)) is None:
        chunk = sock.recv(65536)
        assert chunk, "closed before END_REQUEST"
        data += chunk
    return found


def connect_unix(path: Path) -> socket.socket:
    sock = socket.socket(socket.AF_UNIX)
    sock.connect(str(path))
    return sock


def cli(*args: str, stdin: int | None = None) -> subprocess.Popen[bytes]:
    argv = [servers.PYTHON, "-m", "asyncweb", "fastcgi", *args]
    return subprocess.Popen(argv, cwd=ROOT, stdin=stdin, stderr=subprocess.PIPE)


def finish(proc: subprocess.Popen[bytes], timeout: float = 15) -> tuple[int, str]:
    try:
        _, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        _, err = proc.communicate()
        raise
    return proc.returncode, err.decode()


def test_unix_socket_mode_stale_file_and_graceful_sigterm(tmp_path: Path) -> None:
    path = tmp_path / "app.sock"
    stale = socket.socket(socket.AF_UNIX)
    stale.bind(str(path))  # a dead server's leftover: bound, nobody listening
    stale.close()
    proc = cli(APP, "--bind", f"unix:{path}", "--socket-mode", "600", "--shutdown-timeout", "10")
    try:
        wait_for(lambda: _listening(path), 20, "the server")
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
        with connect_unix(path) as slow:
            params = [("REQUEST_METHOD", "GET"), ("PATH_INFO", "/slow"), ("QUERY_STRING", "seconds=1")]
            slow.sendall(wire.request(1, params, keep_conn=False))
            time.sleep(0.2)
            os.kill(proc.pid, signal.SIGTERM)
            data = b""
            slow.settimeout(10)
            while chunk := slow.recv(65536):
                data += chunk
        response = wire.collect(wire.parse(data)[0], 1)
        assert response is not None and response.status == 200
        assert json.loads(response.body)["path"] == "/slow"
        code, err = finish(proc)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert code == 0, err
    assert "shutting down" in err
    assert not path.exists()  # the server removed its socket


def _listening(path: Path) -> bool:
    try:
        connect_unix(path).close()
    except OSError:
        return False
    return True


def test_refuses_a_socket_another_server_listens_on(tmp_path: Path) -> None:
    path = tmp_path / "busy.sock"
    with socket.socket(socket.AF_UNIX) as busy:
        busy.bind(str(path))
        busy.listen()
        code, err = finish(cli(APP, "--bind", f"unix:{path}"))
    assert code == 1
    assert "another server is listening" in err


def test_inherited_listening_socket_on_fd_0(tmp_path: Path) -> None:
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen()
    address = listener.getsockname()
    # No --bind: a listening socket on stdin is what a spawning server passes.
    proc = cli(APP, stdin=listener.fileno())
    listener.close()
    try:
        with socket.create_connection(address, timeout=10) as sock:
            response = fcgi_request(sock, "/echo?q=1", timeout=20)
        assert json.loads(response.body)["query_string"] == "q=1"
        proc.send_signal(signal.SIGTERM)
        code, err = finish(proc)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert code == 0, err
    assert f"serving FastCGI on 127.0.0.1:{address[1]}" in err


def test_is_listening_socket() -> None:
    with socket.socket() as listener, socket.socket() as plain:
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        assert is_listening_socket(listener.fileno())
        assert not is_listening_socket(plain.fileno())
    read_end, write_end = os.pipe()
    try:
        assert not is_listening_socket(read_end)
    finally:
        os.close(read_end)
        os.close(write_end)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ([APP], "give --bind"),
        (["no_such_module_xyz:app", "--bind", "127.0.0.1:1"], "no module named 'no_such_module_xyz'"),
        (["tests.fastcgi.apps:nothing", "--bind", "127.0.0.1:1"], "has no attribute 'nothing'"),
        (["tests.fastcgi.apps", "--bind", "127.0.0.1:1"], "expected MODULE:APP"),
        ([APP, "--bind", "somewhere"], "bind must be unix:/path, HOST:PORT or fd:N"),
        ([APP, "--socket-mode", "999"], "not an octal mode"),
    ],
)
def test_command_line_errors(args: list[str], message: str) -> None:
    code, err = finish(cli(*args, stdin=subprocess.DEVNULL))
    assert code in (1, 2)
    assert message in err


def test_import_app_reports_missing_imports_inside_the_module(tmp_path: Path) -> None:
    (tmp_path / "brokenapp_fcgi.py").write_text("import not_installed_pkg_xyz\napp = None\n")
    with pytest.raises(ModuleNotFoundError, match="not_installed_pkg_xyz"):
        import_app("brokenapp_fcgi:app", app_dir=str(tmp_path))
    (tmp_path / "valueapp_fcgi.py").write_text("app = 42\n")
    with pytest.raises(AppImportError, match="not callable"):
        import_app("valueapp_fcgi:app", app_dir=str(tmp_path))


def test_lighttpd_spawns_the_app_on_fd_0(tmp_path: Path) -> None:
    """lighttpd's bin-path: lighttpd binds the socket and starts the app with
    it on fd 0, the classic way to run a FastCGI application."""
    binary = servers.find("lighttpd")
    if binary is None:
        pytest.skip("lighttpd not installed")
    port = free_port()
    sock = tmp_path / "spawned.sock"
    command = f"{servers.PYTHON} -m asyncweb fastcgi {APP} --app-dir {ROOT}"
    config = servers.lighttpd_config(tmp_path, port, [servers.Mount("", sock)])
    spawn = f'"socket" => "{sock}", "bin-path" => "{command}", "max-procs" => 1'
    config = config.replace(f'"socket" => "{sock}"', spawn)
    with servers.lighttpd(tmp_path, config, port):
        reply = httpx.get(f"http://127.0.0.1:{port}/echo?spawned=1", timeout=30)
    assert reply.status_code == 200, reply.text
    assert reply.json()["query_string"] == "spawned=1"
