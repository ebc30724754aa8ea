"""The server in process, driven by a raw FastCGI client: what nginx and lighttpd
never send (GET_VALUES, multiplexing, ABORT_REQUEST, bad records) and what
is hard to make them do (backpressure, shutdown)."""

from __future__ import annotations

import contextvars
import hashlib
import json
import logging
import socket
from typing import Any

import anyio
import pytest

from asyncweb.cgi.lifespan import LifespanFailure
from asyncweb.fastcgi import listen, serve
from asyncweb.types import Receive, Scope, Send
from tests.fastcgi import apps, wire
from tests.fastcgi.conftest import Server

pytestmark = pytest.mark.anyio


def params(path: str = "/echo", method: str = "GET", **extra: str) -> list[tuple[str, str]]:
    path, _, query = path.partition("?")
    return [
        ("REQUEST_METHOD", method),
        ("SCRIPT_NAME", ""),
        ("PATH_INFO", path),
        ("QUERY_STRING", query),
        ("SERVER_NAME", "example.org"),
        ("SERVER_PORT", "8080"),
        ("REMOTE_ADDR", "127.0.0.9"),
        ("REMOTE_PORT", "40000"),
        ("HTTP_HOST", "example.org:8080"),
        *extra.items(),
    ]


def report(response: wire.Response) -> dict[str, Any]:
    assert response.status == 200, response
    result: dict[str, Any] = json.loads(response.body)
    return result


async def test_get_values(fastcgi_server: Server) -> None:
    async with fastcgi_server(apps.app, concurrency=7) as address, wire.Client.connect(address) as c:
        names = wire.pairs([("FCGI_MAX_CONNS", ""), ("FCGI_MAX_REQS", ""), ("FCGI_MPXS_CONNS", "")])
        await c.send(wire.record(wire.GET_VALUES, 0, names) + wire.record(99, 0, b"?"))
        with anyio.fail_after(5):
            while len(c.records) < 2:
                await c._read_more()
        values = dict(wire.unpack_pairs(c.records[0].content))
        assert values == {b"FCGI_MAX_CONNS": b"7", b"FCGI_MAX_REQS": b"7", b"FCGI_MPXS_CONNS": b"1"}
        assert (c.records[1].type, c.records[1].content[0]) == (wire.UNKNOWN_TYPE, 99)
        # Management records leave the connection usable.
        await c.send(wire.request(1, params()))
        assert report(await c.response(1))["method"] == "GET"


async def test_scope_from_params(fastcgi_server: Server) -> None:
    extra = {"HTTPS": "on", "HTTP_COOKIE": "a=1", "CONTENT_TYPE": "text/plain"}
    p = params("/caf\xc3\xa9/x%2Fy?q=1&r=%20", "POST", **extra)
    p = [("SCRIPT_NAME", "/mount") if k == "SCRIPT_NAME" else (k, v) for k, v in p]
    p += [("HTTP_COOKIE", "b=2"), ("CONTENT_LENGTH", "5")]
    async with fastcgi_server(apps.app) as address, wire.Client.connect(address) as c:
        await c.send(wire.request(1, p, b"hello"))
        got = report(await c.response(1))
    assert got["path"] == "/mount/café/x%2Fy"
    assert got["root_path"] == "/mount"
    assert got["query_string"] == "q=1&r=%20"
    assert got["scheme"] == "https"
    assert got["client"] == ["127.0.0.9", 40000]
    assert got["server"] == ["example.org", 8080]
    headers = dict(map(tuple, got["headers"]))
    assert headers["cookie"] == "a=1; b=2"
    assert headers["content-type"] == "text/plain" and headers["content-length"] == "5"
    assert headers["host"] == "example.org:8080"
    assert got["body_sha256"] == hashlib.sha256(b"hello").hexdigest()


async def test_keep_conn_serves_several_requests_on_one_connection(fastcgi_server: Server) -> None:
    async with fastcgi_server(apps.app) as address, wire.Client.connect(address) as c:
        for rid in (1, 2, 1):
            c.records.clear()
            await c.send(wire.request(rid, params(f"/echo?n={rid}"), keep_conn=True))
            assert report(await c.response(rid))["query_string"] == f"n={rid}"
        assert await c.is_open_after(0.2)


async def test_without_keep_conn_the_server_closes(fastcgi_server: Server) -> None:
    async with fastcgi_server(apps.app) as address, wire.Client.connect(address) as c:
        await c.send(wire.request(1, params(), keep_conn=False))
        response = await c.response(1)
        await c.wait_closed(timeout=3)
    assert response.status == 200
    records = [r for r in c.records if r.request_id == 1]
    assert [r.type for r in records[-2:]] == [wire.STDOUT, wire.END_REQUEST]
    assert records[-2].content == b""


async def test_multiplexed_requests_run_concurrently(fastcgi_server: Server) -> None:
    async with fastcgi_server(apps.app) as address, wire.Client.connect(address) as c:
        await c.send(wire.request(1, params("/slow?seconds=1.5")) + wire.request(2, params("/echo")))
        second = await c.response(2)
        assert wire.collect(c.records, 1) is None  # request 1 is still sleeping
        first = await c.response(1)
    assert report(first)["path"] == "/slow" and report(second)["path"] == "/echo"


async def test_unknown_role(fastcgi_server: Server) -> None:
    async with fastcgi_server(apps.app) as address, wire.Client.connect(address) as c:
        await c.send(wire.begin(3, role=2, keep_conn=False) + wire.record(wire.PARAMS, 3))
        response = await c.response(3)
        await c.wait_closed(timeout=3)
    assert (response.protocol_status, response.body) == (3, b"")


async def test_abort_request_disconnects_the_app(fastcgi_server: Server) -> None:
    apps.seen.pop("abort", None)
    async with fastcgi_server(apps.app) as address, wire.Client.connect(address) as c:
        await c.send(wire.request(1, params("/wait-disconnect?abort", "POST"))[:-8])
        await c.send(wire.record(wire.STDIN, 1, b"partial"))
        with anyio.fail_after(5):
            while not apps.seen.get("abort"):
                await anyio.sleep(0.01)
        await c.send(wire.record(wire.ABORT_REQUEST, 1))
        response = await c.response(1)
        assert response.protocol_status == 0
        assert [m["type"] for m in apps.seen["abort"]] == ["http.request", "http.disconnect"]
        # The connection outlives the aborted request.
        await c.send(wire.request(2, params()))
        assert report(await c.response(2))["method"] == "GET"


async def test_closed_connection_disconnects_the_app(fastcgi_server: Server) -> None:
    apps.seen.pop("closed", None)
    async with fastcgi_server(apps.app) as address:
        async with wire.Client.connect(address) as c:
            await c.send(wire.request(1, params("/wait-disconnect?closed"))[:-8])
            with anyio.fail_after(5):
                while "closed" not in apps.seen:  # the app is waiting
                    await anyio.sleep(0.01)
        with anyio.fail_after(5):
            while apps.seen["closed"] != [{"type": "http.disconnect"}]:
                await anyio.sleep(0.01)
        async with wire.Client.connect(address) as c:
            await c.send(wire.request(1, params()))
            assert report(await c.response(1))["method"] == "GET"


@pytest.mark.parametrize("body", [b"x" * 10, b""], ids=["short", "none, in one read"])
async def test_body_shorter_than_content_length_is_a_disconnect(fastcgi_server: Server, body: bytes) -> None:
    """Also when no body came at all, and the request came whole in one read
    (the codec's bodiless shortcut)."""
    async with fastcgi_server(apps.app) as address, wire.Client.connect(address) as c:
        await c.send(wire.request(1, params(CONTENT_LENGTH="100"), body))
        # The app is told the client went away, so it has nobody to answer.
        response = await c.response(1)
    assert response.status == 0 and response.body == b""


@pytest.mark.parametrize(
    ("data", "log"),
    [
        (wire.record(wire.BEGIN_REQUEST, 1, bytes(8), version=0), "unsupported FastCGI version 0"),
        (wire.begin(1) + wire.record(wire.PARAMS, 1, b"x" * 2000), "PARAMS over 1024 bytes"),
        (wire.begin(1) + wire.record(wire.PARAMS, 1, b"\x05\x05ab") + wire.record(wire.PARAMS, 1), "truncated"),
        (wire.request(1, params())[:20], "inside a record"),
    ],
)
async def test_bad_records_end_the_connection_not_the_server(
    fastcgi_server: Server, caplog: pytest.LogCaptureFixture, data: bytes, log: str
) -> None:
    async with fastcgi_server(apps.app, max_params_size=1024) as address:
        async with wire.Client.connect(address) as c:
            await c.send(data)
            if log == "inside a record":
                await c.stream.send_eof()
            await c.wait_closed(timeout=5)
        assert any(log in r.getMessage() and r.levelno == logging.WARNING for r in caplog.records)
        async with wire.Client.connect(address) as c:
            await c.send(wire.request(1, params()))
            assert report(await c.response(1))["method"] == "GET"


async def test_bad_records_cancel_requests_in_flight(fastcgi_server: Server) -> None:
    apps.seen.pop("cut", None)
    async with fastcgi_server(apps.app) as address, wire.Client.connect(address) as c:
        await c.send(wire.request(1, params("/wait-disconnect?cut"))[:-8])
        with anyio.fail_after(5):
            while "cut" not in apps.seen:
                await anyio.sleep(0.01)
        await c.send(b"\x07" * 8)
        await c.wait_closed(timeout=5)


async def test_handler_error_is_a_logged_500(fastcgi_server: Server, caplog: pytest.LogCaptureFixture) -> None:
    async with fastcgi_server(apps.app) as address, wire.Client.connect(address) as c:
        await c.send(wire.request(1, params("/error")))
        response = await c.response(1)
    assert response.status == 500
    assert response.body == b"Internal Server Error\n"
    assert response.app_status == 1
    assert b"RuntimeError" in response.stderr  # lands in the web server's error log
    errors = [r for r in caplog.records if r.levelno == logging.ERROR]
    assert errors and "GET /error" in errors[0].getMessage()
    assert errors[0].exc_info and "on purpose" in str(errors[0].exc_info[1])


async def test_head_sends_no_body(fastcgi_server: Server) -> None:
    async with fastcgi_server(apps.app) as address, wire.Client.connect(address) as c:
        await c.send(wire.request(1, params("/echo", "HEAD")))
        response = await c.response(1)
    assert response.status == 200 and response.body == b""
    assert int(response.header("content-length") or 0) > 0


async def test_header_injection_is_refused(fastcgi_server: Server) -> None:
    async def bad(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return
        headers = [(b"location", b"/x\r\nSet-Cookie: evil=1")]
        await send({"type": "http.response.start", "status": 302, "headers": headers})
        await send({"type": "http.response.body", "body": b""})

    async with fastcgi_server(bad) as address, wire.Client.connect(address) as c:
        await c.send(wire.request(1, params()))
        response = await c.response(1)
    assert response.status == 500
    assert response.header("set-cookie") is None


async def test_large_streamed_response(fastcgi_server: Server) -> None:
    async with fastcgi_server(apps.app) as address, wire.Client.connect(address) as c:
        await c.send(wire.request(1, params("/stream?mib=8")))
        response = await c.response(1, timeout=30)
    assert response.status == 200
    assert response.body == apps.pattern_block() * 128
    assert max(len(r.content) for r in c.records) <= 65535


async def test_upload_waits_for_a_slow_reader(fastcgi_server: Server) -> None:
    """A client pushing 64 MiB at an app that does not read gets stuck far
    short of it: the server buffers about 1 MiB, then stops reading."""
    release = anyio.Event()
    digest = hashlib.sha256()

    async def lazy(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return
        await release.wait()
        while True:
            message = await receive()
            digest.update(message["body"])
            if not message["more_body"]:
                break
        await send({"type": "http.response.start", "status": 204, "headers": []})
        await send({"type": "http.response.body", "body": b""})

    block = bytes(range(256)) * 128  # 32 KiB, like nginx's records
    total = 64 << 20
    sent = 0
    async with fastcgi_server(lazy) as address, wire.Client.connect(address) as c:
        await c.send(wire.request(1, params("/", "POST", CONTENT_LENGTH=str(total)))[:-8])

        async def upload() -> None:
            nonlocal sent
            while sent < total:
                await c.send(wire.record(wire.STDIN, 1, block))
                sent += len(block)
            await c.send(wire.record(wire.STDIN, 1))

        async with anyio.create_task_group() as tasks:
            tasks.start_soon(upload)
            last = -1
            while sent != last:  # until the upload stalls
                last = sent
                await anyio.sleep(0.3)
            stalled_at = sent
            release.set()
        response = await c.response(1, timeout=30)
    assert stalled_at < 24 << 20, f"{stalled_at} bytes accepted by an app that reads nothing"
    assert response.status == 204
    assert digest.hexdigest() == hashlib.sha256(block * (total // len(block))).hexdigest()


async def test_concurrency_limit_makes_requests_wait(fastcgi_server: Server) -> None:
    running = 0
    peak = 0

    async def counting(scope: Scope, receive: Receive, send: Send) -> None:
        nonlocal running, peak
        if scope["type"] != "http":
            return
        running += 1
        peak = max(peak, running)
        await anyio.sleep(0.05)
        running -= 1
        await send({"type": "http.response.start", "status": 204, "headers": []})
        await send({"type": "http.response.body", "body": b""})

    async def one(address: tuple[str, int]) -> None:
        async with wire.Client.connect(address) as c:
            await c.send(wire.request(1, params()))
            assert (await c.response(1)).status == 204

    async with fastcgi_server(counting, concurrency=2) as address, anyio.create_task_group() as tasks:
        for _ in range(6):
            tasks.start_soon(one, address)
    assert peak == 2


async def test_lifespan_state_reaches_requests(fastcgi_server: Server) -> None:
    async with fastcgi_server(apps.app, lifespan="on") as address, wire.Client.connect(address) as c:
        await c.send(wire.request(1, params()))
        assert report(await c.response(1))["state"] == ["started"]


async def test_lifespan_failure_stops_the_server() -> None:
    async def failing(scope: Scope, receive: Receive, send: Send) -> None:
        await receive()
        await send({"type": "lifespan.startup.failed", "message": "no database"})

    sock = listen("127.0.0.1:0")
    with pytest.raises(LifespanFailure, match="no database"), anyio.fail_after(5):
        await serve(failing, sock, handle_signals=False)
    assert sock.fileno() == -1  # closed


async def test_app_without_lifespan_support_is_served_in_auto_mode(fastcgi_server: Server) -> None:
    async def plain(scope: Scope, receive: Receive, send: Send) -> None:
        assert scope["type"] == "http"
        await send({"type": "http.response.start", "status": 204, "headers": []})
        await send({"type": "http.response.body", "body": b""})

    async with fastcgi_server(plain) as address, wire.Client.connect(address) as c:
        await c.send(wire.request(1, params()))
        assert (await c.response(1)).status == 204


async def test_shutdown_lets_requests_in_flight_finish(fastcgi_server: Server) -> None:
    stop = anyio.Event()
    async with (
        fastcgi_server(apps.app, shutdown_event=stop) as address,
        wire.Client.connect(address) as idle,
        wire.Client.connect(address) as busy,
    ):
        await busy.send(wire.request(1, params("/slow?seconds=1")))
        await idle.send(wire.request(1, params()))
        await idle.response(1)
        await anyio.sleep(0.2)
        stop.set()
        # The idle keep-alive connection is closed at once, the busy one
        # once its request is answered; nobody new gets in.
        await idle.wait_closed(timeout=0.9)
        assert wire.collect(busy.records, 1) is None
        assert report(await busy.response(1))["path"] == "/slow"
        await busy.wait_closed(timeout=3)
        with pytest.raises(OSError):
            await anyio.connect_tcp(*address)


class _StopOnAccept(socket.socket):
    """A listener whose accept() sets the stop event: the signal comes in the
    same turn of the loop as a connection, before its task has run."""

    stop: anyio.Event

    def accept(self) -> tuple[socket.socket, Any]:
        client = super().accept()
        self.stop.set()
        return client


async def test_a_connection_accepted_as_the_stop_comes_is_answered() -> None:
    plain = listen("127.0.0.1:0")
    sock = _StopOnAccept(plain.family, plain.type, fileno=plain.detach())
    sock.stop = anyio.Event()
    with anyio.fail_after(10):
        async with anyio.create_task_group() as tasks:
            await tasks.start(
                lambda task_status: serve(
                    apps.app, sock, handle_signals=False, shutdown_event=sock.stop, task_status=task_status
                )
            )
            async with wire.Client.connect(sock.getsockname()) as client:
                await client.send(wire.request(1, params("/echo?late=1")))
                assert report(await client.response(1))["query_string"] == "late=1"
                await client.wait_closed(timeout=3)


async def test_a_connection_that_has_sent_nothing_yet_at_shutdown_is_answered(fastcgi_server: Server) -> None:
    """A web server opened it to send a request: however late that request
    comes (a loaded machine), it is owed its answer; the connection closes
    once it is answered."""
    stop = anyio.Event()
    async with (
        fastcgi_server(apps.app, shutdown_event=stop) as address,
        wire.Client.connect(address) as fresh,
    ):
        await anyio.sleep(0.1)  # accepted
        stop.set()
        await anyio.sleep(0.5)
        await fresh.send(wire.request(1, params("/echo?late=1")))
        assert report(await fresh.response(1))["query_string"] == "late=1"
        await fresh.wait_closed(timeout=3)


async def test_shutdown_timeout_cancels_stuck_requests(fastcgi_server: Server) -> None:
    stop = anyio.Event()
    with anyio.fail_after(5):
        async with (
            fastcgi_server(apps.app, shutdown_event=stop, shutdown_timeout=0.3) as address,
            wire.Client.connect(address) as stuck,
        ):
            await stuck.send(wire.request(1, params("/slow?seconds=60")))
            await anyio.sleep(0.1)
            stop.set()
            await stuck.wait_closed(timeout=3)


async def test_error_after_the_response_is_logged_and_nothing_follows_end_request(
    fastcgi_server: Server, caplog: pytest.LogCaptureFixture
) -> None:
    async def late(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return
        await send({"type": "http.response.start", "status": 500, "headers": []})
        await send({"type": "http.response.body", "body": b"oops"})
        raise RuntimeError("re-raised for the server's log, as Starlette does")

    async with fastcgi_server(late) as address, wire.Client.connect(address) as c:
        await c.send(wire.request(1, params()))
        assert (await c.response(1)).body == b"oops"
        await c.send(wire.request(2, params()))
        await c.response(2)
        end = next(i for i, r in enumerate(c.records) if r.type == wire.END_REQUEST)
        assert all(r.request_id == 2 for r in c.records[end + 1 :])
    assert any("re-raised" in str(r.exc_info[1]) for r in caplog.records if r.exc_info)


def test_the_server_refuses_to_run_outside_asyncio() -> None:
    """One connection layer, on asyncio: under another anyio backend the
    server says so at once instead of failing on its first connection."""
    sock = listen("127.0.0.1:0")
    coroutine = serve(apps.app, sock, handle_signals=False)
    try:
        with pytest.raises(RuntimeError, match="runs on asyncio"):
            coroutine.send(None)  # driven by hand: no event loop runs
    finally:
        coroutine.close()
        sock.close()


async def test_work_after_the_response_delays_no_other_request(fastcgi_server: Server) -> None:
    """An app that goes on after its response (Starlette's background tasks)
    holds up nobody: END_REQUEST goes out with the last body, and the next
    request on the same keep-alive connection, or on another, runs at once."""
    finished = 0

    async def lingering(scope: Scope, receive: Receive, send: Send) -> None:
        nonlocal finished
        if scope["type"] != "http":
            return
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": scope["query_string"]})
        await anyio.sleep(1)  # background work
        finished += 1

    async with fastcgi_server(lingering) as address, wire.Client.connect(address) as c:
        with anyio.fail_after(0.8):  # well within one request's background work
            for n in range(3):
                c.records.clear()
                await c.send(wire.request(1, params(f"/?{n}")))
                assert (await c.response(1)).body == str(n).encode()
            async with wire.Client.connect(address) as other:
                await other.send(wire.request(1, params("/?other")))
                assert (await other.response(1)).body == b"other"
        assert finished == 0
        with anyio.fail_after(5):
            while finished < 4:
                await anyio.sleep(0.05)


async def test_a_client_that_does_not_read_holds_the_app_back(fastcgi_server: Server) -> None:
    """Writes wait while the web server is not reading: a streamed response
    does not pile up in the server's memory."""
    sent = 0
    block = b"x" * 65536

    async def streaming(scope: Scope, receive: Receive, send: Send) -> None:
        nonlocal sent
        if scope["type"] != "http":
            return
        await send({"type": "http.response.start", "status": 200, "headers": []})
        for _ in range(1024):  # 64 MiB
            await send({"type": "http.response.body", "body": block, "more_body": True})
            sent += len(block)
        await send({"type": "http.response.body", "body": b""})

    async with fastcgi_server(streaming) as address, wire.Client.connect(address) as c:
        await c.send(wire.request(1, params()))
        last = -1
        while sent != last:  # until the app is stuck
            last = sent
            await anyio.sleep(0.3)
        assert sent < 24 << 20, f"{sent} bytes of response taken from an app while nobody read them"
        response = await c.response(1, timeout=60)
    assert response.status == 200 and len(response.body) == 64 << 20


async def test_a_request_cancelled_before_its_task_starts_frees_its_slot(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A bad record right behind a request cancels the request's task
    before it ever runs: its slot must come back all the same."""
    import socket

    from asyncweb.fastcgi.connection import Connection
    from asyncweb.fastcgi.state import ServerState

    ours, theirs = socket.socketpair()
    ours.setblocking(False)
    server = ServerState(apps.app, 1, 1 << 20)
    connection = Connection(server, ours)
    with anyio.fail_after(5):
        async with anyio.create_task_group() as tasks:
            tasks.start_soon(connection.run)
            while connection.peer() == "?":
                await anyio.sleep(0.01)
            connection.data_received(wire.request(1, params()))
            connection.data_received(b"\x07" * 8)
    theirs.close()
    assert server.slots.try_acquire(lambda: None)
    assert "dropping FastCGI connection" in caplog.text


async def test_a_client_that_gives_up_waiting_for_a_slot_stalls_nobody(fastcgi_server: Server) -> None:
    """With every slot taken, a connection that closes while its request
    waits for one does not keep the next one from being served."""
    async with fastcgi_server(apps.app, concurrency=1) as address, wire.Client.connect(address) as busy:
        await busy.send(wire.request(1, params("/slow?seconds=0.5")))
        await anyio.sleep(0.1)
        async with wire.Client.connect(address) as quitter:
            await quitter.send(wire.request(1, params()))
            await anyio.sleep(0.1)
        async with wire.Client.connect(address) as patient:
            await patient.send(wire.request(1, params("/echo?patient")))
            assert report(await busy.response(1))["path"] == "/slow"
            assert report(await patient.response(1, timeout=5))["query_string"] == "patient"


async def test_a_freed_slot_wakes_every_waiter() -> None:
    """A waiter that cannot use the slot (its connection is gone) must not
    keep it from the others: release() gives each of them a try."""
    from asyncweb.fastcgi.state import Slots

    slots = Slots(1)
    tried: list[str] = []
    assert slots.try_acquire(lambda: tried.append("unused"))
    assert not slots.try_acquire(lambda: tried.append("gone"))
    assert not slots.try_acquire(lambda: tried.append("next") if slots.try_acquire(lambda: None) else None)
    slots.release()
    await anyio.sleep(0)
    assert tried == ["gone", "next"]
    assert not slots.try_acquire(lambda: None)  # "next" holds it


async def test_bytes_like_bodies_are_sent(fastcgi_server: Server) -> None:
    # ASGI asks for bytes, but apps build bodies in bytearrays; the compiled
    # build's codec takes bytes only, so the exchange converts.
    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": bytearray(b"one "), "more_body": True})
        await send({"type": "http.response.body", "body": memoryview(b"two "), "more_body": True})
        await send({"type": "http.response.body", "body": bytearray(b"three")})

    async with fastcgi_server(app, lifespan="off") as address, wire.Client.connect(address) as c:
        await c.send(wire.request(1, params()))
        response = await c.response(1)
    assert (response.status, response.body) == (200, b"one two three")


async def test_clients_gone_mid_response_log_no_error(fastcgi_server: Server, caplog: pytest.LogCaptureFixture) -> None:
    """nginx closes the connection when its client goes away: that is no
    error, and uvicorn logs nothing for the same."""
    from asyncweb import App, Request, Response

    async def handler(request: Request, response: Response, log: logging.Logger) -> None:
        async def endless() -> Any:
            while True:
                yield b"x" * 65536

        response.set_body(endless())

    caplog.set_level(logging.DEBUG)
    async with fastcgi_server(App(handler), lifespan="off") as address:
        for _ in range(5):
            async with wire.Client.connect(address) as c:
                await c.send(wire.request(1, params("/endless")))
                await c._read_more()
        await anyio.sleep(0.3)
    assert [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING] == []


async def test_a_body_of_no_declared_length_is_never_taken_from_the_handler(fastcgi_server: Server) -> None:
    """nginx with fastcgi_request_buffering off (or an HTTP/2 client) sends
    no CONTENT_LENGTH: the App must not take the body for a finished one
    and start listening for a disconnect, which would eat its chunks."""
    from asyncweb import App, Request, Response

    async def echo(request: Request, response: Response, log: logging.Logger) -> None:
        response.set_body(request.stream())

    data = bytes(range(256)) * 4096 * 3  # 3 MiB: past the body's high water, so reading pauses too
    server = fastcgi_server(App(echo, parse_forms=False), lifespan="off")
    async with server as address, wire.Client.connect(address) as c:
        request = wire.request(1, params("/echo", "POST"))
        await c.send(request[: -len(wire.record(wire.STDIN, 1))])  # all but the end of STDIN
        for i in range(0, len(data), 32768):
            await c.send(wire.record(wire.STDIN, 1, data[i : i + 32768]))
        await c.send(wire.record(wire.STDIN, 1))
        response = await c.response(1, timeout=10)
    assert (response.status, len(response.body), response.body == data) == (200, len(data), True)


def test_the_scope_says_chunked_while_a_body_of_no_length_may_come() -> None:
    from asyncweb.fastcgi.connection import make_scope
    from asyncweb.fastcgi.protocol import Connection as Codec
    from asyncweb.fastcgi.protocol import RequestStarted
    from asyncweb.fastcgi.state import ServerState

    state = ServerState(apps.app, 10, 1 << 20)
    for body, te in [(True, True), (False, False)]:
        codec = Codec()
        data = wire.request(1, params("/x", "POST"))
        if body:
            data = data[: -len(wire.record(wire.STDIN, 1))]
        event = next(e for e in codec.receive_data(data) if isinstance(e, RequestStarted))
        scope = make_scope(state, event, lambda: "peer", not codec.input_complete(1))
        assert scope is not None
        assert ((b"transfer-encoding", b"chunked") in scope["headers"]) is te


async def test_log_lines_of_a_task_an_app_started_go_with_its_request(fastcgi_server: Server) -> None:
    """A record made in a task of the app's own task group is its request's
    too; context variables an app sets stay its request's (the next request
    on the connection starts without them)."""
    seen = contextvars.ContextVar[str]("seen", default="unset")

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return
        before = seen.get()
        seen.set(scope["query_string"].decode())

        async def worker() -> None:
            logging.getLogger("app.worker").error("from a worker of %s", seen.get())

        async with anyio.create_task_group() as tasks:
            tasks.start_soon(worker)
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": before.encode()})

    async with fastcgi_server(app, lifespan="off") as address, wire.Client.connect(address) as c:
        await c.send(wire.request(1, params("/?first")))
        first = await c.response(1)
        await c.send(wire.request(2, params("/?second")))
        second = await c.response(2)
    assert b"ERROR app.worker: from a worker of first" in first.stderr
    assert b"from a worker of second" in second.stderr and b"first" not in second.stderr
    assert (first.body, second.body) == (b"unset", b"unset")


@pytest.mark.parametrize("level", [logging.ERROR, None])
async def test_an_apps_log_lines_reach_the_web_servers_error_log(fastcgi_server: Server, level: int | None) -> None:
    """As PHP-FPM's errors do: the App traps a handler's exception and logs
    its traceback, which goes to the web server as FCGI_STDERR too (Apache's
    mod_proxy_fcgi logs nothing else from a backend)."""
    from asyncweb import App, Request, Response

    async def handler(request: Request, response: Response, log: logging.Logger) -> None:
        log.warning("below the level: the process's log only")
        raise RuntimeError("the handler failed on purpose")

    server = fastcgi_server(App(handler), lifespan="off", stderr_level=level)
    async with server as address, wire.Client.connect(address) as c:
        await c.send(wire.request(1, params("/fails")))
        response = await c.response(1)
    assert (response.status, response.body) == (500, b"Internal Server Error\n")
    if level is None:
        assert response.stderr == b""
    else:
        text = response.stderr.decode()
        assert "ERROR asyncweb: error in handler for GET /fails" in text
        assert "Traceback (most recent call last)" in text and "RuntimeError: the handler failed on purpose" in text
        assert "below the level" not in text
