"""A real browser: Debian's Chromium, driven by Playwright, submits real HTML
forms to tests/browser/forms_app.py under uvicorn on 127.0.0.1, and keeps
the cookies the app sets as a browser does."""

from __future__ import annotations

import hashlib
import json
import os
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.reliability.helpers import fds_into
from tests.support import SERVER_PIDS, run_uvicorn

try:
    from playwright.sync_api import Browser, BrowserContext, Page, sync_playwright
    from playwright.sync_api import Error as PlaywrightError
except ImportError:  # pragma: no cover - the test extra installs it
    pytest.skip("playwright is not installed: pip install -e '.[test]'", allow_module_level=True)

# The wrapper script the issue names, then the real binary behind it.
CHROMIUM = [path for path in ("/usr/bin/chromium", "/usr/lib/chromium/chromium") if os.access(path, os.X_OK)]
if not CHROMIUM:
    pytest.skip("chromium is not installed: apt-get install chromium", allow_module_level=True)

FLAGS = [
    "--headless",
    "--no-sandbox",  # as root the sandbox cannot run
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
]
TITLE = 'Grüße, 世界 ☃ 🎉 & = + % "quoted" <tag>'
NOTE = "first line\nsecond line\n\nlast"
BINARY = bytes(range(256)) * 40 + b"\r\n--\r\n"  # every byte value, and what looks like a delimiter
UNICODE_NAME = "résumé ☃ naïve.txt"
UNICODE_TEXT = "Ünïcødé content\n".encode()


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


@pytest.fixture(scope="module")
def upload_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("browser-uploads")


@pytest.fixture(scope="module")
def server(upload_dir: Path) -> Iterator[str]:
    with run_uvicorn("tests.browser.forms_app:main", env={"ASYNCWEB_TEST_UPLOAD_DIR": str(upload_dir)}) as base:
        yield base


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with sync_playwright() as playwright:
        errors = []
        for path in CHROMIUM:
            try:
                launched = playwright.chromium.launch(executable_path=path, headless=True, args=FLAGS, timeout=30_000)
            except PlaywrightError as error:
                errors.append(f"{path}: {error}")
                continue
            try:
                yield launched
            finally:
                launched.close()
            return
        pytest.fail("chromium is installed but would not start:\n" + "\n".join(errors))


@pytest.fixture
def context(browser: Browser) -> Iterator[BrowserContext]:
    context = browser.new_context()
    context.set_default_timeout(10_000)
    try:
        yield context
    finally:
        context.close()


@pytest.fixture
def files(tmp_path: Path) -> list[str]:
    binary = tmp_path / "data.bin"
    binary.write_bytes(BINARY)
    named = tmp_path / UNICODE_NAME
    named.write_bytes(UNICODE_TEXT)
    return [str(binary), str(named)]


def seen(page: Page) -> Any:
    return json.loads(page.inner_text("#seen"))


def fill_and_submit(page: Page, base: str, kind: str, files: list[str]) -> Any:
    page.goto(f"{base}/form/{kind}")
    page.fill("#title", TITLE)
    page.fill("#note", NOTE)
    page.check("#tag-a")
    page.check("#tag-c")
    page.select_option("#colors", ["red", "blue"])
    page.set_input_files("#docs", files)
    # #avatar stays empty: "no file chosen"
    with page.expect_navigation():
        page.click("#go")
    return seen(page)


TEXT_FIELDS = [
    ["_charset_", "UTF-8"],
    ["title", TITLE],
    ["note", NOTE.replace("\n", "\r\n")],  # browsers send every line break in a textarea as CRLF
    ["tags", "a"],
    ["tags", "c"],
    ["colors", "red"],
    ["colors", "blue"],
]


def test_multipart_form_with_files(context: BrowserContext, server: str, files: list[str], upload_dir: Path) -> None:
    data = fill_and_submit(context.new_page(), server, "multipart", files)
    assert data["method"] == "POST" and data["content_type"].startswith("multipart/form-data; boundary=")
    assert data["query"] == [["via", "multipart"]]
    assert data["fields"] == [*TEXT_FIELDS, ["go", "send"]]
    assert data["files"] == [
        [
            "docs",
            {
                "filename": "data.bin",
                "raw_filename": "data.bin",
                "content_type": "application/octet-stream",
                "size": len(BINARY),
                "sha256": sha256(BINARY),
            },
        ],
        [
            "docs",
            {
                "filename": UNICODE_NAME,
                "raw_filename": UNICODE_NAME,
                "content_type": "text/plain",
                "size": len(UNICODE_TEXT),
                "sha256": sha256(UNICODE_TEXT),
            },
        ],
    ]  # and no "avatar": the empty file input is no file
    assert data["browser"] == "Chrome"
    pid = SERVER_PIDS[server]
    assert os.listdir(upload_dir) == [] and fds_into(upload_dir, pid) == []


def test_urlencoded_post(context: BrowserContext, server: str, files: list[str]) -> None:
    data = fill_and_submit(context.new_page(), server, "urlencoded", files)
    assert data["method"] == "POST" and data["content_type"] == "application/x-www-form-urlencoded"
    assert data["query"] == [["via", "urlencoded"]]
    # A file input in a urlencoded form sends the file names only; the empty one an empty value.
    assert data["fields"] == [
        *TEXT_FIELDS,
        ["docs", "data.bin"],
        ["docs", UNICODE_NAME],
        ["avatar", ""],
        ["go", "send"],
    ]
    assert data["files"] == []


def test_get_form(context: BrowserContext, server: str, files: list[str]) -> None:
    page = context.new_page()
    data = fill_and_submit(page, server, "get", files)
    assert data["method"] == "GET" and data["content_type"] is None
    expected = [*TEXT_FIELDS, ["docs", "data.bin"], ["docs", UNICODE_NAME], ["avatar", ""], ["go", "send"]]
    # A GET form replaces the action's query: its fields are the query.
    assert data["query"] == expected and data["fields"] == expected
    assert "/submit?_charset_=UTF-8&title=Gr%C3%BC%C3%9Fe" in page.url


# -- cookies ----------------------------------------------------------------------------
def show(page: Page, base: str, path: str = "/cookies/show") -> dict[str, str]:
    page.goto(base + path)
    cookies: dict[str, str] = seen(page)["cookies"]
    return cookies


def test_cookies_come_back_with_path_max_age_and_httponly_respected(context: BrowserContext, server: str) -> None:
    page = context.new_page()
    page.goto(server + "/cookies/set")
    everywhere = {"plain": "1", "brief": "3", "strict": "4", "lax": "5", "hidden": "6", "doomed": "7"}
    assert show(page, server) == everywhere  # "scoped" (Path=/cookies/scoped) is not sent to /cookies/show
    assert show(page, server, "/cookies/scoped/show") == {**everywhere, "scoped": "2"}
    assert "hidden" not in page.evaluate("document.cookie")  # HttpOnly: the server sees it, scripts do not
    page.goto(server + "/cookies/expire")
    assert "doomed" not in show(page, server)
    time.sleep(2)  # Max-Age=1
    assert show(page, server) == {"plain": "1", "strict": "4", "lax": "5", "hidden": "6"}


def test_samesite_is_respected_across_sites(context: BrowserContext, server: str) -> None:
    # 127.0.0.1 and localhost are different sites: cookies of one are
    # cross-site on requests started from a page of the other.
    page = context.new_page()
    page.goto(server + "/cookies/set")
    other = server.replace("127.0.0.1", "localhost")
    target = server + "/cookies/show"
    page.goto(f"{other}/cross/page?target={target}")
    with page.expect_navigation():
        page.click("#link")  # a top-level cross-site GET: Lax cookies go, Strict ones do not
    linked = seen(page)
    assert linked["method"] == "GET"
    assert linked["cookies"].get("lax") == "5" and "strict" not in linked["cookies"]
    page.goto(f"{other}/cross/page?target={target}")
    with page.expect_navigation():
        page.click("#go")  # a cross-site POST: neither
    posted = seen(page)
    assert posted["method"] == "POST"
    assert "lax" not in posted["cookies"] and "strict" not in posted["cookies"]
    page.goto(target)  # same site again: both
    assert {"lax": "5", "strict": "4"}.items() <= seen(page)["cookies"].items()
