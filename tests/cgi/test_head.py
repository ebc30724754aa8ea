"""The CGI response head CGI and FastCGI write for the app's headers."""

from __future__ import annotations

from typing import Any

import pytest

from asyncweb.cgi.head import render_head


def test_status_line_fields_and_blank_line() -> None:
    head = render_head(201, [(b"content-type", b"text/plain"), (b"x-a", b"1: 2")])
    assert head == b"Status: 201 Created\r\ncontent-type: text/plain\r\nx-a: 1: 2\r\n\r\n"
    assert render_head(299, []) == b"Status: 299 Unknown\r\n\r\n"


def test_headers_as_lists() -> None:
    # ASGI headers are an iterable of [name, value] two-item iterables: the
    # spec's own examples send lists, and the compiled build must take them.
    head = render_head(200, [[b"content-type", b"text/plain"], (b"x-a", b"1")])
    assert head == b"Status: 200 OK\r\ncontent-type: text/plain\r\nx-a: 1\r\n\r\n"


@pytest.mark.parametrize(
    "header",
    [
        (b"x", b"a\r\nSet-Cookie: evil=1"),
        (b"x", b"a\nb"),
        (b"x", b"a\rb"),
        (b"x\r\ny", b"v"),
        (b"x\n", b"v"),
        (b"x:y", b"v"),
        (b"x", b"a\x00b"),
        (b"x", b"a\x7fb"),
        (b"bad name", b"v"),
        (b"", b"v"),
    ],
)
def test_forged_lines_are_refused(header: tuple[bytes, bytes]) -> None:
    with pytest.raises(ValueError):
        render_head(200, [(b"ok", b"fine"), header])


@pytest.mark.parametrize("status", [99, 1000, "200", 200.0, True, [200]])
def test_bad_status(status: object) -> None:
    with pytest.raises(ValueError):
        render_head(status, [])


@pytest.mark.parametrize("value", [b"", b"a\tb", b"caf\xe9", b"\x80\xff", b"a, b; q=1"])
def test_tabs_empty_values_and_obs_text_go_out_as_given(value: bytes) -> None:
    assert render_head(204, [(b"x", value)]) == b"Status: 204 No Content\r\nx: " + value + b"\r\n\r\n"


def test_names_are_checked_each_time_whatever_was_seen_before() -> None:
    """Names that passed are remembered (a bounded set), so an app's usual
    ones cost a lookup; a bad one never joins them, and a name that is not
    bytes (ASGI's type) is refused as the compiled build refuses it."""
    for _ in range(2):
        with pytest.raises(ValueError):
            render_head(200, [(b"x a", b"1")])
    many = [(b"x-%d" % i, b"v") for i in range(2000)]
    assert render_head(200, many).count(b"\r\n") == 2002
    with pytest.raises(ValueError):
        render_head(200, [(b"x-1", b"v"), (b"x\r\n-1", b"v")])
    not_bytes: list[Any] = [(bytearray(b"x-a"), b"1")]
    with pytest.raises(TypeError):
        render_head(200, not_bytes)
