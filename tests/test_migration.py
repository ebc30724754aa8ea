"""docs/migrating-from-cgi.md and its examples, run.

- Every ```python block of the guide runs. The HTML comment on the line
  before a block says how: none, a whole program (run, must exit 0);
  `<!-- fragment -->`, compiled only; `<!-- file: PATH -->`, the file at
  PATH verbatim (the examples, run below); `<!-- cgi-script -->`, a CGI
  script answering the CGI walkthrough's requests as
  examples/fieldstorage_cgi.py does; `<!-- legacy KIND -->`, the old
  `cgi.FieldStorage` code of a walkthrough (`cgi-script`, `http-server`,
  `wsgi`), run against the same requests as its port, which must answer
  the same; a bare `<!-- legacy -->` is an old program run as it is.
- The examples run for real: the CGI script in a subprocess with a CGI
  environment and stdin, the http.server one as a server process on a free
  port hit by httpx, the WSGI one through wsgiref.validate and under
  wsgiref.simple_server in a thread.
- The idiom table: one check per row (the key is the row's first cell),
  feeding the same requests (a query, an urlencoded body, a multipart body
  with a repeated name and files) to the old `cgi.FieldStorage` and to
  `asyncweb.parse_request`, asserting what the row says.

The old code needs the `cgi` module: Python 3.11 and 3.12 have it (with a
DeprecationWarning), 3.13 only through the legacy-cgi package; without
it those tests skip.
"""

from __future__ import annotations

import contextlib
import hashlib
import html
import io
import json
import os
import re
import selectors
import shutil
import socket
import subprocess
import sys
import threading
import urllib.parse
import warnings
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from email.message import EmailMessage
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import ModuleType
from typing import Any
from wsgiref.simple_server import WSGIRequestHandler, make_server
from wsgiref.types import WSGIApplication
from wsgiref.util import setup_testing_defaults
from wsgiref.validate import validator

import httpx
import pytest

import asyncweb
from asyncweb import App, Limits, MultiDict, Request, UploadFile
from examples.fieldstorage_cgi import FORM as FEEDBACK_FORM
from examples.wsgi_form import PAGE as SIGNUP_PAGE
from examples.wsgi_form import application as signup_app
from tests.support import ROOT, stop_process

GUIDE = ROOT / "docs" / "migrating-from-cgi.md"
CORPUS = ROOT.parent / "shared" / "corpus" / "cpython" / "cgi-constants.json"
EXAMPLES = {
    "cgi-script": ROOT / "examples" / "fieldstorage_cgi.py",
    "http-server": ROOT / "examples" / "http_server_upload.py",
    "wsgi": ROOT / "examples" / "wsgi_form.py",
}


def _import_cgi() -> ModuleType | None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        try:
            import cgi
            import cgitb  # noqa: F401 - the old scripts import it too
        except ImportError:
            return None
    return cgi


CGI_MODULE = _import_cgi()
NO_CGI = "no `cgi` module: Python 3.13 and later need the legacy-cgi package (pip install legacy-cgi)"


def old_cgi() -> Any:
    """The stdlib's (or legacy-cgi's) `cgi` module, or a skip."""
    if CGI_MODULE is None:
        pytest.skip(NO_CGI)
    return CGI_MODULE


# -- the guide's blocks ------------------------------------------------------------
@dataclass(frozen=True)
class Block:
    line: int  # of the block's first line of code
    marker: str
    source: str


def guide_blocks() -> list[Block]:
    lines = GUIDE.read_text(encoding="utf-8").splitlines(keepends=True)
    blocks: list[Block] = []
    marker = ""
    index = 0
    while index < len(lines):
        line = lines[index]
        if match := re.fullmatch(r"<!-- (.+?) -->\n", line):
            marker = match.group(1)
        elif line.startswith("```python"):
            end = index + 1
            while not lines[end].startswith("```"):
                end += 1
            blocks.append(Block(index + 2, marker, "".join(lines[index + 1 : end])))
            marker = ""
            index = end
        elif line.strip():
            marker = ""  # a marker is the line right before its block
        index += 1
    return blocks


BLOCKS = guide_blocks()


def block_id(block: Block) -> str:
    return f"line{block.line}-{block.marker.replace(' ', '-').replace('/', '-') or 'program'}"


def test_the_guide_has_every_kind_of_block() -> None:
    markers = {block.marker for block in BLOCKS}
    expected = {"", "cgi-script", "legacy cgi-script", "legacy http-server", "legacy wsgi"}
    assert expected | {f"file: examples/{path.name}" for path in EXAMPLES.values()} <= markers
    known = re.compile(r"(|fragment|cgi-script|legacy|legacy (cgi-script|http-server|wsgi)|file: [\w/.-]+)")
    assert all(known.fullmatch(block.marker) for block in BLOCKS), [b.marker for b in BLOCKS]


@pytest.mark.parametrize("block", BLOCKS, ids=block_id)
def test_guide_block(block: Block, tmp_path: Path) -> None:
    code = compile(block.source, f"{GUIDE.name}:{block.line}", "exec")
    marker = block.marker
    if marker == "fragment":
        return
    if marker.startswith("file: "):
        assert block.source == (ROOT / marker.removeprefix("file: ")).read_text(encoding="utf-8")
        return
    if marker == "cgi-script":
        script = tmp_path / "script.py"
        script.write_text(block.source, encoding="utf-8")
        check_feedback_script(script, tmp_path)
        return
    if marker.startswith("legacy"):
        old_cgi()
    if marker == "legacy cgi-script":
        script = tmp_path / "old_feedback.py"
        script.write_text(block.source, encoding="utf-8")
        check_feedback_script(script, tmp_path, legacy=True)
    elif marker == "legacy http-server":
        script = tmp_path / "old_upload.py"
        script.write_text(block.source, encoding="utf-8")
        compare_upload_servers(script, tmp_path)
    elif marker == "legacy wsgi":
        namespace: dict[str, Any] = {"__name__": "legacy_wsgi"}
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)
            exec(code, namespace)
        compare_signup_apps(namespace["application"])
    else:  # a whole program, old ("legacy") or new
        script = tmp_path / "program.py"
        script.write_text(block.source, encoding="utf-8")
        result = subprocess.run([sys.executable, str(script)], cwd=tmp_path, capture_output=True, timeout=60)
        assert result.returncode == 0, result.stderr.decode(errors="replace")


# -- requests, for FieldStorage and parse_request alike ------------------------------
BOUNDARY = "migration-guide-boundary"
URLENCODED = "application/x-www-form-urlencoded"


@dataclass(frozen=True)
class Part:
    name: str
    content: bytes
    filename: str | None = None
    content_type: str | None = None
    headers: tuple[str, ...] = ()


def multipart(*parts: Part, newline: bytes = b"\r\n") -> tuple[str, bytes]:
    """(CONTENT_TYPE, body) of a multipart/form-data body."""
    out = []
    for part in parts:
        disposition = f'Content-Disposition: form-data; name="{part.name}"'
        if part.filename is not None:
            disposition += f'; filename="{part.filename}"'
        lines = [disposition.encode()]
        if part.content_type:
            lines.append(f"Content-Type: {part.content_type}".encode())
        lines += [header.encode() for header in part.headers]
        out.append(b"--" + BOUNDARY.encode() + newline + newline.join(lines) + newline * 2 + part.content + newline)
    return f"multipart/form-data; boundary={BOUNDARY}", b"".join(out) + b"--" + BOUNDARY.encode() + b"--" + newline


_opened: list[Request] = []


@pytest.fixture(autouse=True)
def _close_requests() -> Iterator[None]:
    yield
    while _opened:
        _opened.pop().close()


@dataclass(frozen=True)
class Same:
    """One request, for the old parser and the new one alike."""

    method: str
    query: str = ""
    content_type: str | None = None
    body: bytes = b""
    extra: dict[str, str] = field(default_factory=dict)

    def environ(self) -> dict[str, str]:
        environ = {
            "GATEWAY_INTERFACE": "CGI/1.1",
            "SERVER_PROTOCOL": "HTTP/1.1",
            "SERVER_NAME": "example.org",
            "SERVER_PORT": "80",
            "SCRIPT_NAME": "/form.py",
            "PATH_INFO": "",
            "REQUEST_METHOD": self.method,
            "QUERY_STRING": self.query,
        }
        if self.content_type is not None:
            environ["CONTENT_TYPE"] = self.content_type
        if self.body or self.method == "POST":
            environ["CONTENT_LENGTH"] = str(len(self.body))
        return environ | self.extra

    def old(self, **options: Any) -> Any:
        return old_cgi().FieldStorage(fp=io.BytesIO(self.body), environ=self.environ(), **options)

    def new(self, **options: Any) -> Request:
        request = asyncweb.parse_request(self.environ(), io.BytesIO(self.body), **options)
        _opened.append(request)
        return request


def post(query: str, *parts: Part) -> Same:
    content_type, body = multipart(*parts)
    return Same("POST", query, content_type, body)


FIELDS = "name=Ann&topic=docs&topic=bugs&blank=&bare"
REQUESTS = {
    "query": Same("GET", FIELDS),
    "urlencoded": Same("POST", "source=web", URLENCODED, FIELDS.encode()),
    "multipart": post(
        "source=web",
        Part("name", b"Ann"),
        Part("topic", b"docs"),
        Part("topic", b"bugs"),
        Part("blank", b""),
        Part("doc", b"hello\n", "notes.txt", "text/plain"),
        Part("doc", b"1,2\n", "data.csv", "text/csv"),
        Part("empty", b"", "", "application/octet-stream"),  # a file input with no file chosen
    ),
}
KINDS = tuple(REQUESTS)
FORMS = ("urlencoded", "multipart")


def old_pairs(form: Any) -> list[tuple[str, str | bytes]]:
    return [(item.name, item.value) for item in form.list]


def as_fieldstorage_lists(request: Request, kind: str) -> list[tuple[str, str | bytes]]:
    """What the guide says FieldStorage (keep_blank_values=True) held for the
    same request: a bare name as '', the query after an urlencoded body's
    fields and before a multipart body's parts, files as bytes, and the
    "no file chosen" input as an empty file."""
    fields = [(name, value or "") for name, value in request.fields.multi_items()]
    query = [(name, value or "") for name, value in request.query.multi_items()]
    files: list[tuple[str, str | bytes]] = [(name, content(upload)) for name, upload in request.files.multi_items()]
    if kind == "query":
        return list(fields)
    if kind == "urlencoded":
        return [*fields, *query]
    return [*query, *fields, *files, ("empty", b"")]


# -- the idiom table, row by row ----------------------------------------------------
Check = Callable[[Same, str], None]
ROWS: dict[str, tuple[Check, tuple[str, ...]]] = {}


def row(idiom: str, *kinds: str) -> Callable[[Check], Check]:
    """Register the check of the table row whose first cell is `idiom`, run
    for each request kind named (once, with no request, if none)."""

    def register(check: Check) -> Check:
        assert idiom not in ROWS, idiom
        ROWS[idiom] = (check, kinds or ("-",))
        return check

    return register


def guide_table_rows() -> list[str]:
    text = GUIDE.read_text(encoding="utf-8")
    table = text.split("## The idioms, one by one", 1)[1].split("\n\n|", 1)[1].split("\n\n", 1)[0]
    cells = [line.split(" | ", 1)[0].removeprefix("| ").strip() for line in ("|" + table).splitlines()]
    return cells[2:]  # past the header and its rule


def test_every_row_of_the_idiom_table_has_a_check() -> None:
    rows = guide_table_rows()
    assert len(rows) == len(set(rows))
    assert rows == list(ROWS)


def table_cases() -> list[Any]:
    return [
        pytest.param(idiom, kind, id=re.sub(r"\W+", "-", f"{idiom} {kind}").strip("-"))
        for idiom, (_, kinds) in ROWS.items()
        for kind in kinds
    ]


def run_python(source: str, argument: str, environ: dict[str, str], stdin: bytes) -> bytes:
    """`python -c source argument` with `environ` as its whole environment."""
    command = [sys.executable, "-c", source, argument]
    result = subprocess.run(command, env=environ, input=stdin, capture_output=True, timeout=60, cwd=ROOT)
    assert result.returncode == 0, result.stderr.decode(errors="replace")
    return result.stdout


SNAPSHOT = """
import json, sys, warnings
warnings.simplefilter("ignore", DeprecationWarning)
if sys.argv[1:] == ["old"]:
    import cgi
    form = cgi.FieldStorage()
    out = [[item.name, item.filename, item.value if isinstance(item.value, str) else item.value.decode("latin-1")]
           for item in form.list]
else:
    import asyncweb
    with asyncweb.parse_request() as request:
        out = [[name, None, value] for name, value in request.fields.multi_items()]
        out += [[name, upload.filename, upload.read().decode("latin-1")]
                for name, upload in request.files.multi_items()]
print(json.dumps(out))
"""


def snapshot_old(form: Any) -> list[list[Any]]:
    return [
        [item.name, item.filename, item.value if isinstance(item.value, str) else item.value.decode("latin-1")]
        for item in form.list
    ]


def content(upload: UploadFile) -> bytes:
    upload.seek(0)
    return upload.read()


def snapshot_new(request: Request) -> list[list[Any]]:
    out: list[list[Any]] = [[name, None, value] for name, value in request.fields.multi_items()]
    out += [[name, upload.filename, content(upload).decode("latin-1")] for name, upload in request.files.multi_items()]
    return out


@row("`form = cgi.FieldStorage()`", *KINDS)
def _(same: Same, kind: str) -> None:
    old_cgi()
    environ = same.environ()
    old = run_python(SNAPSHOT, "old", environ, same.body)
    new = run_python(SNAPSHOT, "new", environ, same.body)
    assert json.loads(old) == snapshot_old(same.old())  # os.environ and stdin
    assert json.loads(new) == snapshot_new(same.new())
    if kind == "urlencoded":  # no CONTENT_LENGTH: FieldStorage reads to the end, asyncweb reads nothing
        bodiless = {name: value for name, value in environ.items() if name != "CONTENT_LENGTH"}
        form = old_cgi().FieldStorage(fp=io.BytesIO(same.body), environ=bodiless)
        assert form.getvalue("name") == "Ann"
        request = asyncweb.parse_request(bodiless, io.BytesIO(same.body))
        assert request.fields.multi_items() == []


@row("`cgi.FieldStorage(fp=f, environ=environ, keep_blank_values=True)`", *KINDS)
def _(same: Same, kind: str) -> None:
    request = same.new()
    assert old_pairs(same.old(keep_blank_values=True)) == as_fieldstorage_lists(request, kind)
    text = asyncweb.parse_request(same.environ(), io.TextIOWrapper(io.BytesIO(same.body), encoding="latin-1"))
    _opened.append(text)
    assert snapshot_new(text) == snapshot_new(request)
    environ = same.environ()
    form = old_cgi().FieldStorage(fp=io.TextIOWrapper(io.BytesIO(same.body)), environ=environ, keep_blank_values=True)
    assert old_pairs(form) == old_pairs(same.old(keep_blank_values=True))


class _BothParsers(BaseHTTPRequestHandler):
    """Parses POST /old with FieldStorage and any other POST with
    request_from_handler, and answers what it found as JSON."""

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def do_POST(self) -> None:
        status: int = 200
        out: Any = None
        if self.path == "/old":
            form = old_cgi().FieldStorage(fp=self.rfile, headers=self.headers, environ={"REQUEST_METHOD": "POST"})
            out = [item for item in snapshot_old(form) if item[1] != ""]  # no "no file chosen"
        else:
            try:
                with asyncweb.request_from_handler(self) as request:
                    out = snapshot_new(request)
            except asyncweb.HTTPError as error:
                status, out = error.status, error.message
            self.close_connection = True
        body = json.dumps(out).encode()
        self.send_response(status)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


@contextlib.contextmanager
def http_server_thread(handler: type[BaseHTTPRequestHandler]) -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


def raw_exchange(base: str, head: bytes, body: bytes = b"") -> bytes:
    """Send a request's head (and a little of its body), read the whole answer."""
    host, port = base.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=10) as sock:
        sock.sendall(head + body)
        return b"".join(iter(lambda: sock.recv(65536), b""))


@row('`cgi.FieldStorage(fp=self.rfile, headers=self.headers, environ={"REQUEST_METHOD": "POST"})`')
def _(same: Same, kind: str) -> None:
    old_cgi()
    files = [("doc", ("notes.txt", b"hello\n", "text/plain")), ("doc", ("data.csv", b"1,2\n", "text/csv"))]
    data = {"name": "Ann", "topic": ["docs", "bugs"]}
    with http_server_thread(_BothParsers) as base:
        old = httpx.post(base + "/old", data=data, files=files, timeout=10)
        new = httpx.post(base + "/new", data=data, files=files, timeout=10)
        assert old.status_code == new.status_code == 200
        assert old.json() == new.json() != []
        head = b"POST /new HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nContent-Type: " + URLENCODED.encode()
        answer = raw_exchange(base, head + b"\r\n\r\n")
    assert answer.startswith(b"HTTP/1.0 411 ")


@row("`form.getvalue(name)`", *KINDS)
def _(same: Same, kind: str) -> None:
    form, request = same.old(), same.new()
    assert form.getvalue("topic") == ["docs", "bugs"] and request.get_field("topic") == "docs"
    assert form.getvalue("name") == request.get_field("name") == "Ann"
    assert form.getvalue("missing") is None and request.get_field("missing") is None
    if kind == "multipart":
        assert form.getvalue("doc") == [b"hello\n", b"1,2\n"] and request.get_field("doc") == "hello\n"
        one = post("", Part("doc", b"hello\n", "notes.txt", "text/plain"))
        assert one.old().getvalue("doc") == b"hello\n" and one.new().get_field("doc") == "hello\n"


@row("`form.getvalue(name, default)`", *KINDS)
def _(same: Same, kind: str) -> None:
    form, blanks, request = same.old(), same.old(keep_blank_values=True), same.new()
    assert form.getvalue("missing", "d") == request.get_field("missing", "d") == "d"
    assert request.get_field("blank", "d") == ""
    if kind == "multipart":  # FieldStorage kept empty parts whatever keep_blank_values said
        assert form.getvalue("blank", "d") == blanks.getvalue("blank", "d") == ""
    else:
        assert form.getvalue("blank", "d") == "d" and blanks.getvalue("blank", "d") == ""
        assert form.getvalue("bare", "d") == request.get_field("bare", "d") == "d"
        assert blanks.getvalue("bare", "d") == ""


@row("`form.getfirst(name, default)`", *KINDS)
def _(same: Same, kind: str) -> None:
    form, request = same.old(), same.new()
    assert form.getfirst("topic", "d") == request.get_field("topic", "d") == "docs"
    assert form.getfirst("missing", "d") == request.get_field("missing", "d") == "d"
    if kind == "multipart":
        assert form.getfirst("doc") == b"hello\n" and request.get_field("doc") == "hello\n"


@row("`form.getlist(name)`", *KINDS)
def _(same: Same, kind: str) -> None:
    form, blanks, request = same.old(), same.old(keep_blank_values=True), same.new()
    assert form.getlist("topic") == request.fields.get_list("topic") == ["docs", "bugs"]
    assert form.getlist("missing") == request.fields.get_list("missing") == []
    if kind == "multipart":
        assert form.getlist("doc") == [upload.read() for upload in request.files.get_list("doc")]
        assert request.fields.get_list("doc") == []
    else:
        assert request.fields.get_list("bare") == [None]
        assert form.getlist("bare") == [] and blanks.getlist("bare") == [""]


@row("`name in form`", *KINDS)
def _(same: Same, kind: str) -> None:
    form, request = same.old(), same.new()
    assert "name" in form and "name" in request.fields
    assert "missing" not in form and "missing" not in request.fields and "missing" not in request.files
    if kind != "query":
        assert "source" in form and "source" in request.query and "source" not in request.fields
    if kind == "multipart":
        assert "doc" in form and "doc" in request.files and "doc" not in request.fields
        assert "empty" in form and "empty" not in request.fields and "empty" not in request.files
        not_a_form = Same("POST", "", "application/json", extra={"CONTENT_LENGTH": ""})
        with pytest.raises(TypeError):
            "a" in not_a_form.old()  # noqa: B015
        assert "a" not in not_a_form.new().fields


@row("`form.keys()`", *KINDS)
def _(same: Same, kind: str) -> None:
    form, request = same.old(keep_blank_values=True), same.new()
    keys = [*request.fields, *request.files]
    assert len(form.keys()) == len(set(form.keys()))
    expected = set(keys) | set(request.query if kind != "query" else ()) | ({"empty"} if kind == "multipart" else set())
    assert set(form.keys()) == expected
    assert keys == ["name", "topic", "blank", "doc"] if kind == "multipart" else ["name", "topic", "blank", "bare"]


@row("`form[name].value`", *KINDS)
def _(same: Same, kind: str) -> None:
    form, blanks, request = same.old(), same.old(keep_blank_values=True), same.new()
    assert form["name"].value == request.fields["name"] == "Ann"
    with pytest.raises(KeyError):
        form["missing"]
    with pytest.raises(KeyError):
        request.fields["missing"]
    with pytest.raises(AttributeError):
        form["topic"].value  # noqa: B018 - a list of items
    assert request.fields["topic"] == "docs"
    if kind == "multipart":
        assert [item.value for item in form["doc"]] == [b"hello\n", b"1,2\n"]
        assert request.files["doc"].read() == b"hello\n"
    else:
        assert blanks["bare"].value == "" and request.fields["bare"] is None


@row("`form[name]` for a repeated name (a list of items)", *KINDS)
def _(same: Same, kind: str) -> None:
    form, request = same.old(), same.new()
    assert isinstance(form["topic"], list) and isinstance(request.fields.get_list("topic"), list)
    assert [item.value for item in form["topic"]] == request.fields.get_list("topic")
    assert isinstance(request.fields.get_list("name"), list) and not isinstance(form["name"], list)
    if kind == "multipart":
        assert [item.filename for item in form["doc"]] == [u.filename for u in request.files.get_list("doc")]
        first = request.get_uploaded_file("doc")
        assert first is request.files["doc"] and first is not None and first.filename == "notes.txt"


@row("`form.list`", *KINDS)
def _(same: Same, kind: str) -> None:
    request = same.new()
    assert old_pairs(same.old(keep_blank_values=True)) == as_fieldstorage_lists(request, kind)
    fields = [("name", "Ann"), ("topic", "docs"), ("topic", "bugs"), ("blank", "")]
    assert request.fields.multi_items() == (fields if kind == "multipart" else [*fields, ("bare", None)])
    assert request.query.multi_items() == (request.fields.multi_items() if kind == "query" else [("source", "web")])
    assert [(name, u.filename) for name, u in request.files.multi_items()] == (
        [("doc", "notes.txt"), ("doc", "data.csv")] if kind == "multipart" else []
    )


@row("`form[name].file`", *FORMS)
def _(same: Same, kind: str) -> None:
    form, request = same.old(), same.new()
    assert request.get_uploaded_file("name") is None and request.get_field("name") == "Ann"  # a plain field
    if kind == "urlencoded":
        assert form["name"].file is None
        return
    assert isinstance(form["name"].file, io.StringIO) and form["name"].filename is None  # `if item.file:` is true
    assert isinstance(form["doc"][0].file, io.BytesIO) and form["doc"][0].file.read() == b"hello\n"
    doc = request.files["doc"]
    assert doc.file.read() == b"hello\n" and doc.in_memory
    big = post("", Part("a", b"a" * 2000, "a.bin"), Part("b", b"b" * 700_000, "b.bin"), Part("c", b"c" * 400_000, "c"))
    big_form = big.old()
    assert not isinstance(big_form["a"].file, io.BytesIO) and big_form["a"].file.read() == b"a" * 2000
    uploads = big.new().files
    # The first 1 MiB of the request's files stays in memory; a file that would pass it spools.
    assert [uploads[name].in_memory for name in "abc"] == [True, True, False]
    assert uploads["c"].file.read() == b"c" * 400_000


@row("`form[name].filename`")
def _(same: Same, kind: str) -> None:
    request = post(
        "",
        Part("ie", b"1", "C:\\dir\\a.txt"),
        Part("evil", b"2", "../../etc/passwd"),
        Part("dots", b"3", ".."),
        Part("none", b"", ""),
    )
    form, new = request.old(), request.new()
    assert [form[name].filename for name in ("ie", "evil", "dots", "none")] == [
        "C:\\dir\\a.txt",
        "../../etc/passwd",
        "..",
        "",
    ]
    assert [new.files[name].filename for name in ("ie", "evil", "dots")] == ["a.txt", "passwd", "upload"]
    assert [new.files[name].raw_filename for name in ("ie", "evil")] == ["C:\\dir\\a.txt", "../../etc/passwd"]
    assert "none" not in new.files and new.get_uploaded_file("none") is None


@row("`form[name].type`")
def _(same: Same, kind: str) -> None:
    request = post("", Part("csv", b"1,2\n", "data.csv", "text/csv"), Part("bare", b"x", "x.bin"))
    form, new = request.old(), request.new()
    assert form["csv"].type == new.files["csv"].content_type == "text/csv"
    assert form["bare"].type == "text/plain" and new.files["bare"].content_type is None


@row("`form[name].headers`")
def _(same: Same, kind: str) -> None:
    request = post("", Part("f", b"x", "résumé.txt", "text/plain", ("X-Note: one",)))
    form, new = request.old(), request.new()
    upload = new.files["f"]
    assert form["f"].headers["content-type"] == upload.headers["Content-Type"] == "text/plain"
    assert form["f"].headers["X-NOTE"] == upload.headers["x-note"] == "one"
    sent = form["f"].headers["Content-Disposition"]
    assert "résumé.txt" in sent
    assert upload.headers["content-disposition"] == sent.encode("utf-8").decode("latin-1")
    assert upload.filename == upload.raw_filename == "résumé.txt"


@row("`shutil.copyfileobj(form[name].file, out)`")
def _(same: Same, kind: str) -> None:
    content = os.urandom(3 * 1024 * 1024)
    request = post("", Part("f", content, "big.bin", "application/octet-stream"))
    with _tempdir() as directory:
        form = request.old()
        with open(directory / "old.bin", "wb") as out:
            shutil.copyfileobj(form["f"].file, out)
        (directory / "new.bin").write_bytes(b"something that was there before")
        with asyncweb.parse_request(request.environ(), io.BytesIO(request.body), upload_dir=str(directory)) as new:
            upload = new.files["f"]
            assert not upload.in_memory
            assert sorted(os.listdir(directory)) == ["new.bin", "old.bin"]  # the spool has no name
            assert upload.save(directory / "new.bin") == directory / "new.bin"
        assert (directory / "old.bin").read_bytes() == (directory / "new.bin").read_bytes() == content
        assert sorted(os.listdir(directory)) == ["new.bin", "old.bin"]  # kept after the request, nothing else left


@contextlib.contextmanager
def _tempdir() -> Iterator[Path]:
    import tempfile

    with tempfile.TemporaryDirectory() as name:
        yield Path(name)


@row("`keep_blank_values=False` (FieldStorage's default)", *KINDS)
def _(same: Same, kind: str) -> None:
    form, request, everything = same.old(), same.new(keep_blank_values=False), same.new()
    if kind == "multipart":
        assert form.getvalue("blank") == ""  # FieldStorage kept empty parts
        assert [name for name, _ in request.files.multi_items()] == ["doc", "doc"]
    else:
        assert "blank" not in form and "bare" not in form
    assert "blank" not in request.fields and "bare" not in request.fields
    assert request.fields.multi_items() == [("name", "Ann"), ("topic", "docs"), ("topic", "bugs")]
    assert [v for v in everything.fields.get_list("blank") if v] == request.fields.get_list("blank") == []
    assert "keep_blank_values" not in App.__init__.__code__.co_varnames


@row("a bare `?name`")
def _(same: Same, kind: str) -> None:
    request = Same("GET", "bare&blank=")
    form, blanks, new = request.old(), request.old(keep_blank_values=True), request.new()
    assert new.fields["bare"] is None and "bare" in new.fields and new.get_field("bare", "d") == "d"
    assert new.fields["blank"] == "" and new.get_field("blank", "d") == ""
    assert blanks.getvalue("bare") == blanks.getvalue("blank") == ""
    assert "bare" not in form and "blank" not in form


STRICT_CASES: list[tuple[str, bool, Any]] = [
    ("a=1&&b=2", True, [("a", "1"), ("b", "2")]),
    ("&a=1", True, [("a", "1")]),
    ("a=1&", True, [("a", "1")]),
    ("a&b=1", True, [("a", None), ("b", "1")]),
    ("a=%zz", False, asyncweb.BadRequest),
    ("a=%E9", False, asyncweb.BadRequest),
    ("a=1&b=%C3%A9", False, [("a", "1"), ("b", "é")]),
]


@row("`strict_parsing=True`")
def _(same: Same, kind: str) -> None:
    cgi = old_cgi()
    for query, old_raises, new in STRICT_CASES:
        request = Same("GET", query)
        if old_raises:
            with pytest.raises(ValueError):
                request.old(strict_parsing=True, keep_blank_values=True)
        else:
            request.old(strict_parsing=True, keep_blank_values=True)
        if isinstance(new, list):
            assert request.new(strict_parsing=True).fields.multi_items() == new
        else:
            with pytest.raises(new):
                request.new(strict_parsing=True)
    with pytest.raises(asyncweb.BadRequest):
        Same("POST", "", URLENCODED, b"a=%zz").new(strict_parsing=True)
    if CORPUS.exists():  # CPython's own strict cases: asyncweb refuses none of them
        for query, expected in json.loads(CORPUS.read_text())["parse_strict_test_cases"]:
            environ = Same("GET", query).environ()
            try:
                cgi.FieldStorage(environ=environ, strict_parsing=True)
            except ValueError:
                assert "error" in expected, query
            else:
                assert "error" not in expected, query
            pairs = Same("GET", query).new(strict_parsing=True, keep_blank_values=False).fields.multi_items()
            if "error" not in expected:
                assert {name: [v for n, v in pairs if n == name] for name, _ in pairs} == expected, query


@row("the query string on a POST", *FORMS)
def _(same: Same, kind: str) -> None:
    if kind == "urlencoded":
        request = Same("POST", "name=Query", URLENCODED, b"name=Ann")
        assert request.old().getlist("name") == ["Ann", "Query"]  # body, then query
    else:
        request = post("name=Query", Part("name", b"Ann"))
        assert request.old().getlist("name") == ["Query", "Ann"]  # query, then parts
    new = request.new()
    assert new.fields.get_list("name") == ["Ann"] and new.query.get_list("name") == ["Query"]
    merged = MultiDict(new.fields.multi_items() + new.query.multi_items())
    assert merged.get_list("name") == ["Ann", "Query"]


@row("`cgi.FieldStorage(..., max_num_fields=n)`")
def _(same: Same, kind: str) -> None:
    three = Same("POST", "", URLENCODED, b"a=1&a=2&a=3")
    with pytest.raises(ValueError):
        three.old(max_num_fields=2)
    with pytest.raises(asyncweb.PayloadTooLarge) as refused:
        three.new(limits=Limits(max_fields=2))
    assert refused.value.status == 413
    query = Same("POST", "q=1&q=2&q=3", URLENCODED, b"a=1")
    with pytest.raises(ValueError):
        query.old(max_num_fields=2)  # FieldStorage counted the query
    with pytest.raises(asyncweb.PayloadTooLarge):  # and so does asyncweb, the query on its own
        query.new(limits=Limits(max_fields=2)).query  # noqa: B018


class _Unreadable(io.RawIOBase):
    def read(self, size: int = -1) -> bytes:
        raise AssertionError("the body was read")


@row("`cgi.maxlen = n`")
def _(same: Same, kind: str) -> None:
    cgi = old_cgi()
    request = Same("POST", "", URLENCODED, b"a=" + b"x" * 18)
    saved, cgi.maxlen = cgi.maxlen, 10
    try:
        with pytest.raises(ValueError):
            request.old()
    finally:
        cgi.maxlen = saved
    with pytest.raises(asyncweb.PayloadTooLarge):  # declared too large: refused before a byte is read
        asyncweb.parse_request(request.environ(), _Unreadable(), limits=Limits(max_body_size=10))  # type: ignore[arg-type]
    chunked = Same("POST", "", URLENCODED, b"", {"HTTP_TRANSFER_ENCODING": "chunked", "CONTENT_LENGTH": ""})
    with pytest.raises(asyncweb.PayloadTooLarge):  # unknown length: refused once the bytes go over
        asyncweb.parse_request(chunked.environ(), io.BytesIO(request.body), limits=Limits(max_body_size=10))
    large_field = Same("POST", "", URLENCODED, b"a=" + b"x" * (1024 * 1024 + 1))
    assert len(large_field.old().getvalue("a")) == 1024 * 1024 + 1  # FieldStorage had no limit
    with pytest.raises(asyncweb.PayloadTooLarge):  # asyncweb's default: 1 MiB a field
        large_field.new()
    assert Limits().max_body_size == 1024**3 and Limits().max_fields == 1000 and Limits().max_files == 100
    assert Limits().max_field_size == 1024**2 and Limits().max_fields_total == 16 * 1024**2


@row("`form.value`, `form.file` of a body that is not a form")
def _(same: Same, kind: str) -> None:
    request = Same("POST", "", "application/json", b'{"a": 1}')
    with pytest.raises(TypeError):
        request.old()
    new = request.new()
    assert new.read_body() == b'{"a": 1}'
    assert new.fields.multi_items() == [] and new.files.multi_items() == []


@row('`cgi.FieldStorage(..., encoding="latin-1")`')
def _(same: Same, kind: str) -> None:
    latin = Same("POST", "", URLENCODED, b"a=%E9")
    assert latin.old(encoding="latin-1").getvalue("a") == "é"
    assert latin.old().getvalue("a") == latin.new().get_field("a") == "\ufffd"
    labelled = Same("POST", "", URLENCODED, b"_charset_=windows-1252&a=%E9")
    assert labelled.old().getvalue("a") == "\ufffd" and labelled.new().get_field("a") == "é"
    part = post("", Part("a", b"\xe9", headers=("Content-Type: text/plain; charset=windows-1252",)))
    assert part.new().get_field("a") == "é"
    assert "encoding" not in asyncweb.parse_request.__code__.co_varnames


@row("a multipart body with bare `\\n` line ends")
def _(same: Same, kind: str) -> None:
    content_type, body = multipart(Part("a", b"1"), Part("f", b"x", "f.txt"), newline=b"\n")
    request = Same("POST", "", content_type, body)
    assert request.old().getvalue("a") == "1"
    with pytest.raises(asyncweb.BadRequest):
        request.new()
    content_type, body = multipart(Part("a", b"1"), Part("f", b"x", "f.txt"))
    assert Same("POST", "", content_type, body).new().get_field("a") == "1"


NESTED = Part(
    "files",
    b'--inner\r\nContent-Disposition: file; filename="a.txt"\r\nContent-Type: text/plain\r\n\r\nA\r\n'
    b'--inner\r\nContent-Disposition: file; filename="b.txt"\r\nContent-Type: text/plain\r\n\r\nB\r\n--inner--',
    content_type="multipart/mixed; boundary=inner",
)


@row("a nested `multipart/mixed` part (several files under one name, RFC 2388)")
def _(same: Same, kind: str) -> None:
    request = post("", Part("title", b"two files"), NESTED)
    files = request.old()["files"].value
    assert [(item.filename, item.value) for item in files] == [("a.txt", b"A"), ("b.txt", b"B")]
    with pytest.raises(asyncweb.BadRequest, match="nested multipart"):  # refused, never handed on as text
        request.new()


@row("`cgi.parse(fp, environ)`")
def _(same: Same, kind: str) -> None:
    cgi = old_cgi()
    request = Same("POST", "q=2", URLENCODED, b"a=1&a=2&b=")
    environ = request.environ()
    assert cgi.parse(io.BytesIO(request.body), environ) == {"a": ["1", "2"], "q": ["2"]}
    assert environ["QUERY_STRING"] == "a=1&a=2&b=&q=2"  # written back
    new = request.new()
    assert {name: new.fields.get_list(name) for name in new.fields} == {"a": ["1", "2"], "b": [""]}
    if sys.version_info[:2] == (3, 11):
        content_type, body = multipart(Part("a", b"1"))
        with pytest.raises(AttributeError):
            cgi.parse(io.BytesIO(body), Same("POST", "", content_type, body).environ())


@row("`cgi.parse_multipart(fp, pdict)`")
def _(same: Same, kind: str) -> None:
    cgi = old_cgi()
    request = REQUESTS["multipart"]
    pdict = {"boundary": BOUNDARY.encode(), "CONTENT-LENGTH": str(len(request.body))}
    old = cgi.parse_multipart(io.BytesIO(request.body), pdict)
    new = request.new()
    expected: dict[str, list[Any]] = {name: new.fields.get_list(name) for name in new.fields}
    expected |= {name: [u.read() for u in new.files.get_list(name)] for name in new.files} | {"empty": [b""]}
    assert old == expected


QUERIES = ["a=1&b=2", "a&b=&c=1&&", "a=%zz&b=%E9&c=+", "a=1;b=2", "x=1&y=2.0&z=2-3.%2b0", "=a", "a=b=c"]


@row("`cgi.parse_qs(qs)`, `cgi.parse_qsl(qs)`")
def _(same: Same, kind: str) -> None:
    cgi = old_cgi()
    assert not hasattr(cgi, "parse_qs") and not hasattr(cgi, "parse_qsl")  # gone since Python 3.8
    for query in QUERIES:
        pairs = asyncweb.parse_query(query)
        assert [(name, value or "") for name, value in pairs] == urllib.parse.parse_qsl(query, keep_blank_values=True)
        bare = [piece.split("=")[0] for piece in query.split("&") if piece and "=" not in piece]
        assert [name for name, value in pairs if value is None] == bare


HEADERS = [
    ('form-data; name="files"; filename="fo\\"o;bar"', "form-data", {"name": "files", "filename": 'fo"o;bar'}),
    ('attachment; filename="strange;name";size=123;', "attachment", {"filename": "strange;name", "size": "123"}),
    ("form-data; name=upload; filename=a.txt", "form-data", {"name": "upload", "filename": "a.txt"}),
]


@row("`cgi.parse_header(value)`")
def _(same: Same, kind: str) -> None:
    cgi = old_cgi()
    cases = list(HEADERS)
    if CORPUS.exists():
        cases += [(line, line.split(";")[0], params) for line, params in json.loads(CORPUS.read_text())["parse_header"]]
    for line, main, params in cases:
        message = EmailMessage()
        message["content-disposition"] = line
        disposition = message["content-disposition"]
        assert cgi.parse_header(line) == (disposition.content_disposition, dict(disposition.params)) == (main, params)
    for line in ['text/html; charset="utf-8"', "multipart/form-data; boundary=----x", "text/plain"]:
        message = EmailMessage()
        message["content-type"] = line
        assert cgi.parse_header(line) == (message.get_content_type(), dict(message["content-type"].params))


@row("`cgi.escape(s)`")
def _(same: Same, kind: str) -> None:
    assert not hasattr(old_cgi(), "escape")  # gone since Python 3.8
    text = '<a href="x">Tom & Jerry\'s</a>'
    assert html.escape(text, quote=False) == '&lt;a href="x"&gt;Tom &amp; Jerry\'s&lt;/a&gt;'
    assert html.escape(text) == "&lt;a href=&quot;x&quot;&gt;Tom &amp; Jerry&#x27;s&lt;/a&gt;"


@row("`cgi.print_environ()`")
def _(same: Same, kind: str) -> None:
    cgi = old_cgi()
    request = Same("GET", "a=1", extra={"REMOTE_USER": "ann", "DOCUMENT_ROOT": "/srv/www"})
    environ = request.environ()
    printed = io.StringIO()
    with contextlib.redirect_stdout(printed):
        cgi.print_environ(environ)
    new = request.new()
    assert dict(new.env) == environ
    for name, value in environ.items():
        assert f"<DT> {name} <DD> {html.escape(value)}" in printed.getvalue()
    assert "GET http://example.org/form.py?a=1" in new.dump()


def run_cgi(
    script: Path, environ: dict[str, str] | None = None, body: bytes = b"", exit_status: int = 0
) -> tuple[int, dict[str, str], bytes, str]:
    """Run `script` as a CGI host would: (status, headers, body, stderr).
    (A script whose exception cgitb displayed still exits 1.)"""
    environ = environ or Same("GET").environ()
    result = subprocess.run(
        [sys.executable, str(script)], env=environ, input=body, capture_output=True, timeout=60, cwd=script.parent
    )
    assert result.returncode == exit_status, result.stderr.decode(errors="replace")
    match = re.match(rb"(.*?)\r?\n\r?\n", result.stdout, re.S)
    assert match is not None, result.stdout
    headers = {}
    for line in re.split(rb"\r?\n", match.group(1)):
        name, _, value = line.decode("latin-1").partition(":")
        headers[name.strip().lower()] = value.strip()
    status = int(headers.pop("status", "200").split()[0])
    return status, headers, result.stdout[match.end() :], result.stderr.decode(errors="replace")


def write_script(directory: Path, name: str, source: str) -> Path:
    path = directory / name
    path.write_text(source, encoding="utf-8")
    return path


@row("`cgitb.enable()`")
def _(same: Same, kind: str) -> None:
    old_cgi()
    with _tempdir() as directory:
        old = write_script(directory, "old.py", "import cgitb\ncgitb.enable()\nint('not a number')\n")
        status, headers, body, _ = run_cgi(old, exit_status=1)
        assert status == 200 and headers["content-type"] == "text/html"
        assert b"ValueError" in body and b"not a number" in body  # the traceback, to the browser
        new = write_script(
            directory,
            "new.py",
            "import asyncweb\n\ndef handler(request, response, log):\n    int('not a number')\n\n"
            "main = asyncweb.App(handler)\nif __name__ == '__main__':\n    asyncweb.run(main)\n",
        )
        status, headers, body, stderr = run_cgi(new)
        assert (status, body) == (500, b"Internal Server Error\n")
        assert "Traceback" in stderr and "ValueError: invalid literal" in stderr  # to the server's error log
        terminal = subprocess.run(
            [sys.executable, str(new), "GET", "/"], capture_output=True, stdin=subprocess.DEVNULL, timeout=60
        )
        assert terminal.returncode == 1 and terminal.stdout.startswith(b"HTTP/1.1 500 ")
        assert b"ValueError: invalid literal" in terminal.stderr


@row("`cgitb.enable(display=0, logdir=path)`")
def _(same: Same, kind: str) -> None:
    old_cgi()
    with _tempdir() as directory:
        (directory / "old").mkdir()
        old = write_script(directory, "old.py", "import cgitb\ncgitb.enable(display=0, logdir='old')\n1 / 0\n")
        status, _, body, _ = run_cgi(old, exit_status=1)
        assert b"ZeroDivisionError" not in body
        (report,) = (directory / "old").iterdir()
        assert "ZeroDivisionError" in report.read_text()
        new = write_script(
            directory,
            "new.py",
            "import logging\nimport asyncweb\n\nlog = logging.getLogger('mysite')\n"
            "log.addHandler(logging.FileHandler('app.log'))\n\n"
            "def handler(request, response, log):\n    1 / 0\n\n"
            "main = asyncweb.App(handler, log=log)\nif __name__ == '__main__':\n    asyncweb.run(main)\n",
        )
        status, _, body, _ = run_cgi(new)
        assert status == 500 and b"ZeroDivisionError" not in body
        assert "ZeroDivisionError: division by zero" in (directory / "app.log").read_text()


@row('`os.environ["REMOTE_ADDR"]`, `os.environ["HTTP_COOKIE"]`')
def _(same: Same, kind: str) -> None:
    extra = {"REMOTE_ADDR": "192.0.2.7", "HTTP_COOKIE": "a=1; b=2", "HTTP_USER_AGENT": "curl/8.0"}
    request = Same("GET", extra=extra).new()
    assert request.env["REMOTE_ADDR"] == "192.0.2.7"
    assert request.get_cookie("a") == "1" and request.cookies == {"a": "1", "b": "2"}
    assert request.get_header("User-Agent") == "curl/8.0"
    with pytest.raises(TypeError):
        request.env["REMOTE_ADDR"] = "x"  # type: ignore[index]


def app_script(body: str) -> str:
    return (
        "import asyncweb\nfrom asyncweb import HTTPError\n\ndef handler(request, response, log):\n"
        + "".join(f"    {line}\n" for line in body.splitlines())
        + "\nmain = asyncweb.App(handler)\nif __name__ == '__main__':\n    asyncweb.run(main)\n"
    )


@row('`print("Content-Type: text/html")`, `print()`, `print(page)`')
def _(same: Same, kind: str) -> None:
    with _tempdir() as directory:
        old = write_script(directory, "old.py", "print('Content-Type: text/html')\nprint()\nprint('<p>é</p>')\n")
        new = write_script(directory, "new.py", app_script("response.set_header('Content-Type', 'text/html')\n"
                                                           "response.set_body('<p>é</p>\\n')"))  # fmt: skip
        plain = write_script(directory, "plain.py", app_script("response.set_body('é')"))
        environ = Same("GET").environ() | {"LC_ALL": "C.UTF-8"}
        _, old_headers, old_body, _ = run_cgi(old, environ)
        status, headers, body, _ = run_cgi(new, environ)
        assert old_headers["content-type"] == "text/html" and headers["content-type"] == "text/html; charset=utf-8"
        assert status == 200 and body == old_body == "<p>é</p>\n".encode()
        assert run_cgi(plain)[1]["content-type"] == "text/plain; charset=utf-8"


@row('`print("Status: 404 Not Found")`')
def _(same: Same, kind: str) -> None:
    with _tempdir() as directory:
        old = write_script(directory, "old.py", "print('Status: 404 Not Found')\nprint()\n")
        raised = write_script(directory, "raised.py", app_script("raise HTTPError(404)"))
        status = write_script(directory, "status.py", app_script("response.set_status(404)"))
        assert run_cgi(old)[0] == 404
        assert run_cgi(raised)[0::2] == (404, b"Not Found\n")
        assert run_cgi(status)[0] == 404


@row('`print("Location: /next")`')
def _(same: Same, kind: str) -> None:
    with _tempdir() as directory:
        old = write_script(directory, "old.py", "print('Location: /next')\nprint()\n")
        new = write_script(directory, "new.py", app_script("response.redirect('/next')"))
        _, old_headers, _, _ = run_cgi(old)
        assert old_headers == {"location": "/next"}  # no Status: the host redirects internally
        status, headers, _, _ = run_cgi(new)
        assert (status, headers["location"]) == (302, "/next")


@pytest.mark.parametrize(("idiom", "kind"), table_cases())
def test_idiom(idiom: str, kind: str) -> None:
    check, _ = ROWS[idiom]
    check(REQUESTS.get(kind, Same("GET")), kind)


# -- the CGI script ------------------------------------------------------------------
NOTES = b"hello\n"
NOTES_SHA = hashlib.sha256(NOTES).hexdigest()
BIG = bytes(range(256)) * 8192  # 2 MiB: past both spools
BIG_SHA = hashlib.sha256(BIG).hexdigest()
THANKS = "<p>Thanks, Ann.</p>\n<p>Topic: docs</p>\n<p>Topic: bugs</p>\n"
FEEDBACK_CASES: dict[str, tuple[Same, str]] = {
    "the form": (Same("GET"), FEEDBACK_FORM + "\n"),
    "a query": (Same("GET", "name=Ann&topic=docs&topic=bugs"), THANKS),
    "multipart with a file": (
        post(
            "",
            Part("name", b"Ann"),
            Part("topic", b"docs"),
            Part("topic", b"bugs"),
            Part("attachment", NOTES, "notes.txt", "text/plain"),
        ),
        THANKS + f"<p>notes.txt (text/plain): sha256 {NOTES_SHA}</p>\n",
    ),
    "no file chosen": (
        post("", Part("name", b"Ann"), Part("attachment", b"", "", "application/octet-stream")),
        "<p>Thanks, Ann.</p>\n",
    ),
    "a large file": (
        post("", Part("name", b"Ann"), Part("attachment", BIG, "big.bin", "application/octet-stream")),
        f"<p>Thanks, Ann.</p>\n<p>big.bin (application/octet-stream): sha256 {BIG_SHA}</p>\n",
    ),
    "urlencoded, escaped": (
        Same("POST", "", URLENCODED, b"name=%3Cb%3EAnn&topic=bugs"),
        "<p>Thanks, &lt;b&gt;Ann.</p>\n<p>Topic: bugs</p>\n",
    ),
}


def check_feedback_script(script: Path, directory: Path, legacy: bool = False) -> None:
    """`script` answers every feedback case as the guide says the port does."""
    for name, (request, expected) in FEEDBACK_CASES.items():
        status, headers, body, stderr = run_cgi(script, request.environ(), request.body)
        assert (status, headers["content-type"]) == (200, "text/html; charset=utf-8"), (name, stderr)
        assert body.decode() == expected, name
        if not legacy:
            assert stderr == "", name
    if not legacy:  # asyncweb's own answers: a malformed body is a 400
        content_type, body = multipart(Part("name", b"Ann"))
        cut = Same("POST", "", content_type, body[:-10])
        assert run_cgi(script, cut.environ(), cut.body)[0] == 400


def test_the_cgi_example_answers_as_the_guide_says(tmp_path: Path) -> None:
    check_feedback_script(EXAMPLES["cgi-script"], tmp_path)


def test_the_cgi_example_in_the_debugging_mode(tmp_path: Path) -> None:
    (tmp_path / "notes.txt").write_bytes(NOTES)
    command = [sys.executable, str(EXAMPLES["cgi-script"]), "POST", "/", "name=Ann", "topic=docs"]
    result = subprocess.run(
        [*command, "attachment=@notes.txt"], cwd=tmp_path, capture_output=True, timeout=60, stdin=subprocess.DEVNULL
    )
    assert result.returncode == 0, result.stderr.decode()
    head, _, body = result.stdout.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 200 OK")
    expected = f"<p>Thanks, Ann.</p>\n<p>Topic: docs</p>\n<p>notes.txt (text/plain): sha256 {NOTES_SHA}</p>\n"
    assert body.decode() == expected + "\n"  # the debugging mode prints the body, and a newline


# -- the http.server upload handler ----------------------------------------------------
@contextlib.contextmanager
def serve_script(command: list[str], log: Path) -> Iterator[str]:
    """`command --port 0` as a server process; its base URL, from the line it
    prints once it listens (so no other process can take the port in
    between). Stopped by pid."""
    with open(log, "wb") as errors:
        process = subprocess.Popen([*command, "--port", "0"], stdout=subprocess.PIPE, stderr=errors, cwd=ROOT)
    assert process.stdout is not None
    try:
        with selectors.DefaultSelector() as selector:
            selector.register(process.stdout, selectors.EVENT_READ)
            ready = selector.select(timeout=30)
        line = process.stdout.readline().decode() if ready else ""
        match = re.search(r"http://127\.0\.0\.1:\d+", line)
        assert match is not None, f"{command} did not come up: {line!r}\n{log.read_text(errors='replace')[-3000:]}"
        yield match.group(0)
    finally:
        stop_process(process)
        process.stdout.close()


def upload_server(script: Path, folder: Path, *args: str) -> contextlib.AbstractContextManager[str]:
    """`script --folder F ...` (an upload server) as a process; its base URL."""
    command = [sys.executable, str(script), "--folder", str(folder), *args]
    return serve_script(command, folder.parent / f"{script.stem}-{folder.name}.log")


def upload_session(base: str, folder: Path) -> list[Any]:
    """The same requests to an upload server; what it answered and saved."""
    answers: list[Any] = []
    with httpx.Client(base_url=base, timeout=30) as client:

        def record(reply: httpx.Response) -> None:
            answers.append((reply.status_code, reply.headers["content-type"], reply.text))

        record(client.get("/"))
        record(client.post("/", files=[("file", ("notes.txt", NOTES, "text/plain"))]))
        record(client.post("/", files=[("file", ("a.csv", b"1,2\n", "text/csv")), ("file", ("big.bin", BIG))]))
        record(client.post("/", files=[("file", ("", b"", "application/octet-stream"))]))
        record(client.post("/", data={"note": "no file at all"}, files=[("other", ("x.txt", b"x"))]))
        record(client.get("/"))
    answers.append(sorted((path.name, path.read_bytes()) for path in folder.iterdir()))
    return answers


UPLOAD_ANSWERS = [
    (201, "saved notes.txt\n"),
    (201, "saved a.csv\nsaved big.bin\n"),
    (400, "no file chosen\n"),
    (400, "no file chosen\n"),
]


def test_the_http_server_example_saves_uploads(tmp_path: Path) -> None:
    folder = tmp_path / "uploads"
    with upload_server(EXAMPLES["http-server"], folder) as base:
        answers = upload_session(base, folder)
    assert [(status, text) for status, _, text in answers[1:5]] == UPLOAD_ANSWERS
    assert answers[0][2].startswith("<ul></ul>\n<form ") and answers[0][1] == "text/html; charset=utf-8"
    assert answers[5][2].startswith("<ul><li>a.csv</li><li>big.bin</li><li>notes.txt</li></ul>\n")
    assert answers[6] == [("a.csv", b"1,2\n"), ("big.bin", BIG), ("notes.txt", NOTES)]


def test_the_http_server_example_refuses_what_fieldstorage_took(tmp_path: Path) -> None:
    folder = tmp_path / "uploads"
    with upload_server(EXAMPLES["http-server"], folder, "--max-mib", "1") as base:
        files = [("file", ("C:\\Users\\ann\\evil.txt", b"1")), ("file", ("../../escape.txt", b"2"))]
        reply = httpx.post(base + "/", files=files, timeout=30)
        assert (reply.status_code, reply.text) == (201, "saved evil.txt\nsaved escape.txt\n")
        content_type, body = multipart(Part("file", b"x", "x.txt"))
        head = f"POST / HTTP/1.1\r\nHost: x\r\nContent-Type: {content_type}\r\n".encode()
        too_large = raw_exchange(base, head + f"Content-Length: {2 * 1024 * 1024}\r\n\r\n".encode())
        assert too_large.startswith(b"HTTP/1.0 413 ") and too_large.endswith(b"the body is larger than 1048576 bytes\n")
        chunked = raw_exchange(base, head + b"Transfer-Encoding: chunked\r\n\r\n")
        assert chunked.startswith(b"HTTP/1.0 411 ")
        cut = httpx.post(base + "/", content=body[:-10], headers={"Content-Type": content_type}, timeout=30)
        assert cut.status_code == 400
    assert sorted(path.name for path in folder.iterdir()) == ["escape.txt", "evil.txt"]
    assert not (tmp_path / "escape.txt").exists()


def compare_upload_servers(old: Path, directory: Path) -> None:
    with upload_server(old, directory / "old") as base:
        old_answers = upload_session(base, directory / "old")
    with upload_server(EXAMPLES["http-server"], directory / "new") as base:
        new_answers = upload_session(base, directory / "new")
    assert old_answers == new_answers
    with upload_server(old, directory / "ie") as base:  # what basename() left whole
        reply = httpx.post(base + "/", files=[("file", ("C:\\Users\\ann\\evil.txt", b"1"))], timeout=30)
    assert reply.text == "saved C:\\Users\\ann\\evil.txt\n"


# -- the WSGI app ------------------------------------------------------------------------
def call_wsgi(app: WSGIApplication, request: Same, path: str = "/") -> tuple[str, dict[str, str], bytes]:
    """`app` through wsgiref.validate, in process."""
    environ: dict[str, Any] = {
        name: value for name, value in request.environ().items() if name not in ("GATEWAY_INTERFACE", "SCRIPT_NAME")
    }
    environ |= {"PATH_INFO": path, "SCRIPT_NAME": "", "wsgi.input": io.BytesIO(request.body)}
    setup_testing_defaults(environ)
    answer: dict[str, Any] = {}

    def start_response(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Callable[[bytes], object]:
        answer["status"], answer["headers"] = status, dict(headers)
        return lambda data: None

    with warnings.catch_warnings():
        warnings.simplefilter("error")  # wsgiref.validate warns of what breaks the spec
        result = validator(app)(environ, start_response)
        try:
            body = b"".join(result)
        finally:
            result.close()  # type: ignore[attr-defined]
    return answer["status"], answer["headers"], body


EMAIL_REQUIRED = "an email address is required\n"
SIGNUP_CASES: dict[str, tuple[Same, str, str]] = {
    "the page": (Same("GET"), "200 OK", SIGNUP_PAGE),
    "a query is no sign-up": (Same("GET", "email=ann@example.org"), "200 OK", SIGNUP_PAGE),
    "urlencoded": (
        Same("POST", "source=web", URLENCODED, b"email=ann%40example.org&list=news&list=releases"),
        "200 OK",
        "ann@example.org joins news, releases (from web)\n",
    ),
    "multipart": (
        post("source=web", Part("email", b"ann@example.org"), Part("list", b"news")),
        "200 OK",
        "ann@example.org joins news (from web)\n",
    ),
    "no source, no list": (
        Same("POST", "", URLENCODED, b"email=bob%40example.org&list="),
        "200 OK",
        "bob@example.org joins no list (from unknown)\n",
    ),
    "no email": (
        Same("POST", "", URLENCODED, b"email=&list=news"),
        "400 Bad Request",
        "an email address is required\n",
    ),
    "a bare email": (Same("POST", "", URLENCODED, b"email"), "400 Bad Request", "an email address is required\n"),
}


def check_signup(app: WSGIApplication) -> list[tuple[str, str, bytes]]:
    answers = []
    for name, (request, status, text) in SIGNUP_CASES.items():
        got_status, headers, body = call_wsgi(app, request)
        assert (got_status, body.decode()) == (status, text), name
        assert headers["Content-Length"] == str(len(body))
        answers.append((got_status, headers["Content-Type"], body))
    return answers


def test_the_wsgi_example_through_wsgiref_validate() -> None:
    check_signup(signup_app)
    overridden = Same("POST", "source=web", URLENCODED, b"email=ann%40example.org&source=evil")
    assert call_wsgi(signup_app, overridden)[2] == b"ann@example.org joins no list (from web)\n"
    content_type, body = multipart(Part("email", b"ann@example.org"))
    status, _, text = call_wsgi(signup_app, Same("POST", "", content_type, body[:-10]))
    assert (status, text) == ("400 Bad Request", b"multipart body cut off before its closing boundary\n")
    large = Same("POST", "", URLENCODED, b"email=" + b"x" * (1024 * 1024 + 1))
    status, _, text = call_wsgi(signup_app, large)
    assert (status, text) == ("413 Request Entity Too Large", b"a field is larger than 1048576 bytes\n")


def test_the_wsgi_example_refuses_a_body_of_unknown_length() -> None:
    chunked = Same("POST", "", URLENCODED, b"email=ann", {"HTTP_TRANSFER_ENCODING": "chunked", "CONTENT_LENGTH": ""})
    status, _, _ = call_wsgi(signup_app, chunked)
    assert status == "411 Length Required"


class _QuietHandler(WSGIRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        pass


@contextlib.contextmanager
def wsgiref_thread(app: WSGIApplication) -> Iterator[str]:
    server = make_server("127.0.0.1", 0, app, handler_class=_QuietHandler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


def test_the_wsgi_example_under_wsgiref_simple_server() -> None:
    with wsgiref_thread(signup_app) as base:
        page = httpx.get(base + "/", timeout=10)
        data = {"email": "ann@example.org", "list": ["news", "releases"]}
        joined = httpx.post(base + "/?source=curl", data=data, timeout=10)
        uploaded = httpx.post(base + "/?source=form", data=data, files={"cv": ("cv.txt", b"x")}, timeout=10)
    assert (page.status_code, page.text, page.headers["content-type"]) == (200, SIGNUP_PAGE, "text/html; charset=utf-8")
    assert (joined.status_code, joined.text) == (200, "ann@example.org joins news, releases (from curl)\n")
    assert uploaded.text == "ann@example.org joins news, releases (from form)\n"


def test_the_wsgi_example_runs_as_a_script(tmp_path: Path) -> None:
    with serve_script([sys.executable, str(EXAMPLES["wsgi"])], tmp_path / "wsgi.log") as base:
        reply = httpx.post(base + "/", data={"email": "ann@example.org"}, timeout=10)
    assert reply.text == "ann@example.org joins no list (from unknown)\n"


def compare_signup_apps(old: WSGIApplication) -> None:
    assert check_signup(old) == check_signup(signup_app)
    overridden = Same("POST", "source=web", URLENCODED, b"email=ann%40example.org&source=evil")
    assert call_wsgi(old, overridden)[2] == b"ann@example.org joins no list (from evil)\n"  # the body won
