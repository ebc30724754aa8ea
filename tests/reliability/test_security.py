"""Security checks: header and cookie injection, URLs from untrusted headers,
upload file names, and what error answers may carry."""

from __future__ import annotations

import json
import logging
import os
import socket
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlsplit

import anyio
import httpx
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from asyncweb import App, HTTPError, QueryParser, Request, Response
from asyncweb._config import Config
from asyncweb.forms import uploads as uploads_module
from asyncweb.forms.part_headers import safe_filename
from asyncweb.urls import valid_host
from tests.forms.helpers import file_part, multipart, text_part
from tests.reliability.apps import UPLOAD_DIR_ENV
from tests.reliability.helpers import call_app, http_scope
from tests.support import ROOT, run_uvicorn

FORBIDDEN = "\r\n\x00\x85\x9b"  # C1 controls too: NEL and CSI
MULTIPART = [("content-type", "multipart/form-data; boundary=XyZ")]

# Text with at least one CR, LF, NUL or C1 control somewhere in it.
tainted = st.tuples(st.text(max_size=20), st.sampled_from(FORBIDDEN), st.text(max_size=20)).map("".join)
# What a header value may be: visible latin-1 but the C1 controls, space and tab, no leading or trailing blank.
header_text = st.text(
    st.characters(min_codepoint=0x20, max_codepoint=0xFF, exclude_characters="".join(map(chr, range(0x7F, 0xA0)))),
    min_size=1,
    max_size=40,
).map(str.strip)

SETTERS: dict[str, Callable[[Response, str], object]] = {  # what a setter returns is not looked at
    "set_header": lambda r, v: r.set_header("X-A", v),
    "add_header value": lambda r, v: r.add_header("X-A", v),
    "add_header name": lambda r, v: r.add_header(v, "1"),
    "headers mapping": lambda r, v: r.headers.add("X-A", v),
    "cookie value": lambda r, v: r.set_cookie("a", v),
    "cookie path": lambda r, v: r.set_cookie("a", "1", path=v),
    "cookie domain": lambda r, v: r.set_cookie("a", "1", domain=v),
    "cookie comment": lambda r, v: r.set_cookie("a", "1", comment=v),
    "cookie name": lambda r, v: r.set_cookie(v, "1"),
    "expire_cookie path": lambda r, v: r.expire_cookie("a", path=v),
    "redirect": lambda r, v: r.redirect("/next" + v),
    "redirect absolute": lambda r, v: r.redirect("https://example.com/" + v, 303),
    "reason phrase": lambda r, v: r.set_status(200, v),
    "constructor": lambda r, v: Response(headers={"X-A": v}).raw_headers(),
}


@settings(max_examples=60, deadline=None)
@given(tainted, st.sampled_from(sorted(SETTERS)))
def test_cr_lf_nul_are_refused_by_every_header_cookie_and_redirect_setter(value: str, setter: str) -> None:
    response = Response()
    with pytest.raises(ValueError):
        SETTERS[setter](response, value)
    assert response.raw_headers() == [(b"content-length", b"0")]
    assert response.status == 200 and response.reason is None


@settings(max_examples=60, deadline=None)
@given(header_text)
def test_any_visible_latin1_value_is_sent_exactly(value: str) -> None:
    # The other side of the check: refusing everything would pass the test above.
    response = Response()
    response.set_header("X-A", value)
    response.redirect("/next?" + quote(value))
    assert (b"x-a", value.encode("latin-1")) in response.raw_headers()
    assert response.headers["Location"] == "/next?" + quote(value)


@pytest.fixture(scope="module")
def hostile_server(tmp_path_factory: pytest.TempPathFactory) -> Any:
    upload_dir = tmp_path_factory.mktemp("hostile-uploads")
    with run_uvicorn("tests.reliability.apps:hostile", env={UPLOAD_DIR_ENV: str(upload_dir)}) as base:
        yield base


INJECTIONS = [
    ("/header", "a\r\nX-Evil: 1"),
    ("/header", "a\nX-Evil: 1"),
    ("/header", "a\rX-Evil: 1"),
    ("/header", "a\x00b"),
    ("/add-header", "X-Evil: 1\r\nX-B"),
    ("/cookie", "1\r\nSet-Cookie: evil=1"),
    ("/cookie", "1; Domain=evil.example"),
    ("/cookie-path", "/\r\nX-Evil: 1"),
    ("/redirect", "/next\r\nX-Evil: 1"),
    ("/redirect", "/next\r\n\r\n<script>evil()</script>"),
    ("/reason", "OK\r\nX-Evil: 1"),
]


@pytest.mark.parametrize(("path", "value"), INJECTIONS)
def test_injection_through_a_careless_handler_never_reaches_the_wire(
    hostile_server: str, path: str, value: str
) -> None:
    port = int(hostile_server.rsplit(":", 1)[1])
    target = f"{path}?v={quote(value, safe='')}"
    with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
        sock.sendall(f"GET {target} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n".encode())
        raw = bytearray()
        while chunk := sock.recv(65536):
            raw += chunk
    head, _, body = bytes(raw).partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 500 "), head
    assert b"evil" not in raw.lower() and b"x-evil" not in raw.lower()
    assert body == b"Internal Server Error\n"


@pytest.mark.parametrize(
    ("path", "value", "header", "expected"),
    [
        ("/header", "plain value\twith tab", "x-echo", "plain value\twith tab"),
        ("/cookie", "abc123", "set-cookie", "c=abc123; Path=/"),
        ("/redirect", "/next?a=1", "location", "/next?a=1"),
    ],
)
def test_the_same_handler_sends_safe_values(
    hostile_server: str, path: str, value: str, header: str, expected: str
) -> None:
    reply = httpx.get(hostile_server + path, params={"v": value}, timeout=5, follow_redirects=False)
    assert reply.status_code in (200, 302)
    assert reply.headers[header] == expected


@pytest.mark.anyio
async def test_an_http_error_with_unsafe_headers_is_answered_500_by_the_app() -> None:
    async def handler(request: Request, response: Response, log: logging.Logger) -> None:
        raise HTTPError(401, "log in", headers={"WWW-Authenticate": 'Basic realm="x"\r\nX-Evil: 1'})

    answer = await call_app(App(handler), [], method="GET")
    assert answer.status == 500 and answer.complete
    assert all(b"evil" not in name + value.lower() for name, value in answer.headers)


# -- URLs: Host and X-Forwarded-* -------------------------------------------------
FORWARDED = [
    ("X-Forwarded-Host", "evil.example"),
    ("X-Forwarded-Proto", "https"),
    ("X-Forwarded-Prefix", "/evil"),
    ("Forwarded", "host=evil.example;proto=https"),
]


@pytest.mark.parametrize("host", ["evil.example/path", "user@evil.example", "evil example", "evil.example:80/x"])
def test_live_untrusted_forwarded_headers_and_bogus_hosts_do_not_change_urls(host: str) -> None:
    with run_uvicorn("examples.echo:main", "--no-proxy-headers") as base:
        port = base.rsplit(":", 1)[1]
        plain = httpx.get(base + "/a/b", timeout=5).json()
        forged = httpx.get(base + "/a/b", headers=[*FORWARDED, ("Host", host)], timeout=5).json()
    assert plain["url"] == f"http://127.0.0.1:{port}/a/b"
    assert forged["url"] == plain["url"] and forged["base_url"] == plain["base_url"]
    assert forged["secure"] is False


def test_live_trusted_proxy_headers_are_applied_and_still_checked() -> None:
    with run_uvicorn("tests.reliability.apps:trusted_echo", "--no-proxy-headers") as base:
        port = base.rsplit(":", 1)[1]
        trusted = httpx.get(base + "/a", headers=FORWARDED[:3], timeout=5).json()
        bogus = httpx.get(base + "/a", headers=[("X-Forwarded-Host", "evil.example/x@y")], timeout=5).json()
    assert trusted["url"] == "https://evil.example/evil/a" and trusted["secure"] is True
    assert bogus["url"] == f"http://127.0.0.1:{port}/a"  # not a host: ignored even from a trusted proxy


@pytest.mark.parametrize("target", [b"@evil.com", b"@evil.com/x", b"evil.com", b":80@evil.com"])
def test_live_a_request_target_without_a_slash_keeps_the_host(target: bytes) -> None:
    # h11, uvicorn's pure-Python parser (a plain `pip install uvicorn`),
    # passes such a target on as the path; a URL built from it must not
    # turn the Host into userinfo.
    with run_uvicorn("examples.echo:main", "--http", "h11") as base:
        port = int(base.rsplit(":", 1)[1])
        with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
            sock.sendall(b"GET " + target + b" HTTP/1.1\r\nHost: good.example\r\nConnection: close\r\n\r\n")
            reply = b"".join(iter(lambda: sock.recv(65536), b""))
    head, _, body = reply.partition(b"\r\n\r\n")
    if not head.startswith(b"HTTP/1.1 200"):
        return  # refused by the server: nothing was built from it
    report = json.loads(body)
    for url in (report["url"], report["base_url"]):
        assert urlsplit(url).netloc == "good.example", url


latin1_text = st.text(st.characters(min_codepoint=0, max_codepoint=0xFF), max_size=30)


@settings(max_examples=150, deadline=None)
@given(host=latin1_text, forwarded_host=latin1_text, proto=latin1_text, prefix=latin1_text, trust=st.booleans())
@example(host="evil.example\n", forwarded_host="", proto="", prefix="", trust=False)
@example(host="", forwarded_host="evil.example\n", proto="", prefix="", trust=True)
def test_urls_never_take_a_host_that_is_no_host(
    host: str, forwarded_host: str, proto: str, prefix: str, trust: bool
) -> None:
    headers = [("Host", host), ("X-Forwarded-Host", forwarded_host)]
    headers += [("X-Forwarded-Proto", proto), ("X-Forwarded-Prefix", prefix)]
    request = Request(http_scope("GET", "/p", headers), config=Config(trust_proxy=trust))
    url = request.get_url()
    parts = urlsplit(url)
    assert url.isascii() and not any(ord(char) < 0x21 or ord(char) == 0x7F for char in url)
    assert parts.scheme in ("http", "https", "ws", "wss") and "@" not in parts.netloc and valid_host(parts.netloc)
    assert url.endswith("/p")
    if not trust:
        assert parts.scheme == "http"
        assert parts.netloc == (host if valid_host(host) else "127.0.0.1:8000")


@settings(max_examples=150, deadline=None)
@given(path=st.text(), n=st.integers(0, 4), query=st.binary(max_size=30))
def test_urls_built_from_any_path_are_safe_to_redirect_to(path: str, n: int, query: bytes) -> None:
    # A decoded path may hold CR, LF, NUL or anything else: the URLs built
    # from it are percent-encoded, so a redirect to them is always sendable.
    request = Request(http_scope("GET", "/" + path, [("Host", "example.com")], query=quote(query).encode()))
    for url in (request.get_url(n, query_string=True), request.get_base_url(n)):
        assert (url + "/").startswith("http://example.com/") and url.isascii()  # the base may be the bare origin
        assert not any(ord(char) < 0x21 or ord(char) == 0x7F for char in url)
        response = Response()
        response.redirect(url)
        assert response.headers["Location"] == url


@pytest.mark.parametrize("http", ["httptools", "h11"])
def test_live_cr_and_nul_in_request_headers_never_reach_the_app(http: str) -> None:
    with run_uvicorn("examples.echo:main", "--http", http) as base:
        port = int(base.rsplit(":", 1)[1])
        for header in [b"Cookie: a=1\x00b=2", b"X-A: 1\rX-Evil: 2", b"Host: evil\x00.example", b"X-A: a\x00"]:
            with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
                sock.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n" + header + b"\r\nConnection: close\r\n\r\n")
                raw = bytearray()
                while chunk := sock.recv(65536):
                    raw += chunk
            assert raw.startswith(b"HTTP/1.1 400 "), (header, bytes(raw[:200]))


# -- upload file names -----------------------------------------------------------------
PATHY = st.sampled_from(
    ["..", ".", "/", "\\", "../", "..\\", "/etc/passwd", "C:\\", "\x00", "\n", " ", "%2e%2e%2f", "~"]
)
filenames = st.one_of(
    st.lists(st.one_of(PATHY, st.text(max_size=8)), max_size=8).map("".join),
    st.text(min_size=200, max_size=400),  # longer than a file name may be
)


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(raw=filenames)
def test_upload_file_names_never_point_outside_the_upload_folder(
    raw: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Named spool files (no O_TMPFILE) and a handler that saves every
    # upload under its own file name: the worst a careless app can do.
    monkeypatch.setattr(uploads_module, "_O_TMPFILE", 0)
    spool = tmp_path / "spool"
    saved = tmp_path / "saved"
    spool.mkdir(exist_ok=True)
    saved.mkdir(exist_ok=True)
    seen: list[tuple[str | None, list[str]]] = []

    async def handler(request: Request, response: Response, log: logging.Logger) -> None:
        for _, upload in request.files.multi_items():
            seen.append((upload.filename, sorted(os.listdir(spool))))
            if upload.filename:
                upload.save(saved / upload.filename)

    # Names travel as raw UTF-8 with `"` and CR/LF written %22 and %0D%0A, as browsers do.
    wire = raw.replace('"', "%22").replace("\r", "%0D").replace("\n", "%0A").encode("utf-8", "surrogatepass")
    body = multipart(file_part(b"f", wire, b"content" * 200), text_part(b"t", b"x"))
    targeted: list[str] = []

    def target(name: str, filename: str, content_type: str | None) -> None:
        targeted.append(filename)  # what an upload_target function is given to choose a place with
        return None

    app = App(handler, upload_dir=str(spool), spool_size=16, upload_target=target)
    answer = anyio.run(call_app, app, [body], MULTIPART)
    assert answer.status == 200, answer.text
    [(filename, during)] = seen
    assert targeted == [filename]
    assert filename is not None and filename == safe_filename(filename)
    assert "/" not in filename and "\\" not in filename and "\x00" not in filename
    assert filename not in (".", "..") and len(filename.encode("utf-8")) <= 255
    assert all(name.startswith("asyncweb-") for name in during)  # the spool names are ours, never the client's
    assert os.listdir(spool) == []
    if filename:
        [entry] = os.listdir(saved)
        assert (saved / entry).resolve().parent == saved.resolve()
        assert (saved / entry).read_bytes() == b"content" * 200
        (saved / entry).unlink()
    assert sorted(os.listdir(tmp_path)) == ["saved", "spool"]


# -- error answers ----------------------------------------------------------------------
def assert_no_leak(body: bytes, *secrets: str) -> None:
    text = body.decode("utf-8", "replace")
    assert "Traceback" not in text and 'File "' not in text and ".py" not in text
    assert str(ROOT) not in text and "site-packages" not in text
    for secret in secrets:
        assert secret not in text
    assert len(body) < 300


def test_live_error_answers_carry_no_traceback_or_path(hostile_server: str, tmp_path: Path) -> None:
    boom = httpx.get(hostile_server + "/boom", timeout=5)
    assert boom.status_code == 500 and boom.text == "Internal Server Error\n"
    assert_no_leak(boom.content, "hunter2")
    bad = httpx.post(hostile_server + "/", content=b"--XyZ\r\ngarbage", headers=dict(MULTIPART), timeout=5)
    assert bad.status_code == 400
    assert_no_leak(bad.content)
    # An upload folder that is gone: the server's own trouble, told to the log only.
    missing = tmp_path / "no" / "such" / "dir"
    with run_uvicorn("tests.reliability.apps:hostile", env={UPLOAD_DIR_ENV: str(missing)}) as base:
        reply = httpx.post(base + "/", files={"f": ("f.bin", b"x" * 5000)}, timeout=5)
    assert reply.status_code == 500
    assert_no_leak(reply.content, str(missing), "FileNotFoundError", "Errno")


@pytest.mark.anyio
@pytest.mark.parametrize(
    "raised",
    [
        OSError(2, "No such file or directory", "/etc/secret/key.pem"),
        RuntimeError("password=hunter2"),
        KeyError("/home/user/.ssh/id_rsa"),
        UnicodeDecodeError("utf-8", b"\xff", 0, 1, "invalid start byte"),
    ],
)
async def test_handler_exceptions_are_answered_without_their_text(raised: BaseException) -> None:
    async def handler(request: Request, response: Response, log: logging.Logger) -> None:
        raise raised

    answer = await call_app(App(handler), [], method="GET")
    assert answer.status == 500 and answer.body == b"Internal Server Error\n"


# -- work that grows faster than the input -------------------------------------------------
def _trickle_seconds(size: int) -> float:
    """Least time (of three) to feed an urlencoded field of `size` bytes one byte at a time."""
    best = float("inf")
    for _ in range(3):
        parser = QueryParser(max_field_size=4 * size)
        started = time.perf_counter()
        parser.feed(b"a=")
        for _ in range(size):
            parser.feed(b"x")
        assert parser.close() == [(b"a", b"x" * size)]
        best = min(best, time.perf_counter() - started)
    return best


def test_a_field_trickled_byte_by_byte_costs_linear_time() -> None:
    # Rescanning the whole pending field for "&" at every chunk made a 1 MiB
    # field sent a byte per packet cost seconds of CPU: quadratic.
    small, large = _trickle_seconds(100_000), _trickle_seconds(400_000)
    assert large / small < 8, (small, large)  # linear: about 4; quadratic: about 16
