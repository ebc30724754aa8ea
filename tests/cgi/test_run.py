"""`asyncweb.run(app)` picks its mode from how the script was started; the
CGI and terminal modes are tested through lighttpd and the command line,
this is the third: a FastCGI listening socket on fd 0."""

from __future__ import annotations

import json
import shutil
import signal
import socket
import subprocess
import sys

import pytest

from tests.support import ROOT


def test_a_listening_socket_on_fd_0_is_served_as_fastcgi() -> None:
    client = shutil.which("cgi-fcgi")
    if client is None:
        pytest.skip("cgi-fcgi is not installed (.ci/run installs Debian's libfcgi-bin)")
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        port = listener.getsockname()[1]
        # What lighttpd's bin-path or spawn-fcgi do: the socket as stdin.
        app = subprocess.Popen(
            [sys.executable, "examples/cgi_app.py"], stdin=listener.fileno(), stderr=subprocess.PIPE, cwd=ROOT
        )
    try:
        environ = {"REQUEST_METHOD": "GET", "SCRIPT_NAME": "/app", "PATH_INFO": "/echo", "QUERY_STRING": "via=fcgi"}
        environ |= {"SERVER_NAME": "example.org", "SERVER_PORT": "80", "SERVER_PROTOCOL": "HTTP/1.1"}
        result = subprocess.run(
            [client, "-bind", "-connect", f"127.0.0.1:{port}"],
            env=environ,
            stdin=subprocess.DEVNULL,
            capture_output=True,
            timeout=30,
        )
        head, _, body = result.stdout.partition(b"\r\n\r\n")
        assert head.startswith(b"Status: 200 OK\r\n"), result.stdout
        report = json.loads(body)
        assert (report["url"], report["query"]) == ("http://example.org/app/echo", [["via", "fcgi"]])
    finally:
        app.send_signal(signal.SIGTERM)
        _, stderr = app.communicate(timeout=30)
    assert app.returncode == 0, stderr.decode()
