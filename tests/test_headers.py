"""Request headers (read-only, case-insensitive) and response headers
(checked at every change, so CR/LF can never reach the wire)."""

from __future__ import annotations

import pytest

from asyncweb.headers import Headers, MutableHeaders

RAW = [(b"x-dup", b"1"), (b"content-type", b"text/x"), (b"x-dup", b"2"), (b"cookie", b"a=1"), (b"cookie", b"b=2")]


def test_request_headers_ignore_case_and_give_the_first_value() -> None:
    headers = Headers(RAW)
    assert headers["X-Dup"] == headers.get("x-DUP") == "1"
    assert "CONTENT-TYPE" in headers and "missing" not in headers
    assert headers.get("missing") is None and headers.get("missing", "d") == "d"
    with pytest.raises(KeyError):
        headers["missing"]


def test_request_headers_iterate_each_name_once_in_order() -> None:
    headers = Headers(RAW)
    assert list(headers) == ["x-dup", "content-type", "cookie"]
    assert len(headers) == 3
    assert headers.multi_items() == [(n.decode(), v.decode()) for n, v in RAW]


def test_get_list_and_get_joined() -> None:
    headers = Headers(RAW)
    assert headers.get_list("X-DUP") == ["1", "2"]
    assert headers.get_list("missing") == []
    assert headers.get_joined("x-dup") == "1, 2"
    assert headers.get_joined("Cookie") == "a=1; b=2"
    assert headers.get_joined("missing") is None


def test_values_are_latin_1() -> None:
    assert Headers([(b"x", "café".encode("latin-1"))])["x"] == "café"


def test_response_headers_keep_repeats_and_order() -> None:
    headers = MutableHeaders([("Vary", "Cookie"), ("X-A", "1")])
    headers.add("vary", "Accept")
    assert headers.get_list("VARY") == ["Cookie", "Accept"]
    assert headers.items() == [("Vary", "Cookie"), ("X-A", "1"), ("vary", "Accept")]
    assert len(headers) == 3
    assert headers.raw() == [(b"vary", b"Cookie"), (b"x-a", b"1"), (b"vary", b"Accept")]


def test_setting_a_response_header_replaces_every_spelling_of_it() -> None:
    headers = MutableHeaders({"Set-Cookie": "a=1"})
    headers.add("set-cookie", "b=2")
    headers["SET-COOKIE"] = "c=3"
    assert headers.items() == [("SET-COOKIE", "c=3")]
    assert headers["set-cookie"] == "c=3" and "Set-Cookie" in headers
    del headers["Set-cookie"]
    assert "set-cookie" not in headers and headers.get("set-cookie") is None
    with pytest.raises(KeyError):
        headers["set-cookie"]
    del headers["never-there"]  # no error


@pytest.mark.parametrize("value", ["a\r\nX-Evil: 1", "a\nb", "a\rb", "a\x00b", "\x01", "\x1f", "a\x7f", "€"])
def test_response_headers_refuse_control_characters_and_what_latin_1_cannot_carry(value: str) -> None:
    headers = MutableHeaders({"X-A": "kept"})
    with pytest.raises(ValueError):
        headers.add("X-B", value)
    with pytest.raises(ValueError):
        headers["X-A"] = value  # refused before the old value goes
    with pytest.raises(ValueError):
        MutableHeaders({"X-B": value})
    assert headers.items() == [("X-A", "kept")]


@pytest.mark.parametrize("value", ["", "a\tb", "café", "\xa0\xff", "q=0.9, */*;q=0.8"])
def test_response_headers_take_tabs_and_latin_1(value: str) -> None:
    headers = MutableHeaders()
    headers["X-A"] = value
    assert headers.raw() == [(b"x-a", value.encode("latin-1"))]


def test_a_response_header_value_must_be_a_string() -> None:
    with pytest.raises(TypeError):
        MutableHeaders().add("X-A", 1)  # type: ignore[arg-type]


def test_a_name_latin_1_cannot_carry_is_simply_not_there() -> None:
    headers = Headers([(b"x-a", b"1")])
    assert headers.get("x-\u20ac") is None and headers.get("\u20ac", "d") == "d"
    assert "\u20ac" not in headers and headers.get_list("\u20ac") == []
    with pytest.raises(KeyError):
        headers["\u20ac"]
