"""examples/cgi_app.py served by a real CGI host: lighttpd's mod_cgi."""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from tests.cgi.conftest import Lighttpd

MiB = 1024 * 1024
TIMEOUT = 30


def get_json(lighttpd: Lighttpd, path: str, **options: Any) -> Any:
    reply = httpx.get(lighttpd.url + path, timeout=TIMEOUT, **options)
    assert reply.status_code == 200, reply.text
    assert reply.headers["content-type"] == "application/json"
    return reply.json()


def test_get_with_a_query(lighttpd: Lighttpd) -> None:
    report = get_json(lighttpd, "/echo/sub%20dir?a=1&a=2&b&c=%C3%A9")
    assert report["method"] == "GET"
    assert report["path"] == "/echo/sub dir"
    assert report["base_url"] == lighttpd.url
    assert report["url"] == lighttpd.url + "/echo/sub%20dir"
    assert report["query"] == [["a", "1"], ["a", "2"], ["b", None], ["c", "é"]]
    assert report["fields"] == report["query"]


def test_post_form(lighttpd: Lighttpd) -> None:
    form = {"name": "Ada Lovelace", "note": "1 + 1 = 2 & more", "empty": ""}
    reply = httpx.post(lighttpd.url + "/echo?q=only-in-query", data=form, timeout=TIMEOUT)
    assert reply.status_code == 200
    report = reply.json()
    assert report["method"] == "POST"
    assert report["fields"] == [[name, value] for name, value in form.items()]
    assert report["query"] == [["q", "only-in-query"]]


def _pattern(size: int) -> Iterator[bytes]:
    block = os.urandom(MiB)
    for offset in range(0, size, MiB):
        yield block[: min(MiB, size - offset)]


@pytest.mark.slow
def test_50_mib_upload_round_trips_its_sha256(lighttpd: Lighttpd, tmp_path: Any) -> None:
    size = 50 * MiB + 123
    upload = tmp_path / "big.bin"
    digest = hashlib.sha256()
    with open(upload, "wb") as file:
        for chunk in _pattern(size):
            digest.update(chunk)
            file.write(chunk)
    with open(upload, "rb") as file:
        reply = httpx.post(
            lighttpd.url + "/echo",
            data={"title": "big"},
            files={"upload": ("big.bin", file, "application/x-test")},
            timeout=120,
        )
    assert reply.status_code == 200, reply.text
    report = reply.json()
    assert report["fields"] == [["title", "big"]]
    assert report["files"] == [
        [
            "upload",
            {"filename": "big.bin", "content_type": "application/x-test", "size": size, "sha256": digest.hexdigest()},
        ]
    ]


@pytest.mark.slow
def test_50_mib_raw_body_is_streamed_to_the_app(lighttpd: Lighttpd) -> None:
    size = 50 * MiB
    digest = hashlib.sha256()
    chunks = list(_pattern(size))
    for chunk in chunks:
        digest.update(chunk)
    reply = httpx.post(lighttpd.url + "/sha256", content=b"".join(chunks), timeout=120)
    assert reply.status_code == 200
    assert reply.text == f"{size} {digest.hexdigest()}\n"


def test_cookies_in_and_out(lighttpd: Lighttpd) -> None:
    report = get_json(lighttpd, "/echo", headers={"Cookie": "a=1; session=xyz"})
    assert report["cookies"] == {"a": "1", "session": "xyz"}
    reply = httpx.get(lighttpd.url + "/cookie?flavour=oat", timeout=TIMEOUT)
    assert reply.status_code == 200
    assert reply.headers.get_list("set-cookie") == ["flavour=oat; Path=/; HttpOnly"]
    assert reply.cookies["flavour"] == "oat"


def test_redirect(lighttpd: Lighttpd) -> None:
    reply = httpx.get(lighttpd.url + "/redirect", timeout=TIMEOUT)
    assert reply.status_code == 302
    assert reply.headers["location"] == lighttpd.url + "/echo?from=redirect"
    followed = httpx.get(lighttpd.url + "/redirect", follow_redirects=True, timeout=TIMEOUT)
    assert followed.json()["query"] == [["from", "redirect"]]


def test_head_has_headers_and_no_body(lighttpd: Lighttpd) -> None:
    reply = httpx.head(lighttpd.url + "/echo", timeout=TIMEOUT)
    assert reply.status_code == 200
    assert reply.headers["content-type"] == "application/json"
    assert int(reply.headers["content-length"]) > 0
    assert reply.content == b""


def test_handler_error_is_a_500_with_the_traceback_only_in_the_log(lighttpd: Lighttpd) -> None:
    reply = httpx.get(lighttpd.url + "/error", timeout=TIMEOUT)
    assert reply.status_code == 500
    assert reply.text == "Internal Server Error\n"
    log = lighttpd.script_errors()
    assert "Traceback (most recent call last)" in log
    assert "RuntimeError: this traceback goes to the server's error log" in log


@pytest.mark.parametrize(
    ("content_type", "body"),
    [
        ("multipart/form-data; boundary=xyz", b"--xyz\r\nno blank line, no end"),
        ("multipart/form-data", b"a boundary is missing"),
    ],
)
def test_a_malformed_form_is_a_400_not_a_500(lighttpd: Lighttpd, content_type: str, body: bytes) -> None:
    reply = httpx.post(lighttpd.url + "/echo", content=body, headers={"Content-Type": content_type}, timeout=TIMEOUT)
    assert reply.status_code == 400, reply.text


def test_what_runs_after_the_response_is_not_cut_short(lighttpd: Lighttpd, tmp_path: Any) -> None:
    """The response ends when it is written, and the lifespan shutdown after
    it still runs to its end, though lighttpd sends SIGTERM at stdout's close."""
    import time

    from tests.support import wait_until

    marker = tmp_path / "shutdown-ran"
    started = time.monotonic()
    reply = httpx.get(lighttpd.url.replace("/app.py", "/after.py"), params={"marker": str(marker)}, timeout=TIMEOUT)
    answered = time.monotonic() - started
    assert (reply.status_code, reply.text) == (200, "answered")
    assert wait_until(marker.exists, timeout=10), lighttpd.script_errors()[-2000:]
    assert answered < time.monotonic() - started  # the mark came after the answer
