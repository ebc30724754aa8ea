"""The questions every WSGI server answers. Each test module mixes
`WSGIServerCases` into a Test class and gives it a module-scoped `server`
fixture (`servers.Server`): the site app and the loop app behind one real
server, its error log, its upload folder and its app processes' pids."""

from __future__ import annotations

import io
import os
import socket
from collections.abc import Callable
from contextlib import AbstractContextManager
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest

from tests.hosts.common import Reply, curl
from tests.hosts.conftest import Upload
from tests.support import open_in, wait_until
from tests.wsgi.apps import MiB, site_wsgi
from tests.wsgi.servers import Server, peak_rss_kib

RSS_GROWTH_KIB = 30 * 1024  # the most an app process's peak RSS may grow by for a 50-64 MiB body
ERROR = "RuntimeError: the plain handler failed"  # tests/wsgi_apps.py's /error
BOUNDARY = "wsgiTestBoundary42"
MULTIPART = f"multipart/form-data; boundary={BOUNDARY}"
UPLOAD_TIMEOUT = 120


def multipart_file(content: bytes, name: str = "f", filename: str = "f.bin") -> bytes:
    head = f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="{name}"; filename="{filename}"\r\n'
    head += "Content-Type: application/octet-stream\r\n\r\n"
    return head.encode() + content + f"\r\n--{BOUNDARY}--\r\n".encode()


def in_process(method: str, path: str, body: bytes, content_type: str) -> tuple[int, bytes]:
    """What the same site app answers called in this process, with no server."""
    errors = io.StringIO()
    environ: dict[str, Any] = {
        "REQUEST_METHOD": method,
        "SCRIPT_NAME": "",
        "PATH_INFO": path,
        "QUERY_STRING": "",
        "CONTENT_TYPE": content_type,
        "CONTENT_LENGTH": str(len(body)),
        "SERVER_NAME": "127.0.0.1",
        "SERVER_PORT": "80",
        "SERVER_PROTOCOL": "HTTP/1.1",
        "wsgi.input": io.BytesIO(body),
        "wsgi.errors": errors,
        "wsgi.url_scheme": "http",
        "wsgi.version": (1, 0),
        "wsgi.multithread": False,
        "wsgi.multiprocess": False,
        "wsgi.run_once": False,
    }
    seen: list[str] = []
    result = site_wsgi(environ, lambda status, headers, exc_info=None: seen.append(status))
    data = b"".join(result)
    return int(seen[0].split()[0]), data


def post_file(url: str, path: Path, content_type: str, *args: str) -> Reply:
    return curl(url, "-H", f"Content-Type: {content_type}", "--data-binary", f"@{path}", *args, timeout=UPLOAD_TIMEOUT)


def nothing_left(server: Server) -> bool:
    """The upload folder is empty and no app process holds a file in it."""
    folder = server.upload_dir
    return not any(folder.iterdir()) and not any(open_in(pid, folder) for pid in server.site.pids())


def check_shutdown(make: Callable[[], AbstractContextManager[Server]], stop: Callable[[Server], None] | None) -> None:
    """A server of its own: after a few requests and its stop (`stop`, or
    the context's SIGTERM), each process that ran the startup hook ran the
    shutdown hook, once."""
    with make() as server:
        for _ in range(4):
            assert curl(server.site.url + "/echo").status == 200
        started = server.site.start_lines()
        if stop is not None:
            stop(server)
    assert started and len(started) == len(set(started)), started
    assert wait_until(lambda: sorted(server.site.stop_lines()) == sorted(started), 10), server.site.stop_lines()


def served_file(server: Server, name: str, size: int) -> Path:
    """A file of `size` random bytes that /file/NAME serves."""
    path = server.files_dir / name
    path.write_bytes(os.urandom(size))
    path.chmod(0o644)  # mod_wsgi's daemons run as www-data
    return path


def held_upload(url: str, head: bytes, pieces: list[bytes]) -> socket.socket:
    """A connection that sent `head` and `pieces` of a body and stays open."""
    parts = urlsplit(url)
    sock = socket.create_connection((parts.hostname or "127.0.0.1", parts.port or 80), timeout=30)
    sock.sendall(head)
    for piece in pieces:
        sock.sendall(piece)
    return sock


class WSGIServerCases:
    # -- requests as a browser sends them ---------------------------------------------
    def test_get_with_a_query(self, server: Server) -> None:
        report = curl(server.site.url + "/echo/sub%20dir?a=1&a=2&b&c=%C3%A9").json()
        assert (report["method"], report["path"]) == ("GET", "/echo/sub dir")
        assert report["url"] == server.site.url + "/echo/sub%20dir"
        assert report["query"] == [["a", "1"], ["a", "2"], ["b", None], ["c", "é"]]
        assert dict(report["headers"])["host"] == urlsplit(server.site.url).netloc

    def test_post_urlencoded(self, server: Server) -> None:
        form = ["--data-urlencode", "name=Ada Lovelace", "--data-urlencode", "note=1 + 1 = 2 & more", "-d", "empty="]
        report = curl(server.site.url + "/echo?q=only-in-query", *form).json()
        assert report["method"] == "POST"
        assert report["fields"] == [["name", "Ada Lovelace"], ["note", "1 + 1 = 2 & more"], ["empty", ""]]
        assert report["query"] == [["q", "only-in-query"]]

    def _upload_in_flat_memory(self, server: Server, url: str, upload: Upload, warm: Upload, *args: str) -> Reply:
        """A multipart upload of `upload` (after one of `warm`, so that the
        imports and buffers of a first upload are in the baseline), with
        the app processes' peak RSS growth bounded."""
        assert curl(url + "/warm", "-F", f"f=@{warm.path}", *args).json()["files"][0][1]["size"] == warm.size
        before = {pid: peak_rss_kib(pid) for pid in server.site.pids()}
        form = ["-F", "title=big", "-F", f"upload=@{upload.path};type=application/x-test"]
        reply = curl(url + "/echo", *form, *args, timeout=UPLOAD_TIMEOUT)
        growth = {pid: peak_rss_kib(pid) - peak for pid, peak in before.items()}
        assert max(growth.values()) < RSS_GROWTH_KIB, f"peak RSS grew by {growth} KiB"
        report = reply.json()
        assert report["fields"] == [["title", "big"]]
        described = {"filename": upload.path.name, "content_type": "application/x-test", "size": upload.size}
        assert report["files"] == [["upload", {**described, "sha256": upload.sha256}]]
        assert reply.header("x-spooled") == "1", "the upload was not spooled to the App's upload_dir"
        assert wait_until(lambda: nothing_left(server))
        return reply

    def test_a_50_mib_upload_arrives_byte_for_byte_in_flat_memory(
        self, server: Server, big_upload: Upload, small_upload: Upload
    ) -> None:
        self._upload_in_flat_memory(server, server.site.url, big_upload, small_upload)

    def test_a_chunked_50_mib_upload_arrives_whole_in_flat_memory(
        self, server: Server, big_upload: Upload, small_upload: Upload
    ) -> None:
        chunked = ["-H", "Transfer-Encoding: chunked"]
        self._upload_in_flat_memory(server, server.chunked_url, big_upload, small_upload, *chunked)

    def test_a_chunked_raw_body_arrives_whole(self, server: Server, small_upload: Upload) -> None:
        chunked = ["-H", "Transfer-Encoding: chunked"]
        reply = post_file(server.chunked_url + "/raw", small_upload.path, "application/octet-stream", *chunked)
        assert reply.status == 200
        assert reply.body == small_upload.path.read_bytes()

    # -- responses ------------------------------------------------------------------
    def test_a_streamed_response_arrives_whole(self, server: Server) -> None:
        count = 20_000
        reply = curl(server.site.url + f"/stream?n={count}")
        assert reply.status == 200
        assert reply.body == b"".join(b"%d\n" % i for i in range(count))
        # No Content-Length: the server sent the pieces as they came (chunked).
        assert reply.header("content-length") is None
        assert reply.header("transfer-encoding") == "chunked"

    def test_an_app_on_the_gateways_event_loop(self, server: Server, small_upload: Upload) -> None:
        reply = post_file(server.loop.url + "/", small_upload.path, "application/octet-stream")
        assert (reply.status, reply.body) == (200, b"hi %d" % small_upload.size)
        assert curl(server.loop.url + "/").body == b"hi 0"

    def test_a_handler_error_is_a_clean_500_with_the_traceback_in_the_error_log(self, server: Server) -> None:
        reply = curl(server.site.url + "/error")
        assert (reply.status, reply.body) == (500, b"Internal Server Error\n")
        assert wait_until(lambda: ERROR in server.log_text(), 5), server.log_text()[-3000:]
        assert "Traceback (most recent call last)" in server.log_text()

    # -- bad input: the same answer as in process, and nothing left behind ------------
    def test_a_malformed_multipart_body_is_a_400_and_leaves_nothing(self, server: Server, tmp_path: Path) -> None:
        # 5 MiB of a file (spooled to disk), then the body ends with no closing boundary.
        body = multipart_file(b"\x01" * (5 * MiB))[: -len(BOUNDARY) - 10]
        path = tmp_path / "cut.bin"
        path.write_bytes(body)
        reply = post_file(server.site.url + "/echo", path, MULTIPART)
        expected = in_process("POST", "/echo", body, MULTIPART)
        assert expected[0] == 400
        assert (reply.status, reply.body) == expected
        assert wait_until(lambda: nothing_left(server)), list(server.upload_dir.iterdir())

    def test_an_oversized_upload_is_a_413_and_leaves_nothing(self, server: Server, oversized_upload: Upload) -> None:
        before = {pid: peak_rss_kib(pid) for pid in server.site.pids()}
        reply = curl(server.site.url + "/echo", "-F", f"f=@{oversized_upload.path}", timeout=UPLOAD_TIMEOUT)
        body = multipart_file(oversized_upload.path.read_bytes())
        assert (reply.status, reply.body) == in_process("POST", "/echo", body, MULTIPART)
        assert reply.status == 413
        assert wait_until(lambda: nothing_left(server)), list(server.upload_dir.iterdir())
        growth = {pid: peak_rss_kib(pid) - peak for pid, peak in before.items()}
        assert max(growth.values()) < RSS_GROWTH_KIB, f"peak RSS grew by {growth} KiB"

    def test_too_many_fields_is_a_413_the_client_sees(self, server: Server, tmp_path: Path) -> None:
        path = tmp_path / "fields.txt"
        path.write_bytes(b"a=1&" * 300_000)  # the App's default max_fields is 1000
        reply = post_file(server.site.url + "/echo", path, "application/x-www-form-urlencoded")
        assert (reply.status, reply.body) == (413, b"more than 1000 fields\n")

    @pytest.mark.parametrize("framing", ["content-length", "chunked"])
    def test_a_client_gone_mid_upload_leaves_nothing(self, server: Server, framing: str) -> None:
        self._cut_upload(server, framing)

    @pytest.mark.parametrize("framing", ["content-length", "chunked"])
    def test_a_client_gone_mid_upload_is_no_app_error(self, server: Server, framing: str) -> None:
        logged = len(server.log_text())
        self._cut_upload(server, framing)
        wait_until(lambda: "asyncweb" in server.log_text()[logged:], 2)  # what it logs comes after the cleanup
        new = server.log_text()[logged:]
        assert "ERROR asyncweb" not in new and "Traceback" not in new, new[-3000:]

    def _cut_upload(self, server: Server, framing: str) -> None:
        """4 MiB of a multipart upload, then the client goes away."""
        url = server.site.url if framing == "content-length" else server.chunked_url
        path = urlsplit(url).path + "/echo"
        piece = multipart_file(b"\x02" * (4 * MiB))[: 4 * MiB]  # the head and most of a file part
        if framing == "content-length":
            declared, pieces = f"Content-Length: {20 * MiB}", [piece]
        else:
            declared, pieces = "Transfer-Encoding: chunked", [b"%x\r\n" % len(piece) + piece + b"\r\n"]
        head = f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: {MULTIPART}\r\n{declared}\r\n\r\n"
        sock = held_upload(url, head.encode(), pieces)
        try:
            if not server.buffers_request_body:
                # The app is spooling the file: the check below is not vacuous.
                spooling = lambda: any(open_in(pid, server.upload_dir) for pid in server.site.pids())  # noqa: E731
                assert wait_until(spooling, 10), "the app never opened a spool file"
        finally:
            sock.close()
        assert wait_until(lambda: nothing_left(server), 10), list(server.upload_dir.iterdir())
        assert curl(server.site.url + "/echo").json()["method"] == "GET"  # and it serves on

    # -- files: sent by the server's own wsgi.file_wrapper ------------------------------
    def test_a_file_comes_back_byte_for_byte_by_the_servers_file_wrapper(self, server: Server) -> None:
        path = served_file(server, "download.bin", 5 * MiB + 3)
        for served in (server.site, server.loop):  # the App with no event loop, and on the gateway's loop
            noted = len(served.wrapped_lines())
            reply = curl(served.url + "/file/download.bin")
            assert (reply.status, reply.header("content-length")) == (200, str(path.stat().st_size))
            assert reply.header("content-type") == "application/octet-stream"
            assert reply.body == path.read_bytes()
            # The gateway answered with the server's own wrapper object, which
            # the server sends itself (gunicorn by sendfile).
            [line] = served.wrapped_lines()[noted:]
            pid, wrapper = line.split()
            assert (int(pid) in served.pids(), wrapper) == (True, server.file_wrapper)
        assert wait_until(lambda: not self._files_open(server), 10)

    def test_head_of_a_file_gets_its_length_and_no_body(self, server: Server) -> None:
        path = served_file(server, "head.bin", MiB)
        reply = curl(server.site.url + "/file/head.bin", "--head")
        assert (reply.status, reply.header("content-length"), reply.body) == (200, str(MiB), b"")
        assert curl(server.site.url + "/file/missing.bin").status == 404
        assert wait_until(lambda: not self._files_open(server), 10), path

    def test_a_client_gone_mid_download_leaves_no_file_open(self, server: Server) -> None:
        served_file(server, "large.bin", 64 * MiB)  # more than the socket buffers hold
        for served in (server.site, server.loop):
            parts = urlsplit(served.url)
            sock = socket.create_connection((parts.hostname or "127.0.0.1", parts.port or 80), timeout=30)
            try:
                sock.sendall(f"GET {parts.path}/file/large.bin HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n".encode())
                assert sock.recv(65536).startswith(b"HTTP/1.1 200 ")
                # The server is sending it: the test is not vacuous.
                assert wait_until(lambda: bool(self._files_open(server)), 10), "no app process held the file open"
            finally:
                sock.close()
            assert wait_until(lambda: not self._files_open(server), 10), self._files_open(server)
            assert curl(served.url + "/file/missing.bin").status == 404  # and it serves on

    def _files_open(self, server: Server) -> list[str]:
        """What the app processes (both apps') hold open in the files folder."""
        return [target for pid in server.site.pids() + server.loop.pids() for target in open_in(pid, server.files_dir)]

    def test_a_hop_by_hop_header_from_an_asgi_app_does_not_fail_the_response(self, server: Server) -> None:
        reply = curl(server.site.url + "/hop")  # the App sets Connection: close
        assert (reply.status, reply.body) == (200, b"hop")

    # -- the lifespan -----------------------------------------------------------------
    def test_the_lifespan_runs_once_per_process_not_per_request(self, server: Server) -> None:
        for _ in range(4):
            assert curl(server.site.url + "/echo").status == 200
            assert curl(server.loop.url + "/").status == 200
        for served in (server.site, server.loop):
            lines = served.start_lines()
            assert lines and len(lines) == len(set(lines)), lines
            assert {int(pid) for pid in lines} <= set(served.pids())
