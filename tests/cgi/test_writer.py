"""The one ASGI-to-CGI response writer: the order of the app's messages, the
head held until the first body, and what `fail` answers at each stage.
(Rendering and header injection: tests/cgi/test_cgi.py and test_head.py.)"""

from __future__ import annotations

import pytest

from asyncweb.cgi.writer import ERROR_HEAD, ERROR_RESPONSE, ResponseWriter
from asyncweb.types import Message

START: Message = {"type": "http.response.start", "status": 200, "headers": [(b"x-a", b"1")]}
HEAD = b"Status: 200 OK\r\nx-a: 1\r\n\r\n"


def body(data: bytes | bytearray | memoryview = b"", more: bool = False) -> Message:
    return {"type": "http.response.body", "body": data, "more_body": more}


def started(head_only: bool = False) -> ResponseWriter:
    writer = ResponseWriter(head_only)
    writer.feed(START)
    return writer


def test_the_error_response_is_a_whole_500() -> None:
    assert ERROR_RESPONSE == (
        b"Status: 500 Internal Server Error\r\n"
        b"content-type: text/plain; charset=utf-8\r\ncontent-length: 22\r\n\r\n"
        b"Internal Server Error\n"
    )
    assert ERROR_RESPONSE.startswith(ERROR_HEAD)


def test_the_head_waits_for_the_first_body_then_goes_out_once() -> None:
    writer = ResponseWriter()
    assert writer.feed(START) == b""
    assert writer.started and not writer.sent and not writer.complete
    assert writer.feed(body(b"a", more=True)) == HEAD + b"a"
    assert writer.sent and not writer.complete
    assert writer.feed(body(more=True)) == b""
    assert writer.feed(body(b"b")) == b"b"
    assert writer.complete and not writer.cut


def test_a_start_and_a_body_without_more_is_the_whole_response() -> None:
    writer = started()
    assert writer.feed({"type": "http.response.body"}) == HEAD  # body and more_body are optional
    assert writer.complete


@pytest.mark.parametrize("first", [True, False])
def test_bytes_likes_come_out_as_bytes(first: bool) -> None:
    writer = started()
    if not first:
        writer.feed(body(b"", more=True))
    for data in (bytearray(b"ab"), memoryview(b"cd")):
        out = writer.feed(body(data, more=True))
        assert type(out) is bytes and out.endswith(bytes(data))


def test_a_head_response_drops_every_body_part() -> None:
    writer = started(head_only=True)
    assert writer.feed(body(b"one", more=True)) == HEAD
    assert writer.feed(body(b"two", more=True)) == b""
    assert writer.feed(body(b"three")) == b""
    assert writer.complete


@pytest.mark.parametrize(
    ("messages", "error"),
    [
        ([body(b"early")], "before http.response.start"),
        ([START, START], "sent twice"),
        ([START, body(b"done"), body(b"more")], "after the response was complete"),
        ([{"type": "http.response.trailers"}], "unexpected ASGI message 'http.response.trailers'"),
        ([START, {"type": "websocket.send", "text": "x"}], "unexpected ASGI message 'websocket.send'"),
    ],
)
def test_messages_out_of_order_are_refused(messages: list[Message], error: str) -> None:
    writer = ResponseWriter()
    *before, last = messages
    for message in before:
        writer.feed(message)
    with pytest.raises(RuntimeError, match=error):
        writer.feed(last)


def test_fail_before_anything_is_a_500() -> None:
    writer = ResponseWriter()
    assert writer.fail() == ERROR_RESPONSE
    assert writer.complete and not writer.cut and writer.sent
    assert writer.fail() == b""  # once
    with pytest.raises(RuntimeError):
        writer.feed(START)  # too late for the app's own


def test_fail_after_the_start_replaces_the_held_head_with_a_500() -> None:
    writer = started()
    assert writer.fail() == ERROR_RESPONSE
    assert writer.complete and not writer.cut


def test_a_start_that_cannot_be_sent_leaves_room_for_the_500() -> None:
    writer = ResponseWriter()
    with pytest.raises(ValueError):
        writer.feed({"type": "http.response.start", "status": 200, "headers": [(b"x", b"a\r\nb: c")]})
    assert not writer.started
    assert writer.fail() == ERROR_RESPONSE


def test_fail_of_a_head_request_sends_no_body() -> None:
    assert ResponseWriter(head_only=True).fail() == ERROR_HEAD


def test_fail_after_a_body_part_cuts_the_response_short() -> None:
    writer = started()
    writer.feed(body(b"par", more=True))
    assert writer.fail() == b""
    assert writer.complete and writer.cut
    with pytest.raises(RuntimeError):
        writer.feed(body(b"tial"))


def test_fail_after_a_complete_response_adds_nothing() -> None:
    writer = started()
    writer.feed(body(b"done"))
    assert writer.fail() == b""
    assert writer.complete and not writer.cut
