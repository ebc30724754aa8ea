from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest

from asyncweb import Response
from asyncweb.types import Message


async def render(response: Response, method: str = "GET") -> list[Message]:
    sent: list[Message] = []

    async def send(message: Message) -> None:
        sent.append(message)

    async def receive() -> Message:
        return {"type": "http.disconnect"}

    await response({"type": "http", "method": method}, receive, send)
    return sent


def headers_of(message: Message) -> list[tuple[bytes, bytes]]:
    return list(message["headers"])


@pytest.mark.anyio
async def test_text_body_is_utf8_with_a_charset_and_a_length() -> None:
    start, body = await render(Response(body="héllo"))
    assert start["status"] == 200
    assert headers_of(start) == [(b"content-type", b"text/plain; charset=utf-8"), (b"content-length", b"6")]
    assert body == {"type": "http.response.body", "body": "héllo".encode(), "more_body": False}


def test_every_body_size_gets_its_own_length_past_the_remembered_ones() -> None:
    from asyncweb import response as module

    for size in [*range(5000), 2, 4999, 1 << 20]:  # beyond the bound of remembered lengths, and seen again
        answer = Response(body=b"x" * size)
        assert dict(answer.raw_headers())[b"content-length"] == str(size).encode()
    assert len(module._LENGTHS) <= 4096


@pytest.mark.anyio
async def test_charset_is_added_to_a_text_type_set_before_or_after_the_body() -> None:
    response = Response(body="<p>hi</p>")
    response.set_header("Content-Type", "text/html")
    start, _ = await render(response)
    assert (b"content-type", b"text/html; charset=utf-8") in headers_of(start)
    response = Response(headers={"Content-Type": "application/json"})
    response.set_body("{}")
    start, _ = await render(response)
    assert (b"content-type", b"application/json") in headers_of(start)


@pytest.mark.anyio
async def test_bytes_body_gets_no_invented_content_type() -> None:
    start, body = await render(Response(body=b"\x00\x01"))
    assert headers_of(start) == [(b"content-length", b"2")]
    assert body["body"] == b"\x00\x01"


@pytest.mark.anyio
async def test_head_sends_the_length_but_no_body() -> None:
    start, body = await render(Response(body="hello"), method="HEAD")
    assert (b"content-length", b"5") in headers_of(start)
    assert body["body"] == b""


@pytest.mark.anyio
@pytest.mark.parametrize("status", [204, 304])
async def test_no_body_statuses(status: int) -> None:
    start, body = await render(Response(status, body="ignored"))
    assert all(name != b"content-length" for name, _ in headers_of(start))
    assert body["body"] == b""


@pytest.mark.anyio
async def test_streamed_body() -> None:
    async def chunks() -> AsyncIterator[bytes]:
        for index in range(3):
            yield f"part{index};".encode()

    start, *bodies = await render(Response(body=chunks()))
    assert all(name != b"content-length" for name, _ in headers_of(start))
    assert b"".join(message["body"] for message in bodies) == b"part0;part1;part2;"
    assert [message["more_body"] for message in bodies] == [True, True, True, False]


@pytest.mark.anyio
async def test_streamed_body_is_closed_unread_for_head() -> None:
    closed = []

    async def chunks() -> AsyncIterator[bytes]:
        try:
            yield b"never sent"
        finally:
            closed.append(True)

    stream = chunks()
    await stream.__anext__()  # started, so closing runs its finally
    _, body = await render(Response(body=stream), method="HEAD")
    assert body == {"type": "http.response.body", "body": b"", "more_body": False}
    assert closed == [True]


def test_set_header_replaces_and_add_header_repeats() -> None:
    response = Response()
    response.set_header("X-A", "1")
    response.set_header("x-a", "2")
    response.add_header("Vary", "Cookie")
    response.add_header("Vary", "Accept")
    assert response.headers.get_list("X-A") == ["2"]
    assert response.headers.get_list("vary") == ["Cookie", "Accept"]


@pytest.mark.anyio
async def test_cookies_become_separate_set_cookie_headers() -> None:
    response = Response()
    response.set_cookie("a", "1")
    response.set_cookie("b", "2", path="/x", httponly=True, samesite="Strict")
    response.set_cookie("a", "3")  # same name, domain and path: replaces
    response.expire_cookie("old")
    start, _ = await render(response)
    cookies = [value.decode() for name, value in headers_of(start) if name == b"set-cookie"]
    assert cookies == [
        "a=3; Path=/",
        "b=2; Path=/x; HttpOnly; SameSite=Strict",
        "old=; Path=/; Max-Age=0; Expires=Thu, 01 Jan 1970 00:00:00 GMT",
    ]


@pytest.mark.parametrize(
    "call",
    [
        lambda r: r.set_header("X-A", "1\r\nSet-Cookie: evil=1"),
        lambda r: r.set_header("X-A", "1\n"),
        lambda r: r.set_header("X-A", "a\x00b"),
        lambda r: r.add_header("X-A\r\n", "1"),
        lambda r: r.add_header("Bad Name", "1"),
        lambda r: r.set_header("X-A", "snowman ☃"),
        lambda r: r.redirect("/next\r\nX-Evil: 1"),
        lambda r: r.set_status(200, "OK\r\nX-Evil: 1"),
        lambda r: r.set_cookie("a", "1\r\n"),
        lambda r: r.expire_cookie("a", path="/\n"),
    ],
)
def test_control_characters_are_refused_at_the_call(call: Any) -> None:
    response = Response()
    with pytest.raises(ValueError):
        call(response)
    assert response.headers.items() == [] and response.cookies == []


def test_headers_given_to_the_constructor_are_checked_too() -> None:
    with pytest.raises(ValueError):
        Response(headers={"X-A": "1\r\n"})
    with pytest.raises(ValueError):
        Response(headers=[("X-A", "1"), ("X-B", "\n")])


def test_redirect() -> None:
    response = Response(body="old")
    response.redirect("/elsewhere?x=1", 303)
    assert response.status == 303 and response.headers["Location"] == "/elsewhere?x=1" and response.body == b""
    with pytest.raises(ValueError):
        response.redirect("/x", 200)


def test_error_helper() -> None:
    response = Response()
    response.error(404)
    assert (response.status, response.body) == (404, b"Not Found\n")
    response.error(403, "members only")
    assert (response.status, response.body) == (403, b"members only\n")


def test_invalid_status_and_body() -> None:
    with pytest.raises(ValueError):
        Response(99)
    with pytest.raises(TypeError):
        Response(body=12)  # type: ignore[arg-type]


def test_str_is_the_whole_http_response() -> None:
    response = Response(201, body="made")
    response.set_status(201, "Made It")
    response.set_cookie("a", "1")
    assert str(response) == (
        "HTTP/1.1 201 Made It\r\n"
        "Content-Type: text/plain; charset=utf-8\r\n"
        "Content-Length: 4\r\n"
        "Set-Cookie: a=1; Path=/\r\n"
        "\r\n"
        "made"
    )


def test_dump_is_a_debugging_view() -> None:
    response = Response(body=b"x" * 300, headers={"X-A": "1"})
    response.set_cookie("a", "1")
    lines = response.dump().splitlines()
    assert lines[0] == "HTTP/1.1 200 OK"
    assert "  X-A: 1" in lines and "  a=1; Path=/" in lines and "body: 300 bytes" in lines
    assert lines[-1].endswith("...")


C1_CONTROLS = ["\x80", "\x85", "\x9b", "\x9f"]


@pytest.mark.parametrize("control", C1_CONTROLS)
def test_c1_controls_are_refused_wherever_text_reaches_the_head(control: str) -> None:
    # U+0085 (NEL) and U+009B (CSI) are line breaks and escapes to some
    # readers; latin-1 would carry them to the wire as single bytes.
    response = Response()
    with pytest.raises(ValueError):
        response.set_header("X-A", f"a{control}b")
    with pytest.raises(ValueError):
        response.add_header("X-A", f"a{control}b")
    with pytest.raises(ValueError):
        response.redirect(f"/next{control}")
    with pytest.raises(ValueError):
        response.set_status(200, f"OK{control}")
    with pytest.raises(ValueError):
        response.set_cookie("c", f"v{control}")
    assert response.raw_headers() == [(b"content-length", b"0")]


def test_latin_1_letters_beyond_c1_stay_allowed() -> None:
    response = Response()
    response.set_header("X-A", "caf\xe9 \xa0\xff")
    assert (b"x-a", "caf\xe9 \xa0\xff".encode("latin-1")) in response.raw_headers()
