"""The questions every host answers. Each test module mixes `HostCases`
into a Test class and gives it a `site` fixture: one `Site` per host
configuration, all serving examples/cgi_app.py (CGI) or the same app as
`asyncweb fastcgi examples.cgi_app:main`."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from tests.hosts.common import curl
from tests.hosts.conftest import Upload
from tests.support import wait_until

TIMEOUT = 30
ERROR = "RuntimeError: this traceback goes to the server's error log, not to the browser"


@dataclass
class Site:
    name: str
    url: str  # the app's base URL: http://127.0.0.1:PORT/app.py
    log: Path  # where the app's stderr (its tracebacks) goes

    def log_text(self) -> str:
        return self.log.read_text(errors="replace") if self.log.exists() else ""


def get_json(site: Site, path: str, **options: Any) -> Any:
    reply = httpx.get(site.url + path, timeout=TIMEOUT, **options)
    assert reply.status_code == 200, reply.text
    assert reply.headers["content-type"] == "application/json"
    return reply.json()


class HostCases:
    def test_get_with_a_query(self, site: Site) -> None:
        report = get_json(site, "/echo/sub%20dir?a=1&a=2&b&c=%C3%A9")
        assert report["method"] == "GET"
        assert report["path"] == "/echo/sub dir"
        assert report["url"] == site.url + "/echo/sub%20dir"
        assert report["base_url"] == site.url
        assert report["query"] == [["a", "1"], ["a", "2"], ["b", None], ["c", "é"]]
        assert report["fields"] == report["query"]
        assert dict(report["headers"])["host"] == httpx.URL(site.url).netloc.decode()

    def test_the_script_url_itself_is_the_base_url(self, site: Site) -> None:
        bare = get_json(site, "")
        assert (bare["path"], bare["url"], bare["base_url"]) == ("/", site.url, site.url)
        slash = get_json(site, "/")
        assert (slash["path"], slash["url"], slash["base_url"]) == ("/", site.url + "/", site.url)

    def test_post_urlencoded(self, site: Site) -> None:
        form = {"name": "Ada Lovelace", "note": "1 + 1 = 2 & more", "empty": ""}
        reply = httpx.post(site.url + "/echo?q=only-in-query", data=form, timeout=TIMEOUT)
        report = reply.json()
        assert report["method"] == "POST"
        assert report["fields"] == [[name, value] for name, value in form.items()]
        assert report["query"] == [["q", "only-in-query"]]

    def test_multipart_upload_arrives_byte_for_byte(self, site: Site, upload: Upload) -> None:
        with open(upload.path, "rb") as file:
            files = {"upload": ("big.bin", file, "application/x-test")}
            reply = httpx.post(site.url + "/echo", data={"title": "big"}, files=files, timeout=120)
        assert reply.status_code == 200, reply.text
        report = reply.json()
        assert report["fields"] == [["title", "big"]]
        described = {"filename": "big.bin", "content_type": "application/x-test", "size": upload.size}
        assert report["files"] == [["upload", {**described, "sha256": upload.sha256}]]

    def test_chunked_body_arrives_whole(self, site: Site, upload: Upload) -> None:
        chunked = ["-H", "Transfer-Encoding: chunked", "-H", "Content-Type: application/octet-stream"]
        reply = curl(site.url + "/sha256", *chunked, "--data-binary", f"@{upload.path}")
        assert reply.status == 200, reply.body[:2000]
        assert reply.body == f"{upload.size} {upload.sha256}\n".encode()

    def test_chunked_multipart_form_arrives_whole(self, site: Site, upload: Upload) -> None:
        form = ["-F", "title=big", "-F", f"upload=@{upload.path};type=application/x-test"]
        report = curl(site.url + "/echo", "-H", "Transfer-Encoding: chunked", *form).json()
        assert report["fields"] == [["title", "big"]]
        described = {"filename": "big.bin", "content_type": "application/x-test", "size": upload.size}
        assert report["files"] == [["upload", {**described, "sha256": upload.sha256}]]

    def test_cookies_in_and_out(self, site: Site) -> None:
        report = get_json(site, "/echo", headers={"Cookie": "a=1; session=xyz"})
        assert report["cookies"] == {"a": "1", "session": "xyz"}
        reply = httpx.get(site.url + "/cookie?flavour=oat", timeout=TIMEOUT)
        assert reply.status_code == 200
        assert reply.headers.get_list("set-cookie") == ["flavour=oat; Path=/; HttpOnly"]
        assert reply.cookies["flavour"] == "oat"

    def test_redirect(self, site: Site) -> None:
        reply = httpx.get(site.url + "/redirect", timeout=TIMEOUT)
        assert reply.status_code == 302
        assert reply.headers["location"] == site.url + "/echo?from=redirect"
        followed = httpx.get(site.url + "/redirect", follow_redirects=True, timeout=TIMEOUT)
        assert followed.json()["query"] == [["from", "redirect"]]

    def test_head_has_headers_and_no_body(self, site: Site) -> None:
        reply = httpx.head(site.url + "/echo", timeout=TIMEOUT)
        assert reply.status_code == 200
        assert reply.headers["content-type"] == "application/json"
        assert reply.content == b""

    def test_handler_error_is_a_500_with_the_traceback_only_in_the_log(self, site: Site) -> None:
        reply = httpx.get(site.url + "/error", timeout=TIMEOUT)
        assert reply.status_code == 500
        assert reply.text == "Internal Server Error\n"
        assert wait_until(lambda: ERROR in site.log_text(), 5), site.log_text()[-3000:]
        assert "Traceback (most recent call last)" in site.log_text()

    def test_a_body_the_app_does_not_read_leaves_the_response_whole(self, site: Site) -> None:
        # mod_cgid gives one socket as stdin and stdout: unread input on it
        # at exit would reset it, and the client would lose the response.
        raw = ["-H", "Content-Type: application/octet-stream", "--data-binary", "not a form"]
        report = curl(site.url + "/echo", *raw, timeout=10).json()
        assert (report["method"], report["fields"]) == ("POST", [])

    def test_a_form_over_the_limits_is_a_413_the_client_sees(self, site: Site, tmp_path: Path) -> None:
        body = tmp_path / "fields.txt"
        body.write_bytes(b"a=1&" * 300_000)  # the App's default max_fields is 1000
        reply = curl(site.url + "/echo", "--data-binary", f"@{body}", timeout=10)
        assert reply.status == 413
        assert reply.body == b"more than 1000 fields\n"
