from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from typing import Any

import pytest

from asyncweb import App, HTTPError, Limits, Request, Response
from asyncweb.types import Message
from tests.support import asgi_client


@pytest.mark.anyio
async def test_an_exception_is_logged_with_traceback_and_answered_500(caplog: pytest.LogCaptureFixture) -> None:
    async def handler(request: Request, response: Response, log: logging.Logger) -> None:
        response.set_header("X-Half-Done", "1")
        raise RuntimeError("secret detail /etc/app.conf")

    caplog.set_level(logging.ERROR, "asyncweb")
    async with asgi_client(App(handler)) as client:
        reply = await client.get("/boom?x=1")
    assert reply.status_code == 500
    assert reply.text == "Internal Server Error\n"
    assert "X-Half-Done" not in reply.headers
    [record] = caplog.records
    assert "GET /boom" in record.getMessage()
    assert record.exc_info is not None and "secret detail" in caplog.text
    assert "Traceback" in caplog.text


@pytest.mark.anyio
async def test_the_log_is_settable_and_handed_to_the_handler(caplog: pytest.LogCaptureFixture) -> None:
    mine = logging.getLogger("myapp")

    async def handler(request: Request, response: Response, log: logging.Logger) -> None:
        log.warning("handler says hi")
        raise KeyError("x")

    caplog.set_level(logging.WARNING, "myapp")
    async with asgi_client(App(handler, log=mine)) as client:
        assert (await client.get("/")).status_code == 500
    assert [record.name for record in caplog.records] == ["myapp", "myapp"]


@pytest.mark.anyio
async def test_the_handler_gets_what_the_public_constructors_make() -> None:
    # The App makes both objects without their class calls (a cost on
    # CPython 3.11): they must come out as Request(scope, ...) and Response() do.
    seen: list[tuple[Request, Response]] = []

    async def handler(request: Request, response: Response, log: logging.Logger) -> None:
        seen.append((request, response))

    app = App(handler)
    async with asgi_client(app) as client:
        await client.get("/mount/page?a=1")
    [(request, response)] = seen
    assert type(request) is Request and type(response) is Response
    made = Request(request.scope, request._receive, app.config)
    for name in Request.__slots__:
        assert getattr(request, name) == getattr(made, name), name
    blank = Response()
    for name in Response.__slots__:
        assert getattr(response, name) == getattr(blank, name), name
    assert request.path == "/mount/page"


@pytest.mark.anyio
async def test_http_error_becomes_the_answer() -> None:
    async def handler(request: Request, response: Response, log: logging.Logger) -> None:
        if request.path == "/auth":
            raise HTTPError(401, "log in first", headers={"WWW-Authenticate": 'Basic realm="x"'})
        raise HTTPError(404)

    async with asgi_client(App(handler)) as client:
        missing = await client.get("/nope")
        auth = await client.get("/auth")
    assert (missing.status_code, missing.text) == (404, "Not Found\n")
    assert (auth.status_code, auth.text) == (401, "log in first\n")
    assert auth.headers["www-authenticate"] == 'Basic realm="x"'


def test_http_error_takes_only_error_statuses() -> None:
    with pytest.raises(ValueError):
        HTTPError(200)


async def call(app: App, scope: dict[str, Any], incoming: list[Message]) -> list[Message]:
    sent: list[Message] = []
    queue = list(incoming)

    async def receive() -> Message:
        return queue.pop(0) if queue else {"type": "http.disconnect"}

    async def send(message: Message) -> None:
        sent.append(message)

    await app(scope, receive, send)
    return sent


HTTP_SCOPE = {"type": "http", "method": "GET", "path": "/", "query_string": b"", "headers": []}


@pytest.mark.anyio
async def test_an_error_mid_stream_ends_the_response_without_completing_it(caplog: pytest.LogCaptureFixture) -> None:
    async def chunks() -> AsyncIterator[bytes]:
        yield b"first"
        raise OSError("disk gone")

    async def handler(request: Request, response: Response, log: logging.Logger) -> None:
        response.set_body(chunks())

    sent = await call(App(handler), HTTP_SCOPE, [])
    assert sent[0]["status"] == 200
    assert sent[1] == {"type": "http.response.body", "body": b"first", "more_body": True}
    assert len(sent) == 2  # no final message: the server closes the connection
    assert "disk gone" in caplog.text


@pytest.mark.anyio
async def test_a_client_gone_before_the_body_gets_no_answer() -> None:
    async def handler(request: Request, response: Response, log: logging.Logger) -> None:
        await request.body()

    sent = await call(App(handler), {**HTTP_SCOPE, "method": "POST"}, [{"type": "http.disconnect"}])
    assert sent == []


@pytest.mark.anyio
async def test_body_limit_answers_413() -> None:
    async def handler(request: Request, response: Response, log: logging.Logger) -> None:
        await request.body()

    app = App(handler, limits=Limits(max_body_size=1000))
    async with asgi_client(app) as client:
        declared = await client.post("/", content=b"x" * 1001)
        assert declared.status_code == 413

        async def unsized() -> AsyncIterator[bytes]:
            for _ in range(10):
                yield b"x" * 200

        streamed = await client.post("/", content=unsized())
        assert streamed.status_code == 413
        assert (await client.post("/", content=b"x" * 1000)).status_code == 200


@pytest.mark.anyio
async def test_strict_parsing_answers_400_before_the_handler() -> None:
    calls = []

    async def handler(request: Request, response: Response, log: logging.Logger) -> None:
        calls.append(request.query)

    async with asgi_client(App(handler, strict_parsing=True)) as client:
        bad = await client.get("/?a=%zz")
        good = await client.get("/?a=%41")
    assert bad.status_code == 400 and "percent" in bad.text
    assert good.status_code == 200 and len(calls) == 1
    async with asgi_client(App(handler)) as client:
        assert (await client.get("/?a=%zz")).status_code == 200


async def post_form(app: App, host: bytes) -> tuple[int, int]:
    """The status of an urlencoded POST to `host`, and how often the app read the body."""
    headers = [(b"host", host), (b"content-type", b"application/x-www-form-urlencoded")]
    reads: list[int] = []
    sent: list[Message] = []

    async def receive() -> Message:
        reads.append(1)
        return {"type": "http.request", "body": b"a=1", "more_body": False}

    async def send(message: Message) -> None:
        sent.append(message)

    await app({**HTTP_SCOPE, "method": "POST", "headers": headers}, receive, send)
    return int(sent[0]["status"]), len(reads)


@pytest.mark.anyio
async def test_allowed_hosts_answers_400_before_the_body_is_read() -> None:
    calls: list[str] = []

    async def handler(request: Request, response: Response, log: logging.Logger) -> None:
        calls.append(request.get_url())

    app = App(handler, allowed_hosts=["Example.com", "*.example.org", "[::1]"])
    for host, status in [
        (b"example.com", 200),
        (b"EXAMPLE.COM:8443", 200),
        (b"shop.example.org", 200),
        (b"a.b.example.org:80", 200),
        (b"[::1]:8000", 200),
        (b"example.org", 400),  # *.name is subdomains only
        (b"evil.com", 400),
        (b"example.com.evil.com", 400),
        (b"evilexample.org", 400),
        (b"example.com/x", 400),  # no host at all
        (b"example.com.", 200),  # fully qualified
        (b"example.com..", 400),
        # Each a valid reg-name of RFC 3986, none a name DNS could resolve.
        (b"evil.com,.example.org", 400),
        (b".example.org", 400),
        (b"*.example.org", 400),
        (b"a..example.org", 400),
        (b"evil.com;.example.org", 400),
        (b"evil.com!.example.org", 400),
    ]:
        answered, reads = await post_form(app, host)
        assert (host, answered) == (host, status)
        assert reads == (status == 200)  # a refused request's body stays unread
    assert len(calls) == 6
    no_host = await call(app, {**HTTP_SCOPE, "headers": []}, [])
    assert no_host[0]["status"] == 400


@pytest.mark.anyio
async def test_allowed_hosts_checks_the_forwarded_host_behind_a_trusted_proxy() -> None:
    async def handler(request: Request, response: Response, log: logging.Logger) -> None:
        response.set_body(request.get_url())

    headers = [(b"host", b"internal:8000"), (b"x-forwarded-host", b"public.example")]
    for trust_proxy, status in [(True, 200), (False, 400)]:
        app = App(handler, allowed_hosts=["public.example"], trust_proxy=trust_proxy)
        sent = await call(app, {**HTTP_SCOPE, "headers": headers}, [])
        assert sent[0]["status"] == status


@pytest.mark.parametrize(
    "patterns",
    ["example.com", ["example.com:80"], ["a b"], ["*example.com"], [""], ["*."], ["*.."], [".example.com"], ["a.."]],
)
def test_allowed_hosts_refuses_what_is_no_host_pattern(patterns: Any) -> None:
    async def handler(request: Request, response: Response, log: logging.Logger) -> None:
        pass

    with pytest.raises((TypeError, ValueError), match="allowed_hosts"):
        App(handler, allowed_hosts=patterns)


@pytest.mark.anyio
async def test_lifespan_runs_the_hooks() -> None:
    events = []

    async def on_startup() -> None:
        events.append("up")

    async def on_shutdown() -> None:
        events.append("down")

    async def handler(request: Request, response: Response, log: logging.Logger) -> None:
        pass

    app = App(handler, on_startup=on_startup, on_shutdown=on_shutdown)
    sent = await call(app, {"type": "lifespan"}, [{"type": "lifespan.startup"}, {"type": "lifespan.shutdown"}])
    assert [m["type"] for m in sent] == ["lifespan.startup.complete", "lifespan.shutdown.complete"]
    assert events == ["up", "down"]


@pytest.mark.anyio
async def test_lifespan_startup_tunes_malloc_unless_told_not_to(monkeypatch: pytest.MonkeyPatch) -> None:
    from asyncweb import _malloc as malloc

    calls: list[int] = []

    def tune() -> bool:
        calls.append(1)
        return True

    monkeypatch.setattr(malloc, "tune_malloc", tune)

    async def handler(request: Request, response: Response, log: logging.Logger) -> None:
        pass

    startup: list[Message] = [{"type": "lifespan.startup"}, {"type": "lifespan.shutdown"}]
    await call(App(handler, tune_malloc=False), {"type": "lifespan"}, list(startup))
    assert calls == []
    await call(App(handler), {"type": "lifespan"}, list(startup))
    assert calls == [1]


def test_tune_malloc_applies_on_glibc_but_not_in_a_cgi_process(monkeypatch: pytest.MonkeyPatch) -> None:
    import platform

    from asyncweb._malloc import tune_malloc

    assert tune_malloc() is (platform.libc_ver()[0] == "glibc")
    monkeypatch.setenv("GATEWAY_INTERFACE", "CGI/1.1")
    assert tune_malloc() is False


@pytest.mark.anyio
async def test_a_failing_startup_is_reported() -> None:
    async def on_startup() -> None:
        raise RuntimeError("no database")

    async def handler(request: Request, response: Response, log: logging.Logger) -> None:
        pass

    sent = await call(App(handler, on_startup=on_startup), {"type": "lifespan"}, [{"type": "lifespan.startup"}])
    assert sent[0]["type"] == "lifespan.startup.failed" and "no database" in sent[0]["message"]


@pytest.mark.anyio
async def test_websocket_is_closed_cleanly() -> None:
    async def handler(request: Request, response: Response, log: logging.Logger) -> None:
        raise AssertionError("not called")

    sent = await call(App(handler), {"type": "websocket", "path": "/"}, [{"type": "websocket.connect"}])
    assert sent == [{"type": "websocket.close", "code": 1000}]


@pytest.mark.anyio
async def test_unknown_scope_type_is_a_clear_error() -> None:
    async def handler(request: Request, response: Response, log: logging.Logger) -> None:
        pass

    with pytest.raises(ValueError, match="'telepathy'"):
        await call(App(handler), {"type": "telepathy"}, [])


@pytest.mark.anyio
@pytest.mark.parametrize(
    ("method", "status", "sent"),
    [("GET", 200, b"text\n"), ("HEAD", 200, b""), ("GET", 204, b""), ("GET", 304, b""), ("GET", 201, b"text\n")],
)
async def test_the_app_sends_a_body_only_where_the_method_and_status_allow_one(
    method: str, status: int, sent: bytes
) -> None:
    async def handler(request: Request, response: Response, log: logging.Logger) -> None:
        response.set_status(status)
        response.set_body("text\n")

    messages: list[Message] = []

    async def receive() -> Message:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: Message) -> None:
        messages.append(message)

    scope = {"type": "http", "method": method, "path": "/", "query_string": b"", "headers": []}
    await App(handler)(scope, receive, send)
    start, body = messages
    assert start["status"] == status
    assert body == {"type": "http.response.body", "body": sent, "more_body": False}
