from __future__ import annotations

import asyncio
import subprocess
import sys
import time
from collections.abc import AsyncGenerator
from pathlib import Path
from typing import Any

import pytest

from asyncweb import App, HTTPError, Request, Response
from asyncweb.request import _deadline_clock
from asyncweb.types import Message, Scope
from tests.support import asgi_client


def make_scope(**overrides: Any) -> Scope:
    scope: Scope = {
        "type": "http",
        "http_version": "1.1",
        "method": "GET",
        "scheme": "http",
        "path": "/",
        "root_path": "",
        "query_string": b"",
        "headers": [(b"host", b"foo.com")],
        "server": ("10.0.0.1", 8000),
        "client": ("192.0.2.7", 51000),
    }
    scope.update(overrides)
    return scope


def test_query_keeps_order_repeats_and_bare_names() -> None:
    request = Request(make_scope(query_string=b"a&b=&c=1&c=2"))
    assert request.query.multi_items() == [("a", None), ("b", ""), ("c", "1"), ("c", "2")]
    assert request.query["c"] == "1"
    assert request.query.get_list("c") == ["1", "2"]
    assert "a" in request.query and request.query["a"] is None


def test_nothing_is_parsed_until_asked() -> None:
    request = Request(make_scope(query_string=b"a=1", headers=[(b"cookie", b"x=1")]))
    assert request._query is None and request._cookies is None and request._headers is None
    assert request.get_field("a") == "1"
    assert request._cookies is None


def test_headers_are_case_insensitive_and_keep_repeats() -> None:
    request = Request(make_scope(headers=[(b"x-dup", b"1"), (b"content-type", b"text/x"), (b"x-dup", b"2")]))
    assert request.get_header("X-Dup") == "1"
    assert request.headers.get_list("x-DUP") == ["1", "2"]
    assert request.headers["Content-Type"] == "text/x"
    assert request.get_header("missing", "d") == "d"
    assert list(request.headers) == ["x-dup", "content-type"]


def test_cookies_from_several_headers() -> None:
    request = Request(make_scope(headers=[(b"cookie", b"a=1; bad"), (b"cookie", b'b="2"')]))
    assert request.cookies == {"a": "1", "b": "2"}
    assert request.get_cookie("b") == "2"
    assert request.get_cookie("zz", "none") == "none"


def test_fields_are_the_query_for_get_and_head_only() -> None:
    assert Request(make_scope(method="HEAD", query_string=b"a=1")).get_field("a") == "1"
    post = Request(make_scope(method="POST", query_string=b"a=1"))
    assert post.get_field("a") is None and post.query["a"] == "1"


def test_env_is_a_read_only_cgi_view() -> None:
    scope = make_scope(
        method="POST",
        path="/legacy/x/y",
        root_path="/legacy",
        query_string=b"q=%20",
        headers=[
            (b"host", b"foo.com:8080"),
            (b"content-type", b"text/plain"),
            (b"content-length", b"3"),
            (b"cookie", b"a=1"),
            (b"cookie", b"b=2"),
            (b"x-dup", b"1"),
            (b"x-dup", b"2"),
        ],
    )
    env = Request(scope).env
    assert env["REQUEST_METHOD"] == "POST"
    assert env["SCRIPT_NAME"] == "/legacy" and env["PATH_INFO"] == "/x/y"
    assert env["QUERY_STRING"] == "q=%20"
    assert env["CONTENT_TYPE"] == "text/plain" and env["CONTENT_LENGTH"] == "3"
    assert env["SERVER_NAME"] == "foo.com" and env["SERVER_PORT"] == "8000"
    assert env["SERVER_PROTOCOL"] == "HTTP/1.1" and env["GATEWAY_INTERFACE"] == "CGI/1.1"
    assert env["REMOTE_ADDR"] == "192.0.2.7"
    assert env["HTTP_COOKIE"] == "a=1; b=2" and env["HTTP_X_DUP"] == "1, 2"
    assert "HTTP_CONTENT_TYPE" not in env and "HTTPS" not in env
    with pytest.raises(TypeError):
        env["X"] = "1"  # type: ignore[index]
    assert Request(make_scope(scheme="https")).env["HTTPS"] == "on"


def test_pep_examples_for_get_url_and_get_base_url() -> None:
    request = Request(make_scope(path="/bar/baz/quux"))
    assert request.get_url() == "http://foo.com/bar/baz/quux"
    assert request.get_url(2) == "http://foo.com/bar"
    assert request.get_url(3) == request.get_url(9) == "http://foo.com/"
    request = Request(make_scope(path="/q/bar/baz/qux"))
    assert request.get_base_url(0) == "http://foo.com"  # PEP 222 writes "http://foo.com/"
    assert request.get_base_url(2) == "http://foo.com/q/bar"


@pytest.mark.parametrize(
    ("root_path", "path", "url"),
    [
        ("", "/", "http://foo.com/"),  # an ASGI server's root
        ("/app.py", "/app.py", "http://foo.com/app.py"),  # a CGI script's own URL: PATH_INFO ''
        ("/app.py", "/app.py/", "http://foo.com/app.py/"),
        ("/legacy", "/legacy", "http://foo.com/legacy"),  # a mount point, requested bare
    ],
)
def test_the_app_root_is_one_path_and_one_base_under_every_gateway(root_path: str, path: str, url: str) -> None:
    request = Request(make_scope(path=path, root_path=root_path))
    assert request.path == "/"  # what a handler routes on, whatever the gateway
    assert request.get_url() == url  # the URL as requested, no "/" added or lost
    assert request.get_base_url() + "/x" == f"http://foo.com{root_path}/x"
    assert request.get_base_url(1) + "/x" == f"http://foo.com{root_path}/x"


def test_query_string_only_when_asked() -> None:
    request = Request(make_scope(path="/a b", query_string=b"x=1&y"))
    assert request.get_url() == "http://foo.com/a%20b"
    assert request.get_url(query_string=True) == "http://foo.com/a%20b?x=1&y"


@pytest.mark.parametrize("path", ["/legacy/report/2024", "/report/2024"])
def test_mount_point_counts_once_whatever_the_server_convention(path: str) -> None:
    request = Request(make_scope(path=path, root_path="/legacy"))
    assert request.path == "/report/2024" and request.root_path == "/legacy"
    assert request.get_url() == "http://foo.com/legacy/report/2024"
    assert request.get_url(1) == "http://foo.com/legacy/report"
    assert request.get_base_url() == "http://foo.com/legacy"
    assert request.get_base_url(1) == "http://foo.com/legacy/report"


def test_scheme_host_and_ports() -> None:
    no_host = make_scope(headers=[], scheme="https", server=("example.org", 443))
    assert Request(no_host).get_url() == "https://example.org/"
    odd_port = make_scope(headers=[], server=("example.org", 8080))
    assert Request(odd_port).get_base_url() == "http://example.org:8080"
    assert Request(make_scope(headers=[(b"host", b"[::1]:8443")])).get_url() == "http://[::1]:8443/"


@pytest.mark.parametrize("host", [b"evil.com/x", b"a b", b"user@evil.com", b""])
def test_a_host_header_that_is_no_host_is_ignored(host: bytes) -> None:
    request = Request(make_scope(headers=[(b"host", host)]))
    assert request.get_url() == "http://10.0.0.1:8000/"


def test_forwarded_headers_only_from_a_trusted_proxy() -> None:
    from asyncweb._config import Config

    headers = [
        (b"host", b"internal:8000"),
        (b"x-forwarded-proto", b"https, http"),
        (b"x-forwarded-host", b"public.example"),
        (b"x-forwarded-prefix", b"/shop/"),
    ]
    scope = make_scope(path="/cart", headers=headers)
    untrusted = Request(scope)
    assert untrusted.get_url() == "http://internal:8000/cart"
    assert not untrusted.is_secure()
    trusted = Request(scope, config=Config(trust_proxy=True))
    assert trusted.get_url() == "https://public.example/shop/cart"
    assert trusted.get_base_url() == "https://public.example/shop"
    assert trusted.is_secure()


@pytest.mark.parametrize(
    ("agent", "family"),
    [
        ("Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0 Safari/537.36", "Chrome"),
        ("Mozilla/5.0 (Windows NT 10.0) AppleWebKit/537.36 Chrome/120.0 Safari/537.36 Edg/120.0", "Edge"),
        ("Mozilla/5.0 (X11; Linux) AppleWebKit/537.36 Chrome/120.0 Safari/537.36 OPR/105.0", "Opera"),
        ("Mozilla/5.0 (X11; Linux x86_64; rv:121.0) Gecko/20100101 Firefox/121.0", "Firefox"),
        ("Mozilla/5.0 (Macintosh) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.1 Safari/605.1.15", "Safari"),
        ("Mozilla/5.0 (compatible; MSIE 10.0; Windows NT 6.1; Trident/6.0)", "IE"),
        ("Lynx/2.8.9rel.1 libwww-FM/2.14", "Lynx"),
        ("curl/8.5.0", "curl"),
        ("", "unknown"),
    ],
)
def test_browser_family(agent: str, family: str) -> None:
    assert Request(make_scope(headers=[(b"user-agent", agent.encode())])).get_browser() == family
    assert Request(make_scope(headers=[])).get_browser() == "unknown"


def test_dump_shows_what_was_parsed() -> None:
    scope = make_scope(path="/p", query_string=b"a&b=2", headers=[(b"host", b"foo.com"), (b"cookie", b"c=3")])
    text = Request(scope).dump()
    assert text.splitlines()[0] == "GET http://foo.com/p?a&b=2 HTTP/1.1"
    assert "  a: None" in text and "  b: '2'" in text and "  c: '3'" in text and "  host: 'foo.com'" in text


@pytest.mark.anyio
async def test_body_and_stream_over_asgi() -> None:
    seen: dict[str, Any] = {}

    async def handler(request: Request, response: Response, log: Any) -> None:
        seen["body"] = await request.body()
        seen["again"] = b"".join([chunk async for chunk in request.stream()])

    async with asgi_client(App(handler)) as client:
        await client.post("/", content=b"x" * 100_000)
    assert seen["body"] == seen["again"] == b"x" * 100_000


@pytest.mark.anyio
async def test_a_small_form_body_is_held_no_longer_than_its_declared_length() -> None:
    """A small urlencoded body is read whole before it is parsed: a server
    that let through more than the Content-Length said gets a 400, and no
    more than the declared bytes are ever held."""
    messages = [{"type": "http.request", "body": b"a=1&b=2", "more_body": True}] + [
        {"type": "http.request", "body": b"&c=" + b"x" * 1000, "more_body": True} for _ in range(1000)
    ]
    taken = 0

    async def receive() -> Message:
        nonlocal taken
        taken += 1
        return messages.pop(0)

    headers = [(b"content-type", b"application/x-www-form-urlencoded"), (b"content-length", b"7")]
    request = Request(make_scope(method="POST", headers=headers), receive)
    with pytest.raises(HTTPError) as refused:
        await request.form()
    assert refused.value.status == 400 and taken == 2


def _small_post(kind: bytes, messages: list[bytes], declared: int) -> Request:
    bodies = list(messages)

    async def receive() -> Message:
        body = bodies.pop(0)
        return {"type": "http.request", "body": body, "more_body": bool(bodies)}

    headers = [(b"content-type", kind), (b"content-length", str(declared).encode())]
    return Request(make_scope(method="POST", headers=headers), receive)


@pytest.mark.anyio
@pytest.mark.parametrize("split", [False, True], ids=["one message", "two messages"])
async def test_a_small_body_in_one_message_is_read_without_an_async_generator(split: bool) -> None:
    """The common case of a form post (the whole body in one message) does not
    pay for the streaming machinery: no async generator is begun for it.
    A body that comes in pieces is read through the stream, to the same result."""
    form = b"a=1&b=%C3%A9&c"
    messages = [form[:5], form[5:]] if split else [form]
    begun = 0
    hooks = sys.get_asyncgen_hooks()

    def firstiter(generator: AsyncGenerator[Any, Any]) -> None:
        nonlocal begun
        begun += 1
        if hooks.firstiter is not None:
            hooks.firstiter(generator)

    sys.set_asyncgen_hooks(firstiter, hooks.finalizer)
    try:
        fields = (await _small_post(b"application/x-www-form-urlencoded", messages, len(form)).form()).fields
        body = await _small_post(b"application/octet-stream", messages, len(form)).body()
    finally:
        sys.set_asyncgen_hooks(*hooks)
    assert list(fields.multi_items()) == [("a", "1"), ("b", "é"), ("c", None)]
    assert body == form
    assert begun == (2 if split else 0)


@pytest.mark.anyio
@pytest.mark.parametrize("messages", [[b"0123456789"], [b"01234", b"56789"]], ids=["one message", "two messages"])
async def test_a_small_body_longer_than_its_content_length_is_a_400(messages: list[bytes]) -> None:
    request = _small_post(b"application/octet-stream", messages, 7)
    with pytest.raises(HTTPError) as refused:
        await request.body()
    assert refused.value.status == 400


@pytest.mark.anyio
@pytest.mark.parametrize("read", ["form", "body"])
async def test_a_client_gone_before_a_small_body_is_a_disconnect_not_an_empty_body(read: str) -> None:
    from asyncweb import ClientDisconnect

    async def receive() -> Message:
        return {"type": "http.disconnect"}

    headers = [(b"content-type", b"application/x-www-form-urlencoded"), (b"content-length", b"7")]
    request = Request(make_scope(method="POST", headers=headers), receive)
    with pytest.raises(ClientDisconnect):
        await (request.form() if read == "form" else request.body())


@pytest.mark.anyio
async def test_a_small_body_is_bytes_whatever_the_server_sent() -> None:
    async def receive() -> Message:
        return {"type": "http.request", "body": bytearray(b"abc"), "more_body": False}

    request = Request(make_scope(method="POST", headers=[(b"content-length", b"3")]), receive)
    body = await request.body()
    assert (type(body), body) == (bytes, b"abc")


def test_the_first_content_type_and_length_are_the_bodys() -> None:
    """As `headers.get` gives them: a repeated field's first value."""
    headers = [
        (b"content-type", b"application/x-www-form-urlencoded"),
        (b"content-length", b"5"),
        (b"content-type", b"text/plain"),
        (b"content-length", b"9"),
    ]
    request = Request(make_scope(method="POST", headers=headers))
    assert request.has_form_body
    assert request._content_headers() == ("application/x-www-form-urlencoded", "application/x-www-form-urlencoded", 5)


def test_scope_from_environ_survives_odd_ports() -> None:
    from asyncweb.cgi.variables import scope_from_environ

    scope = scope_from_environ(
        {"REMOTE_ADDR": "1.2.3.4", "REMOTE_PORT": "\xb2", "SERVER_NAME": "h", "SERVER_PORT": "x"}
    )
    assert scope["client"] == ("1.2.3.4", 0) and scope["server"] == ("h", 0)


def test_parse_length() -> None:
    from asyncweb._fieldsyntax import parse_length

    assert [parse_length(v) for v in ("12", " 7 ", None, "", "-1", "1e3", "\xb2", "١٢")] == [12, 7] + [None] * 6


def test_a_non_ascii_digit_content_length_is_not_a_500() -> None:
    import anyio

    from asyncweb import App

    async def handler(request: Request, response: Response, log: object) -> None:
        response.set_body(await request.body())

    async def receive() -> Message:
        return {"type": "http.request", "body": b"hi", "more_body": False}

    sent: list[Message] = []

    async def send(message: Message) -> None:
        sent.append(message)

    scope = make_scope(method="POST", headers=[(b"content-length", "\xb2".encode("latin-1"))])
    anyio.run(App(handler), scope, receive, send)
    assert sent[0]["status"] == 200 and sent[1]["body"] == b"hi"


@pytest.mark.parametrize(
    ("query", "default", "expected"),
    [
        (b"name=Ada", "world", "Ada"),
        (b"name=", "world", ""),  # a value, empty: the client said so
        (b"name", "world", "world"),  # no value at all: the default
        (b"", "world", "world"),
        (b"name", None, None),
        (b"name&name=Ada", "world", "world"),  # the first one counts
    ],
)
def test_get_field_gives_text_or_the_default(query: bytes, default: str | None, expected: str | None) -> None:
    request = Request(make_scope(query_string=query))
    assert request.get_field("name", default) == expected
    if query.startswith(b"name"):
        assert "name" in request.fields  # the difference stays visible
        assert request.query["name"] == (None if query[4:5] != b"=" else query.split(b"&")[0][5:].decode())


def test_the_readmes_handler_lines_type_check_under_a_users_mypy_strict(tmp_path: Path) -> None:
    pytest.importorskip("mypy")
    user = tmp_path / "handler.py"
    user.write_text(
        "import html\n"
        "import logging\n"
        "from asyncweb import Request, Response\n\n"
        "async def handler(request: Request, response: Response, log: logging.Logger) -> None:\n"
        "    name = request.get_field('name', 'world')\n"
        "    response.set_body(f'<p>Hello, {html.escape(name)}!</p>')\n"
        "    maybe = request.get_field('other')\n"
        "    reveal_type(maybe)\n"
    )
    result = subprocess.run(
        [sys.executable, "-m", "mypy", "--strict", str(user)], capture_output=True, text=True, timeout=300
    )
    assert result.returncode == 0, result.stdout
    assert 'Revealed type is "str | None"' in result.stdout or 'Revealed type is "builtins.str | None"' in result.stdout


def test_the_query_counts_toward_max_fields() -> None:
    from asyncweb import Limits, PayloadTooLarge
    from asyncweb._config import Config

    config = Config(limits=Limits(max_fields=3))
    assert Request(make_scope(query_string=b"a&b&c"), config=config).get_field("a", "x") == "x"
    with pytest.raises(PayloadTooLarge):
        Request(make_scope(query_string=b"a&b&c&d"), config=config).query  # noqa: B018


def test_the_body_watchdogs_clock_is_the_running_loops_own() -> None:
    """asyncio's loop.time is time.monotonic(), read directly; a loop with
    a clock of its own (a virtual one, in tests) keeps it."""

    class Virtual(asyncio.SelectorEventLoop):
        def time(self) -> float:
            return 1000.0

    async def read_clock() -> float:
        return _deadline_clock()()

    loop = Virtual()
    try:
        assert loop.run_until_complete(read_clock()) == 1000.0
    finally:
        loop.close()
    before = time.monotonic()
    assert before <= asyncio.run(read_clock()) <= time.monotonic()
