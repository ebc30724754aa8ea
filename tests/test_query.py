from urllib.parse import unquote_to_bytes

import pytest
from hypothesis import given
from hypothesis import strategies as st

from asyncweb import PayloadTooLarge, QueryError, QueryParser, build_query, parse_query
from asyncweb.query import RawPair, decode_text, unescape


def decoded(pairs: list[RawPair]) -> list[tuple[str, str | None]]:
    return [(decode_text(name, True), None if value is None else decode_text(value, True)) for name, value in pairs]


def test_bare_names_are_kept_apart_from_empty_values() -> None:
    assert parse_query(b"a&b=&c=1&c=2") == [("a", None), ("b", ""), ("c", "1"), ("c", "2")]


def test_plus_is_space_and_escapes_are_utf8() -> None:
    assert parse_query("q=caf%C3%A9+au+lait&x%20y=%2B") == [("q", "café au lait"), ("x y", "+")]


def test_empty_items_are_skipped_and_equals_in_value_kept() -> None:
    assert parse_query(b"&&a=1=2&&") == [("a", "1=2")]
    assert parse_query(b"") == []
    assert parse_query(b"=x") == [("", "x")]


def test_lenient_parsing_keeps_bad_escapes_and_replaces_bad_utf8() -> None:
    assert parse_query(b"a=%zz&b=%ff") == [("a", "%zz"), ("b", "\ufffd")]


@pytest.mark.parametrize("query", [b"a=%zz", b"a=%4", b"a%=1", b"b=%ff", b"%c3=1"])
def test_strict_parsing_refuses_malformed_queries(query: bytes) -> None:
    with pytest.raises(QueryError) as error:
        parse_query(query, strict=True)
    assert error.value.status == 400


def test_build_query_encodes_and_writes_bare_names() -> None:
    assert build_query([("a", None), ("b", ""), ("c d", "é&=+")]) == "a&b=&c+d=%C3%A9%26%3D%2B"
    assert build_query({"x": "1"}) == "x=1"


def test_build_query_refuses_the_one_unrepresentable_pair() -> None:
    with pytest.raises(ValueError, match="empty name"):
        build_query([("", None)])


pairs = st.lists(
    st.tuples(st.text(), st.one_of(st.none(), st.text())).filter(lambda pair: pair != ("", None)),
    max_size=8,
)


@given(pairs)
def test_build_and_parse_round_trip(items: list[tuple[str, str | None]]) -> None:
    assert parse_query(build_query(items)) == items
    assert parse_query(build_query(items), strict=True) == items


@given(pairs, st.integers(min_value=1, max_value=7))
def test_streaming_parser_matches_whole_parse_at_any_chunking(items: list[tuple[str, str | None]], step: int) -> None:
    body = build_query(items).encode()
    parser = QueryParser()
    got = []
    for start in range(0, len(body), step):
        got += parser.feed(body[start : start + step])
    got += parser.close()
    assert decoded(got) == parse_query(body)


def test_streaming_parser_split_at_every_offset() -> None:
    body = b"a&b=&c=%C3%A9+1&d=x%26y"
    for cut in range(len(body) + 1):
        parser = QueryParser()
        got = parser.feed(body[:cut]) + parser.feed(memoryview(body)[cut:]) + parser.close()
        assert decoded(got) == [("a", None), ("b", ""), ("c", "é 1"), ("d", "x&y")], cut


def test_streaming_parser_limits_field_size_before_the_field_ends() -> None:
    parser = QueryParser(max_field_size=10)
    assert parser.feed(b"a=12345") == []
    with pytest.raises(PayloadTooLarge):
        parser.feed(b"678901")


def test_streaming_parser_limits_field_size_inside_one_chunk() -> None:
    with pytest.raises(PayloadTooLarge):
        QueryParser(max_field_size=10).feed(b"a=" + b"x" * 20 + b"&b=1")


def test_streaming_parser_limits_field_count() -> None:
    parser = QueryParser(max_fields=3)
    parser.feed(b"a=1&b=2&")
    with pytest.raises(PayloadTooLarge) as error:
        parser.feed(b"c=3&d=4&")
    assert error.value.status == 413


PIECES = [b"%", b"%4", b"%41", b"%e9", b"%zz", b"+", b"a", b"\\", b"\\x41", b"\xff"]


@given(st.lists(st.sampled_from(PIECES)).map(b"".join))
def test_unescape_decodes_as_urllib_does_bad_escapes_and_backslashes_included(raw: bytes) -> None:
    assert unescape(raw, strict=False) == unquote_to_bytes(raw.replace(b"+", b" "))
