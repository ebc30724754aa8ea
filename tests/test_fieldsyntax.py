"""The syntax of header fields: token names, Content-Length numbers,
repeated fields joined; the same answers from the compiled build."""

from __future__ import annotations

from typing import Any

import pytest

from asyncweb._fieldsyntax import check_name, join_header_values, parse_length
from asyncweb.headers import MutableHeaders


@pytest.mark.parametrize(
    ("name", "separator"),
    [("cookie", "; "), ("Cookie", "; "), ("HTTP_COOKIE", "; "), ("accept", ", "), ("set-cookie", ", ")],
)
def test_join_header_values(name: str, separator: str) -> None:
    assert join_header_values(name, ["a", "b", "c"]) == separator.join("abc")


@pytest.mark.parametrize("name", ["", "a b", "a:b", "a\r\nb", "é", "x\n", "(x)", 7, None])
def test_check_name_refuses_what_is_no_token(name: Any) -> None:
    with pytest.raises(ValueError):
        check_name(name)
    with pytest.raises(ValueError):
        MutableHeaders().add(name, "v")


@pytest.mark.parametrize("name", ["X-A", "content-type", "!#$%&'*+-.^_`|~09"])
def test_check_name_takes_tokens(name: str) -> None:
    assert check_name(name) == name


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("5", 5),
        (" 5 ", 5),
        ("05", 5),
        ("0", 0),
        ("123456789012", 123456789012),
        (None, None),
        ("", None),
        ("²", None),
        ("١٢", None),
        ("-1", None),
        ("+5", None),
        ("5 5", None),
        ("0x10", None),
        ("1e3", None),
    ],
)
def test_parse_length(value: str | None, expected: int | None) -> None:
    assert parse_length(value) == expected
