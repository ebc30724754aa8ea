"""ASGI's receive rules for a gateway that is not an ASGI server, sans-I/O:
what `next_message` gives as the body is fed in, ends, or falls short."""

from __future__ import annotations

from asyncweb.cgi.exchange import Exchange
from asyncweb.types import Message

DISCONNECT = {"type": "http.disconnect"}


def chunk(data: bytes, more: bool) -> Message:
    return {"type": "http.request", "body": data, "more_body": more}


def respond(exchange: Exchange) -> bytes:
    out = exchange.respond({"type": "http.response.start", "status": 204, "headers": []})
    return out + exchange.respond({"type": "http.response.body"})


def test_a_declared_length_ends_with_its_last_byte_without_end_body() -> None:
    exchange = Exchange(5)
    exchange.feed(b"hel")
    assert exchange.next_message() == chunk(b"hel", True)
    assert exchange.next_message() is None  # waits for more
    exchange.feed(b"loEXTRA")  # past the length: not the app's (RFC 3875 4.2)
    assert exchange.body_complete and exchange.buffered == 2
    assert exchange.next_message() == chunk(b"lo", False)
    exchange.feed(b"later")
    assert exchange.buffered == 0
    assert exchange.next_message() is None  # the body is read: nothing until the response is done


def test_chunks_fed_between_two_receives_come_joined() -> None:
    exchange = Exchange(6)
    for part in (b"ab", b"", b"cd", b"ef"):
        exchange.feed(part)
    assert exchange.buffered == 6
    assert exchange.next_message() == chunk(b"abcdef", False)
    assert exchange.buffered == 0


def test_an_empty_body_is_one_final_message() -> None:
    exchange = Exchange(0)
    assert exchange.body_complete
    assert exchange.next_message() == chunk(b"", False)
    assert exchange.next_message() is None


def test_a_body_of_unknown_length_ends_with_its_input() -> None:
    exchange = Exchange(None)
    exchange.feed(b"a" * 100)
    assert exchange.next_message() == chunk(b"a" * 100, True)
    exchange.feed(b"b")
    exchange.end_body()
    assert not exchange.aborted
    assert exchange.next_message() == chunk(b"b", False)
    assert exchange.next_message() is None


def test_the_end_after_the_last_chunk_was_handed_over_is_an_empty_final_message() -> None:
    exchange = Exchange(None)
    exchange.feed(b"all")
    assert exchange.next_message() == chunk(b"all", True)
    exchange.end_body()
    assert exchange.next_message() == chunk(b"", False)


def test_input_that_ends_short_of_the_length_is_a_disconnect() -> None:
    exchange = Exchange(100)
    exchange.feed(b"only 9 by")
    assert exchange.next_message() == chunk(b"only 9 by", True)
    exchange.end_body()
    assert exchange.aborted
    assert exchange.next_message() == exchange.next_message() == DISCONNECT  # asked again: no hang


def test_an_end_at_the_declared_length_is_no_disconnect() -> None:
    exchange = Exchange(3)
    exchange.feed(b"abc")
    exchange.end_body()
    assert not exchange.aborted
    assert exchange.next_message() == chunk(b"abc", False)


def test_abort_is_a_disconnect_at_once() -> None:
    exchange = Exchange(10)
    exchange.feed(b"abc")
    exchange.abort()
    assert exchange.next_message() == DISCONNECT
    exchange.feed(b"more")
    assert exchange.buffered == 3


def test_once_the_response_is_complete_receive_is_a_disconnect() -> None:
    exchange = Exchange(0)
    assert exchange.next_message() == chunk(b"", False)
    assert exchange.next_message() is None  # a streaming app listens: it must not be cut short
    assert respond(exchange) == b"Status: 204 No Content\r\n\r\n"
    assert exchange.response_complete
    assert exchange.next_message() == DISCONNECT


def test_a_body_still_coming_after_the_response_is_dropped() -> None:
    exchange = Exchange(10)
    respond(exchange)
    exchange.feed(b"late")
    assert exchange.buffered == 0
    assert exchange.next_message() == DISCONNECT


def test_the_response_goes_through_the_writer() -> None:
    exchange = Exchange(0, head_only=True)
    exchange.respond({"type": "http.response.start", "status": 200, "headers": []})
    assert exchange.respond({"type": "http.response.body", "body": b"dropped"}) == b"Status: 200 OK\r\n\r\n"
    unfinished = Exchange(0)
    assert unfinished.fail().startswith(b"Status: 500 ")
    assert unfinished.response_complete and unfinished.fail() == b""
