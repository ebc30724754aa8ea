"""PEP 222's own spellings (`getField`, `setBody`...): aliases of the PEP 8
names, defined in the Request and Response class bodies, that behave as those
names do and that a user's `mypy --strict` accepts."""

from __future__ import annotations

import json
import logging
import subprocess
import sys
from pathlib import Path

import pytest

from asyncweb import App, Request, Response
from tests.support import asgi_client

# Every PEP spelling with the PEP 8 name it aliases. A camelCase name on either
# class that is not here fails test_no_spelling_goes_untested.
SPELLINGS: dict[type, dict[str, str]] = {
    Request: {
        "getHeader": "get_header",
        "getCookie": "get_cookie",
        "getField": "get_field",
        "getUploadedFile": "get_uploaded_file",
        "getURL": "get_url",
        "getBaseURL": "get_base_url",
        "getBrowser": "get_browser",
        "isSecure": "is_secure",
    },
    Response: {
        "setStatus": "set_status",
        "setHeader": "set_header",
        "setBody": "set_body",
        "setCookie": "set_cookie",
        "expireCookie": "expire_cookie",
    },
}
PAIRS = [(cls, pep, pep8) for cls, names in SPELLINGS.items() for pep, pep8 in names.items()]


@pytest.mark.parametrize(("cls", "pep", "pep8"), PAIRS, ids=[f"{cls.__name__}.{pep}" for cls, pep, _ in PAIRS])
def test_a_spelling_is_the_very_same_function(cls: type, pep: str, pep8: str) -> None:
    # In the class body itself, not installed from outside or inherited.
    assert pep in vars(cls) and pep8 in vars(cls)
    assert vars(cls)[pep] is vars(cls)[pep8]
    assert callable(vars(cls)[pep8])


def is_camel_case(name: str) -> bool:
    return not name.startswith("_") and name[:1].islower() and name != name.lower()


@pytest.mark.parametrize("cls", list(SPELLINGS), ids=lambda cls: cls.__name__)
def test_no_spelling_goes_untested(cls: type) -> None:
    assert {name for name in dir(cls) if is_camel_case(name)} == set(SPELLINGS[cls])


def test_the_camel_case_check_sees_camel_case() -> None:
    assert is_camel_case("getURL") and is_camel_case("isSecure")
    assert not is_camel_case("get_url") and not is_camel_case("Request") and not is_camel_case("_getX")


# -- behaviour through a real App ---------------------------------------------


async def pep_handler(request: Request, response: Response, log: logging.Logger) -> None:
    """A handler written with PEP 222's spellings only."""
    upload = request.getUploadedFile("doc")
    plain = request.getUploadedFile("title")
    seen = {
        "title": request.getField("title"),
        "missing": request.getField("missing", "fallback"),
        "doc_as_text": request.getField("doc"),
        "upload": None if upload is None else [upload.filename, upload.read().decode()],
        "plain_as_file": None if plain is None else [plain.filename, plain.read().decode()],
        "no_upload": request.getUploadedFile("missing"),
        "cookie": request.getCookie("session"),
        "no_cookie": request.getCookie("missing", "none"),
        "header": request.getHeader("X-Test"),
        "url": request.getURL(),
        "url_chopped": request.getURL(1),
        "url_query": request.getURL(query_string=True),
        "base": request.getBaseURL(),
        "base_plus": request.getBaseURL(1),
        "secure": request.isSecure(),
        "browser": request.getBrowser(),
    }
    response.setStatus(201)
    response.setHeader("X-Answer", "yes")
    response.setCookie("session", "new", httponly=True)
    response.expireCookie("old")
    response.setBody(json.dumps(seen))


@pytest.mark.anyio
async def test_a_handler_in_pep_spellings_answers() -> None:
    async with asgi_client(App(pep_handler), base_url="https://example.org") as client:
        reply = await client.post(
            "/a/b/c?q=1",
            data={"title": "Hello"},
            files={"doc": ("notes.txt", b"file body", "text/plain")},
            headers={"X-Test": "42", "User-Agent": "Mozilla/5.0 Firefox/128.0", "Cookie": "session=abc"},
        )
    assert reply.status_code == 201
    assert reply.headers["X-Answer"] == "yes"
    cookies = reply.headers.get_list("set-cookie")
    assert len(cookies) == 2
    assert cookies[0].startswith("session=new;") and "HttpOnly" in cookies[0]
    assert cookies[1].startswith("old=;") and "Max-Age=0" in cookies[1]
    assert reply.json() == {
        "title": "Hello",
        "missing": "fallback",
        "doc_as_text": "file body",
        "upload": ["notes.txt", "file body"],
        "plain_as_file": None,  # a plain field is no file
        "no_upload": None,
        "cookie": "abc",
        "no_cookie": "none",
        "header": "42",
        "url": "https://example.org/a/b/c",
        "url_chopped": "https://example.org/a/b",
        "url_query": "https://example.org/a/b/c?q=1",
        "base": "https://example.org",
        "base_plus": "https://example.org/a",
        "secure": True,
        "browser": "Firefox",
    }


@pytest.mark.anyio
async def test_is_secure_is_false_over_plain_http() -> None:
    async def handler(request: Request, response: Response, log: logging.Logger) -> None:
        response.setBody(str(request.isSecure()))

    async with asgi_client(App(handler), base_url="http://example.org") as client:
        reply = await client.get("/")
    assert reply.text == "False"


# -- a user's mypy --strict -----------------------------------------------------

USER_FILE = '''\
"""A user's handler, written with every PEP 222 spelling."""

from __future__ import annotations

import logging

from asyncweb import App, Request, Response, UploadFile


async def handler(request: Request, response: Response, log: logging.Logger) -> None:
    title: str | None = request.getField("title")
    missing: str | None = request.getField("missing", "fallback")
    cookie: str | None = request.getCookie("session", None)
    agent: str | None = request.getHeader("User-Agent")
    upload: UploadFile | None = request.getUploadedFile("doc")
    url: str = request.getURL(1, query_string=True)
    base: str = request.getBaseURL(n=1)
    browser: str = request.getBrowser()
    secure: bool = request.isSecure()
    response.setStatus(200, reason="OK")
    response.setHeader("X-Browser", browser)
    response.setCookie("session", "abc", path="/", max_age=3600, secure=secure, httponly=True)
    response.expireCookie("old", path="/")
    response.setBody(f"{title} {missing} {cookie} {agent} {url} {base}")
    if upload is not None:
        response.setBody(upload.read())


app = App(handler)
'''


@pytest.fixture(scope="module")
def mypy_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One cache for the module's mypy runs: only the first is cold."""
    return tmp_path_factory.mktemp("mypy_cache")


def user_mypy(source: str, folder: Path, cache: Path) -> subprocess.CompletedProcess[str]:
    """`mypy --strict` on `source` as a user's own file, outside the project
    (so none of its configuration applies), with asyncweb as installed."""
    pytest.importorskip("mypy", reason="mypy is not installed (pip install -e '.[test]')")
    path = folder / "user_app.py"
    path.write_text(source, encoding="utf-8")
    # The absolute path: mypy's cache would take a same-sized file at the
    # same relative path, written within the same second, for unchanged.
    command = [sys.executable, "-m", "mypy", "--strict", "--cache-dir", str(cache), str(path)]
    return subprocess.run(command, cwd=folder, capture_output=True, text=True, timeout=300)


def test_a_user_file_in_pep_spellings_passes_mypy_strict(tmp_path: Path, mypy_cache: Path) -> None:
    result = user_mypy(USER_FILE, tmp_path, mypy_cache)
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize(
    ("wrong", "right", "code"),
    [
        ('request.getFeild("title")', 'request.getField("title")', "attr-defined"),  # a misspelt name
        ("request.getField(1)", 'request.getField("title")', "call-overload"),  # the signature is checked
        ("response.setBody(1)", 'response.setBody(f"{title}', "arg-type"),
    ],
)
def test_the_mypy_check_fails_on_a_mistake(wrong: str, right: str, code: str, tmp_path: Path, mypy_cache: Path) -> None:
    assert right in USER_FILE
    line = next(line for line in USER_FILE.splitlines() if right in line)
    indent = line[: len(line) - len(line.lstrip())]
    source = USER_FILE.replace(line, line + "\n" + indent + wrong, 1)
    result = user_mypy(source, tmp_path, mypy_cache)
    assert result.returncode == 1, result.stdout + result.stderr
    assert f"[{code}]" in result.stdout, result.stdout + result.stderr
