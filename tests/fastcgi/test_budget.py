"""What one FastCGI connection may cost the server: PARAMS in sum, replies
a peer does not read, connections that send nothing, requests whose input
stalls, and what accept() does when the process is out of descriptors."""

from __future__ import annotations

import contextlib
import errno
import hashlib
import logging
import os
import socket
import time
from collections.abc import Iterator
from contextlib import asynccontextmanager
from typing import Any

import anyio
import pytest

from asyncweb.fastcgi import cli, connection, listen, serve
from asyncweb.fastcgi import server as server_module
from asyncweb.fastcgi.protocol import Connection as Codec
from asyncweb.fastcgi.protocol import ProtocolError, ProtocolStatus, RequestAborted, RequestStarted
from asyncweb.fastcgi.state import IDLE_TIMEOUT, READ_TIMEOUT
from asyncweb.types import Scope
from tests.fastcgi import apps, wire
from tests.fastcgi.conftest import Server
from tests.fastcgi.test_protocol import spelled_out
from tests.fastcgi.test_server import params, report

pytestmark = pytest.mark.anyio


def unfinished(rid: int, size: int) -> bytes:
    """BEGIN_REQUEST and `size` bytes of PARAMS, never ended."""
    return wire.begin(rid) + wire.record(wire.PARAMS, rid, b"\x01" * size)


# -- the codec, sans I/O --------------------------------------------------------


def test_codec_bounds_the_params_of_unfinished_requests_in_sum() -> None:
    """`max_params_size` is per request; many requests whose PARAMS never
    end are bounded too, at 4 x `max_params_size` by default."""
    codec = Codec(max_requests=1000, max_params_size=1024)
    for rid in range(1, 5):
        codec.receive_data(unfinished(rid, 1000))
    with pytest.raises(ProtocolError, match="PARAMS of 5 open requests over 4096 bytes"):
        codec.receive_data(unfinished(5, 1000))
    codec = Codec(max_requests=1000, max_params_size=1024, max_connection_params=2500)
    codec.receive_data(unfinished(1, 1000) + unfinished(2, 1000))
    with pytest.raises(ProtocolError, match="over 2500 bytes"):
        codec.receive_data(unfinished(3, 1000))


def test_codec_gives_the_params_budget_back_when_params_end_or_the_request_does() -> None:
    codec = Codec(max_requests=1000, max_params_size=1024, max_connection_params=2048)
    pairs = [("REQUEST_METHOD", "GET"), ("X", "y" * 900)]
    for rid in range(1, 50):  # 45 KiB of PARAMS in all, never more than 2 KiB at once
        events = codec.receive_data(wire.request(rid, pairs)[:-8])
        assert isinstance(events[0], RequestStarted)
    assert codec.active_requests == 49
    # Aborted in its PARAMS, or ended there (a read deadline): given back.
    for rid in range(100, 150):
        codec.receive_data(unfinished(rid, 1000))
        if rid % 2:
            codec.receive_data(wire.record(wire.ABORT_REQUEST, rid))
        else:
            codec.end_request(rid)
    records, _ = wire.parse(codec.data_to_send())
    ended = [r.request_id for r in records if r.type == wire.END_REQUEST]
    assert ended == list(range(101, 150, 2))  # with no app asked
    assert codec.active_requests == 49


def test_codec_caps_the_requests_open_on_a_connection() -> None:
    """Regression guard: `max_requests` (the server's concurrency) is the
    cap, and more BEGIN_REQUESTs are refused with OVERLOADED, not kept."""
    codec = Codec(max_requests=3)
    codec.receive_data(b"".join(wire.begin(rid) for rid in range(1, 11)))
    assert codec.active_requests == 3
    records, _ = wire.parse(codec.data_to_send())
    assert [wire.end_request_body(r.content)[1] for r in records] == [ProtocolStatus.OVERLOADED] * 7


@pytest.mark.parametrize(
    "record",
    [
        wire.record(99, 0),  # unknown type: 8 bytes in, 16 out
        wire.record(wire.GET_VALUES, 0, wire.pairs([("FCGI_MAX_CONNS", ""), ("FCGI_MPXS_CONNS", "")])),
        wire.begin(7, role=2),  # UNKNOWN_ROLE
        wire.begin(7) + wire.record(wire.ABORT_REQUEST, 7),  # aborted in its PARAMS
    ],
    ids=["unknown-type", "get-values", "unknown-role", "begin-abort"],
)
def test_codec_holds_input_back_past_max_reply_bytes(record: bytes) -> None:
    """One read's replies are at most `max_reply_bytes` (and a record): the
    rest waits for resume(), in order, a request behind it included."""
    count = (1 << 20) // len(record)
    codec = Codec(max_requests=10, max_reply_bytes=4096)
    events = codec.receive_data(record * count + wire.request(1, params()))
    replies = [codec.data_to_send()]
    assert events == [] and codec.held_back
    assert 4096 <= len(replies[0]) < 4096 + 64
    assert codec.input_incomplete is False  # held back is not owed by the peer
    while codec.held_back:
        events += codec.resume()
        replies.append(codec.data_to_send())
        assert len(replies[-1]) < 4096 + 64
    records, _ = wire.parse(b"".join(replies))
    assert len([r for r in records if r.type != wire.STDOUT]) == count
    assert [type(e).__name__ for e in spelled_out(events)] == ["RequestStarted", "RequestBodyEnd"]
    assert codec.resume() == []


def test_codec_end_of_file_with_input_held_back_is_no_error() -> None:
    codec = Codec(max_reply_bytes=64)
    codec.receive_data(wire.record(99, 0) * 100)
    assert codec.held_back
    assert codec.receive_data(b"") == []
    assert not codec.held_back


def test_codec_tells_what_input_is_owed() -> None:
    codec = Codec(max_requests=3)
    assert not codec.input_incomplete
    codec.receive_data(wire.request(1, params()))  # complete, bodiless
    codec.receive_data(unfinished(2, 10))  # in PARAMS
    codec.receive_data(wire.request(3, params(CONTENT_LENGTH="5"))[:-8])  # in STDIN
    assert codec.incomplete_requests() == [2, 3] and codec.input_incomplete
    codec.end_request(2)
    codec.end_request(3)
    assert not codec.input_incomplete
    codec.receive_data(wire.record(99, 0)[:5])  # a record cut short
    assert codec.input_incomplete and codec.incomplete_requests() == []


# -- the server ---------------------------------------------------------------


@pytest.fixture
def live(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[connection.Connection]]:
    """The server's connections, as it makes them."""
    made: list[connection.Connection] = []

    class Recorded(connection.Connection):
        def __init__(self, *args: Any) -> None:
            super().__init__(*args)
            made.append(self)

    monkeypatch.setattr(server_module, "Connection", Recorded)
    yield made


async def test_a_flood_of_unfinished_params_drops_the_connection(
    fastcgi_server: Server, caplog: pytest.LogCaptureFixture
) -> None:
    """1,000 requests whose PARAMS never end: the connection goes once the
    sum passes the budget, long before 1,000 x `max_params_size`."""
    async with fastcgi_server(apps.app, max_params_size=1024) as address:
        async with wire.Client.connect(address) as c:
            with anyio.move_on_after(5), contextlib.suppress(anyio.BrokenResourceError):  # dropped as we send
                for rid in range(1, 1001):
                    await c.send(unfinished(rid, 1000))
            await c.wait_closed(timeout=5)
        assert any("open requests over 4096 bytes" in r.getMessage() for r in caplog.records)
        async with wire.Client.connect(address) as c:
            await c.send(wire.request(1, params()))
            assert report(await c.response(1))["method"] == "GET"


async def test_multiplexed_params_within_the_budget_are_served(fastcgi_server: Server) -> None:
    """The budget is on PARAMS buffered at once: five requests on one
    connection, twice the budget in all, are each served."""
    big = [*params(), ("HTTP_X_PAD", "p" * 700)]
    async with (
        fastcgi_server(apps.app, max_params_size=1024, max_connection_params=2048) as address,
        wire.Client.connect(address) as c,
    ):
        await c.send(b"".join(wire.request(rid, big) for rid in range(1, 6)))
        for rid in range(1, 6):
            assert report(await c.response(rid))["method"] == "GET"


@pytest.mark.parametrize(
    "record",
    [
        wire.record(99, 0),
        wire.record(wire.GET_VALUES, 0, wire.pairs([("FCGI_MAX_CONNS", ""), ("FCGI_MAX_REQS", "")])),
        wire.begin(7, role=2),
        wire.begin(7) + wire.record(wire.ABORT_REQUEST, 7),
    ],
    ids=["unknown-type", "get-values", "unknown-role", "begin-abort"],
)
async def test_replies_to_a_peer_that_does_not_read_stay_bounded(
    fastcgi_server: Server, live: list[connection.Connection], monkeypatch: pytest.MonkeyPatch, record: bytes
) -> None:
    """16 MiB of records that each call for a reply, from a peer that reads
    none: the server stops reading instead of queueing the replies, serves
    everybody else, and once the peer is idle for idle_timeout, closes it
    and cuts it off when it takes none of what is left."""
    monkeypatch.setattr(connection, "LINGER_SECONDS", 0.3)
    block = record * ((1 << 16) // len(record))
    total = 16 << 20
    sent = 0
    async with (
        fastcgi_server(apps.app, idle_timeout=2) as address,
        wire.Client.connect(address) as flood,
    ):

        async def push() -> None:
            nonlocal sent
            while sent < total:
                await flood.send(block)
                sent += len(block)

        with anyio.fail_after(30):
            async with anyio.create_task_group() as tasks:
                tasks.start_soon(push)
                last = -1
                while sent != last:  # until the peer is stuck, or done
                    last = sent
                    await anyio.sleep(0.3)
                (flooded,) = live
                queued = flooded._transport.get_write_buffer_size() if flooded._transport else 0
                assert queued <= 256 << 10, f"{queued} bytes of replies queued for a peer that reads none"
                assert flooded._reading_paused  # the rest waits in the kernel's buffers
                async with wire.Client.connect(address) as other:
                    await other.send(wire.request(1, params()))
                    assert report(await other.response(1))["method"] == "GET"
                await flooded._lost.wait()  # idle, then cut off
                tasks.cancel_scope.cancel()


async def test_an_idle_connection_is_closed(fastcgi_server: Server) -> None:
    async with fastcgi_server(apps.app, idle_timeout=0.3) as address:
        async with wire.Client.connect(address) as c:
            start = anyio.current_time()
            await c.wait_closed(timeout=3)
            assert anyio.current_time() - start >= 0.3
        async with wire.Client.connect(address) as c:  # idle after a keep-alive request
            await c.send(wire.request(1, params()))
            await c.response(1)
            start = anyio.current_time()
            await c.wait_closed(timeout=3)
            assert anyio.current_time() - start >= 0.3


async def test_a_connection_waiting_for_its_app_is_not_idle(fastcgi_server: Server) -> None:
    """No input for longer than both deadlines, but every request has its
    input and an app is at work: the connection stays, and its idle time
    counts from the response on."""
    async with (
        fastcgi_server(apps.app, idle_timeout=0.3, read_timeout=0.3) as address,
        wire.Client.connect(address) as c,
    ):
        await c.send(wire.request(1, params("/slow?seconds=1", "POST", CONTENT_LENGTH="2"), b"ok"))
        assert report(await c.response(1))["body_size"] == 2
        assert await c.is_open_after(0.2)
        await c.wait_closed(timeout=3)


async def test_requests_whose_body_never_comes_give_their_slots_back(
    fastcgi_server: Server, caplog: pytest.LogCaptureFixture
) -> None:
    """One connection multiplexing 100 requests that declare a body and
    never send it takes every slot; after read_timeout they are aborted
    (their apps see http.disconnect), the slots come back, the connection
    goes, and a request waiting for a slot is served."""
    head = [wire.request(rid, params("/echo", "POST", CONTENT_LENGTH="10"))[:-8] for rid in range(1, 101)]
    async with (
        fastcgi_server(apps.app, concurrency=100, read_timeout=0.5) as address,
        wire.Client.connect(address) as hog,
        wire.Client.connect(address) as waiting,
    ):
        await hog.send(b"".join(head))
        await anyio.sleep(0.1)
        await waiting.send(wire.request(1, params("/echo?waited")))
        start = anyio.current_time()
        assert report(await waiting.response(1, timeout=5))["query_string"] == "waited"
        assert anyio.current_time() - start >= 0.3
        await hog.wait_closed(timeout=3)
    assert any("with 100 request(s) unfinished" in r.getMessage() for r in caplog.records)


async def test_params_that_never_end_close_the_connection(fastcgi_server: Server) -> None:
    async with fastcgi_server(apps.app, read_timeout=0.3) as address, wire.Client.connect(address) as c:
        await c.send(unfinished(1, 100))
        await c.wait_closed(timeout=3)
    async with fastcgi_server(apps.app, read_timeout=0.3) as address, wire.Client.connect(address) as c:
        await c.send(wire.request(1, params())[:30])  # a record cut short
        await c.wait_closed(timeout=3)


async def test_a_stalled_request_leaves_the_others_on_its_connection(fastcgi_server: Server) -> None:
    """Request 2 never sends its body: it is ended (no response: its client
    is gone), while request 1, input complete, is answered on the same
    connection, which stays open."""
    apps.seen.pop("stalled", None)
    async with fastcgi_server(apps.app, read_timeout=0.3) as address, wire.Client.connect(address) as c:
        await c.send(wire.request(1, params("/slow?seconds=1")))
        await c.send(wire.request(2, params("/wait-disconnect?stalled", "POST", CONTENT_LENGTH="5"))[:-8])
        stalled = await c.response(2, timeout=3)
        assert stalled.status == 0 and apps.seen["stalled"] == [{"type": "http.disconnect"}]
        assert report(await c.response(1))["path"] == "/slow"
        assert await c.is_open_after(0.1)
        await c.send(wire.request(3, params()))
        assert report(await c.response(3))["method"] == "GET"


async def test_no_read_deadline_while_the_server_holds_reading_back(fastcgi_server: Server) -> None:
    """Input stops because the server stopped reading, not the peer: an app
    that reads nothing for a while (its body over the high water), or every
    slot taken. Neither is a stall."""
    body = os.urandom(4 << 20)
    async with fastcgi_server(apps.app, concurrency=1, read_timeout=0.3) as address:
        async with wire.Client.connect(address) as c:
            data = wire.request(1, params("/hold?seconds=1", "POST", CONTENT_LENGTH=str(len(body))), body)
            async with anyio.create_task_group() as tasks:
                tasks.start_soon(c.send, data)
                got = report(await c.response(1, timeout=10))
            assert got["body_sha256"] == hashlib.sha256(body).hexdigest()
        async with wire.Client.connect(address) as busy, wire.Client.connect(address) as queued:
            await busy.send(wire.request(1, params("/slow?seconds=1")))
            await anyio.sleep(0.1)
            data = wire.request(1, params("/echo", "POST", CONTENT_LENGTH="10"), b"0123456789")
            await queued.send(data[:-24])  # all but 4 bytes of body, waiting for the slot
            await anyio.sleep(0.6)
            await queued.send(data[-24:])
            assert report(await busy.response(1))["path"] == "/slow"
            assert report(await queued.response(1))["body_size"] == 10


class FlakyListener(socket.socket):
    """A listening socket whose accept() fails with `error` until
    `failing_until` (time.monotonic()), counting the failures."""

    failing_until = 0.0
    error = errno.EMFILE
    failures = 0

    def accept(self) -> tuple[socket.socket, Any]:
        if time.monotonic() < self.failing_until:
            self.failures += 1
            raise OSError(self.error, os.strerror(self.error))
        return super().accept()


@asynccontextmanager
async def flaky_server(seconds: float, error: int) -> Any:
    plain = listen("127.0.0.1:0")
    sock = FlakyListener(plain.family, plain.type, plain.proto, fileno=plain.detach())
    sock.error = error
    stop = anyio.Event()
    async with anyio.create_task_group() as tasks:
        await tasks.start(
            lambda task_status: serve(
                apps.app, sock, handle_signals=False, shutdown_event=stop, task_status=task_status
            )
        )
        sock.failing_until = time.monotonic() + seconds
        try:
            yield sock
        finally:
            stop.set()


async def test_accept_out_of_descriptors_backs_off_and_logs_once(caplog: pytest.LogCaptureFixture) -> None:
    """EMFILE for 1.5 s with a connection waiting in the backlog: a handful
    of retries (not one per 0.1 s), one log line, and the connection is
    served within a second of accept() working again."""
    async with flaky_server(1.5, errno.EMFILE) as sock:
        with anyio.fail_after(5):
            async with wire.Client.connect(sock.getsockname()) as c:
                await c.send(wire.request(1, params()))
                assert report(await c.response(1, timeout=4))["method"] == "GET"
        assert time.monotonic() - sock.failing_until < 1.2
    errors = [r for r in caplog.records if "accept failed" in r.getMessage()]
    assert len(errors) == 1 and "Too many open files" in errors[0].getMessage()
    assert sock.failures <= 8
    assert any("accepting again after" in r.getMessage() for r in caplog.records)


async def test_accept_errors_of_one_connection_are_not_backed_off(caplog: pytest.LogCaptureFixture) -> None:
    """ECONNABORTED (the client was gone before accept() took it) is no
    shortage: the next connection is taken at once, nothing logged above
    debug."""
    async with flaky_server(0.3, errno.ECONNABORTED) as sock:
        with anyio.fail_after(5):
            async with wire.Client.connect(sock.getsockname()) as c:
                await c.send(wire.request(1, params()))
                assert report(await c.response(1))["method"] == "GET"
    assert sock.failures > 20  # spinning on a fake error that never clears: no sleeps between
    assert not [r for r in caplog.records if r.levelno >= logging.WARNING]


async def test_negative_timeouts_are_refused() -> None:
    with pytest.raises(ValueError, match="idle_timeout"):
        await serve(apps.app, "127.0.0.1:0", idle_timeout=-1)


def test_cli_passes_the_budget_options(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[dict[str, Any]] = []
    monkeypatch.setattr(cli, "run_server", lambda app, bind, **options: calls.append(options))
    app = ["tests.fastcgi.apps:app", "--bind", "127.0.0.1:0", "--log-level", "warning"]
    budget = ("idle_timeout", "read_timeout", "max_connection_params")
    assert cli.main(app) == 0
    assert [calls[-1][name] for name in budget] == [IDLE_TIMEOUT, READ_TIMEOUT, None] == [75.0, 90.0, None]
    flags = ["--idle-timeout", "5", "--read-timeout", "0", "--max-connection-params", "65536"]
    assert cli.main([*app, *flags]) == 0
    assert [calls[-1][name] for name in budget] == [5, 0, 65536]
    assert calls[-1]["write_timeout"] == 90.0 and calls[-1]["stderr_level"] == logging.ERROR
    assert cli.main([*app, "--write-timeout", "7", "--stderr-level", "warning"]) == 0
    assert (calls[-1]["write_timeout"], calls[-1]["stderr_level"]) == (7, logging.WARNING)
    assert cli.main([*app, "--stderr-level", "off"]) == 0
    assert calls[-1]["stderr_level"] is None
    for bad in (["--idle-timeout", "-1"], ["--read-timeout", "soon"], ["--max-connection-params", "0"]):
        with pytest.raises(SystemExit):
            cli.parser().parse_args([*app, *bad])


def test_abort_of_a_request_in_its_params_is_answered_by_the_codec() -> None:
    """The codec ends a request aborted before its PARAMS ended (no app was
    asked) and queues its END_REQUEST with the other replies, under the
    same budget; the connection layer never sees it."""
    codec = Codec(max_requests=2)
    events = codec.receive_data(unfinished(1, 10) + wire.record(wire.ABORT_REQUEST, 1))
    assert events == [] and codec.active_requests == 0
    records, _ = wire.parse(codec.data_to_send())
    assert [(r.type, r.request_id) for r in records] == [(wire.STDOUT, 1), (wire.END_REQUEST, 1)]
    events = codec.receive_data(wire.request(2, params())[:-8] + wire.record(wire.ABORT_REQUEST, 2))
    assert events[-1] == RequestAborted(2)  # started: the app is told


async def test_unread_bodies_are_bounded_in_sum_per_connection(
    fastcgi_server: Server, live: list[connection.Connection]
) -> None:
    """Eight multiplexed uploads to apps that read none of them: each stays
    under its own high water, and the connection stops reading once they
    hold CONNECTION_BODY_HIGH_WATER in all, instead of eight times that."""
    gate = anyio.Event()

    async def lazy(scope: Scope, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return
        await gate.wait()
        while (await receive()).get("more_body"):
            pass
        await send({"type": "http.response.start", "status": 204, "headers": []})
        await send({"type": "http.response.body", "body": b""})

    body = b"x" * (2 << 20)
    async with fastcgi_server(lazy, lifespan="off") as address, wire.Client.connect(address) as c:
        with anyio.fail_after(20):
            async with anyio.create_task_group() as tasks:

                async def push() -> None:
                    for rid in range(1, 9):
                        extra = {"CONTENT_LENGTH": str(len(body))}
                        await c.send(wire.request(rid, params("/up", "POST", **extra), body))

                tasks.start_soon(push)
                while not live:
                    await anyio.sleep(0.01)
                (conn,) = live
                held = -1
                while conn._body_backlog() != held:  # until reading has stopped
                    held = conn._body_backlog()
                    await anyio.sleep(0.3)
                assert conn.reading_paused
                assert held <= connection.CONNECTION_BODY_HIGH_WATER + (1 << 16), held
                gate.set()  # the apps read: everything goes through
                for rid in range(1, 9):
                    assert (await c.response(rid)).status == 204


async def test_a_peer_that_takes_none_of_the_output_is_dropped(fastcgi_server: Server) -> None:
    """Without a write deadline the app would wait, and hold its slot, for ever."""
    ended = anyio.Event()

    async def endless(scope: Scope, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return
        if scope["path"] != "/endless":
            await send({"type": "http.response.start", "status": 204, "headers": []})
            await send({"type": "http.response.body", "body": b""})
            return
        try:
            await send({"type": "http.response.start", "status": 200, "headers": []})
            while True:
                await send({"type": "http.response.body", "body": b"y" * 65536, "more_body": True})
        finally:
            ended.set()

    async with fastcgi_server(endless, lifespan="off", write_timeout=0.4, concurrency=1) as address:
        sock = socket.create_connection(address)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        try:
            sock.sendall(wire.request(1, params("/endless")))
            with anyio.fail_after(10):
                await ended.wait()  # the app was stopped
            async with wire.Client.connect(address) as other:  # and its one slot is free again
                await other.send(wire.request(1, params()))
                assert (await other.response(1, timeout=5)).status == 204
        finally:
            sock.close()
