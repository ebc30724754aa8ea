"""The debugging mode, through the commands themselves: `asyncweb call`
and a script's `asyncweb.run(app)` started from the command line."""

from __future__ import annotations

import hashlib
import io
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from asyncweb.cgi.call import UsageError, call, parse_call
from tests.support import ROOT


def run(argv: list[str], stdin: str = "") -> subprocess.CompletedProcess[str]:
    # Bytes, then decoded: text mode would turn the response's CRLF into LF.
    result = subprocess.run(argv, input=stdin.encode(), capture_output=True, timeout=30, cwd=ROOT)
    return subprocess.CompletedProcess(argv, result.returncode, result.stdout.decode(), result.stderr.decode())


def command(*args: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
    return run([sys.executable, "-m", "asyncweb", *args], stdin)


def echo(*args: str, stdin: str = "") -> Any:
    result = command("call", "examples.echo:main", *args, stdin=stdin)
    assert result.returncode == 0, result.stderr
    head, _, body = result.stdout.partition("\r\n\r\n")
    assert head.split("\r\n")[0] == "HTTP/1.1 200 OK"
    assert "Content-Type: application/json" in head.split("\r\n")
    return json.loads(body)


def test_get_with_query_fields_headers_and_cookies() -> None:
    report = echo("/a%20b/c?x=1", "name=Ada Lovelace", "empty=", "Cookie:k=v", "X-Forwarded-For: 10.0.0.1")
    assert report["method"] == "GET"
    assert report["path"] == "/a b/c"
    assert report["url"] == "http://localhost/a%20b/c"
    assert report["query"] == [["x", "1"], ["name", "Ada Lovelace"], ["empty", ""]]
    assert report["cookies"] == {"k": "v"}
    assert ["x-forwarded-for", "10.0.0.1"] in report["headers"]


def test_a_typed_query_is_percent_encoded_as_a_browser_does() -> None:
    report = echo("/search?q=café au lait&x=%C3%A9", "Referer: http://exemple.fr/été")
    assert report["query"] == [["q", "café au lait"], ["x", "é"]]
    assert ["referer", "http://exemple.fr/été".encode().decode("latin-1")] in report["headers"]


def test_post_sends_fields_as_an_urlencoded_body() -> None:
    report = echo("POST", "/form", "a=1", "a=2", "url=http://x/?y=z&w")
    assert report["method"] == "POST"
    assert report["query"] == []
    assert report["fields"] == [["a", "1"], ["a", "2"], ["url", "http://x/?y=z&w"]]
    assert ["content-type", "application/x-www-form-urlencoded"] in report["headers"]


def test_fields_from_stdin_in_the_peps_syntax() -> None:
    report = echo("/search", stdin="q=asyncweb\nflag\nlang=fr\r\n\n")
    assert report["fields"] == [["q", "asyncweb"], ["flag", None], ["lang", "fr"]]


def test_stdin_is_ignored_when_the_command_line_has_fields() -> None:
    report = echo("/search", "q=1", stdin="ignored=yes\n")
    assert report["fields"] == [["q", "1"]]


def test_file_uploads_with_at_paths(tmp_path: Path) -> None:
    data = bytes(range(256)) * 1000
    upload = tmp_path / "data.bin"
    upload.write_bytes(data)
    note = tmp_path / "note.txt"
    note.write_text("hello\n")
    report = echo("/upload", "title=two files", f"blob=@{upload}", "literal=@@home", stdin=f"ignored=@{note}\n")
    assert report["method"] == "POST"  # uploads need a body
    assert report["fields"] == [["title", "two files"], ["literal", "@home"]]
    sha = hashlib.sha256(data).hexdigest()
    meta = {"filename": "data.bin", "content_type": "application/octet-stream", "size": len(data), "sha256": sha}
    assert report["files"] == [["blob", meta]]


def test_file_uploads_from_stdin(tmp_path: Path) -> None:
    note = tmp_path / "note.txt"
    note.write_text("hello\n")
    report = echo("PUT", "/upload", stdin=f"who=me\nnote=@{note}\n")
    assert report["method"] == "PUT"
    assert report["fields"] == [["who", "me"]]
    sha = hashlib.sha256(b"hello\n").hexdigest()
    assert report["files"] == [
        ["note", {"filename": "note.txt", "content_type": "text/plain", "size": 6, "sha256": sha}]
    ]


def sha256_report(result: subprocess.CompletedProcess[str]) -> str:
    """examples/cgi_app.py's /sha256 answer: the body's size and hash."""
    assert result.returncode == 0, result.stderr
    return result.stdout.partition("\r\n\r\n")[2].removesuffix("\n")  # print()'s newline


def test_a_raw_body_from_a_file_typed_by_its_extension(tmp_path: Path) -> None:
    data = json.dumps({"items": list(range(20_000))}).encode()  # several read chunks
    (tmp_path / "order.json").write_bytes(data)
    report = sha256_report(command("call", "examples.cgi_app:main", "/sha256", f"@{tmp_path / 'order.json'}"))
    assert report == f"{len(data)} {hashlib.sha256(data).hexdigest()}\n"
    echoed = echo("PUT", "/x", f"@{tmp_path / 'order.json'}")
    assert (echoed["method"], echoed["fields"]) == ("PUT", [])
    assert ["content-type", "application/json"] in echoed["headers"]


def test_a_compressed_raw_body_is_not_typed_as_its_content(tmp_path: Path) -> None:
    (tmp_path / "order.json.gz").write_bytes(b"\x1f\x8b not really gzip")
    echoed = echo("/x", f"@{tmp_path / 'order.json.gz'}")
    assert ["content-type", "application/octet-stream"] in echoed["headers"]


def test_a_raw_body_from_a_text_stdin_in_process() -> None:
    from asyncweb.cgi.call import build_request, parse_call

    seen: list[bytes] = []

    async def app(scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] == "http":
            seen.append((await receive())["body"])
            await send({"type": "http.response.start", "status": 204, "headers": []})
            await send({"type": "http.response.body"})

    assert call(app, ["/x", "@-"], stdin=io.StringIO('{"a": "é"}')) == 0
    assert seen == ['{"a": "é"}'.encode()]
    assert build_request(parse_call(["/x", "@-"])).length == 0  # nothing given: an empty body


def test_a_raw_body_from_stdin_with_its_content_type() -> None:
    data = '{"ping": "été"}'
    report = sha256_report(command("call", "examples.cgi_app:main", "/sha256", "@-", stdin=data))
    assert report == f"{len(data.encode())} {hashlib.sha256(data.encode()).hexdigest()}\n"
    echoed = echo("/x", "@-", "Content-Type: application/json", stdin=data)
    assert echoed["method"] == "POST"
    assert ["content-type", "application/json"] in echoed["headers"]
    assert ["content-length", str(len(data.encode()))] in echoed["headers"]


def test_script_debug_mode_prints_the_traceback_and_exits_1_on_error() -> None:
    result = run([sys.executable, "examples/cgi_app.py", "/error"])
    assert result.returncode == 1
    assert result.stdout.startswith("HTTP/1.1 500 Internal Server Error\r\n")
    assert "Traceback (most recent call last)" in result.stderr
    assert "RuntimeError: this traceback goes to the server's error log" in result.stderr


def test_what_the_handler_logs_reaches_the_terminal() -> None:
    script = (
        "import asyncweb\n"
        "async def handler(request, response, log):\n"
        "    log.info('looking up %s', request.get_field('id'))\n"
        "asyncweb.run(asyncweb.App(handler))\n"
    )
    result = run([sys.executable, "-c", script, "/item", "id=42"])
    assert result.returncode == 0
    assert "INFO asyncweb: looking up 42" in result.stderr


def test_script_debug_mode_shows_redirects_and_cookies() -> None:
    args = [sys.executable, "examples/cgi_app.py", "GET", "/cookie", "flavour=oat"]
    result = run(args)
    assert result.returncode == 0, result.stderr
    assert "Set-Cookie: flavour=oat; Path=/; HttpOnly\r\n" in result.stdout
    result = run([*args[:2], "https://example.org:8443/redirect"])
    assert result.stdout.startswith("HTTP/1.1 302 Found\r\n")
    assert "Location: https://example.org:8443/echo?from=redirect\r\n" in result.stdout


def test_4xx_exits_1_for_any_asgi_app() -> None:
    result = command("call", "examples.starlette_mount:main", "/missing")
    assert result.returncode == 1
    assert result.stdout.startswith("HTTP/1.1 404 Not Found\r\n")
    result = command("call", "examples.starlette_mount:main", "/legacy/report")
    assert result.returncode == 0
    assert "path: /report\n" in result.stdout


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["POST", "/x", "f=@/nonexistent/file"], "no such file"),
        (["HEAD", "/x", "f=@/etc/hostname"], "needs a request body"),
        (["GET", "/x", "@/etc/hostname"], "needs a request body"),
        (["/x", "@/nonexistent/body.json"], "no such file"),
        (["/x", "a=1", "@/etc/hostname"], "cannot go together"),
        (["/x", "@/etc/hostname", "@-"], "one raw body"),
        (["/x", "not-an-item"], "neither name=value"),
        (["/x", "Bad Header:1"], "invalid header name"),
    ],
)
def test_bad_command_lines_exit_2(args: list[str], message: str) -> None:
    result = command("call", "examples.echo:main", *args)
    assert result.returncode == 2
    assert message in result.stderr
    assert result.stdout == ""


def test_unknown_app_exits_2() -> None:
    result = command("call", "examples.nothing:main", "/")
    assert result.returncode == 2
    assert "no module named 'examples.nothing'" in result.stderr


def test_parse_call_tells_fields_headers_and_files_apart() -> None:
    call = parse_call(["DELETE", "http://h/p", "a=b:c", "X-A:b=c", "f=@x", "Host: h:1"])
    assert (call.method, call.target) == ("DELETE", "http://h/p")
    assert call.fields == [("a", "b:c")]
    assert call.headers == [("X-A", "b=c"), ("Host", "h:1")]
    assert call.files == [("f", "x")]
    with pytest.raises(UsageError):
        parse_call(["/p", "lonely"])


def test_print_in_a_handler_goes_to_stderr_marked_as_a_host_would_log_it(tmp_path: Path) -> None:
    (tmp_path / "printing.py").write_text(
        "from asyncweb import App\n\n"
        "def handler(request, response, log):\n"
        "    print('debugging', request.path)\n"
        "    print('two\\nlines')\n"
        "    response.set_body('the response')\n\n"
        "main = App(handler)\n"
    )
    result = command("call", "printing:main", "/p", "--app-dir", str(tmp_path))
    assert result.returncode == 0
    assert result.stdout.startswith("HTTP/1.1 200 OK\r\n") and "debugging" not in result.stdout
    assert "[app stdout] debugging /p\n[app stdout] two\n[app stdout] lines\n" in result.stderr


def test_dump_lists_the_files_too() -> None:
    out = io.StringIO()
    import contextlib

    from asyncweb import App, Request, Response

    def handler(request: Request, response: Response, log: object) -> None:
        response.set_body(request.dump())

    with contextlib.redirect_stdout(out), __import__("tempfile").TemporaryDirectory() as folder:
        Path(folder, "a.txt").write_text("hello")
        assert call(App(handler), ["POST", "/", f"doc=@{folder}/a.txt", "t=1"], stdin=io.StringIO()) == 0
    dump = out.getvalue()
    assert "files:\n  doc: 'a.txt' (text/plain, 5 bytes)" in dump and "fields:\n  t: '1'" in dump
