"""The fast paths give what the general rules give.

A urlencoded body declared small enough to hold (`Request.form`) is read
whole and parsed as a whole (`forms.reader.parse_urlencoded`,
`query.split_whole`); any other streams through `QueryParser` chunk by
chunk. One set of rules: for any body, limits and strictness, the two give
the same pairs, or refuse it with the same status, however the streamed
body is split. Checked on random bodies
and on every WHATWG urlencoded-parser vector (read in place from the shared
corpus).
"""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import AsyncIterator, Sequence
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from asyncweb import Request
from asyncweb._config import Config
from asyncweb.errors import HTTPError
from asyncweb.forms.reader import _read_urlencoded, parse_urlencoded
from asyncweb.limits import Limits
from asyncweb.query import parse_query, split_whole
from asyncweb.types import Message
from tests.forms import corpus

WPT = "wpt/urlencoded-parser-data.json"

# Pieces that hit every rule: separators, escapes good and bad (also of the
# separators and of NUL/\x01, the fast path's markers), '+', raw non-ASCII
# and invalid UTF-8, backslashes (escape_decode's own escape), `_charset_`.
PIECES = [
    "a", "b", "é", "=", "==", "&", "&&", "+", "%", "%2", "%26", "%3D", "%3d", "%2B", "%25", "%zz", "%C3%A9",
    "%C3", "%FF", "%00", "%01", "\x00", "\x01", "\\", "\\x41", "%5C", "_charset_", "latin1", "utf-8", "x" * 20,
]  # fmt: skip
BODIES = st.lists(st.sampled_from(PIECES), max_size=25).map("".join).map(lambda text: text.encode("utf-8"))
RAW_BYTES = st.binary(max_size=60)  # and anything at all, invalid UTF-8 included


def config(
    strict: bool = False,
    max_fields: int = 1000,
    max_field_size: int = 1 << 20,
    max_fields_total: int | None = 16 << 20,
) -> Config:
    limits = Limits(max_fields=max_fields, max_field_size=max_field_size, max_fields_total=max_fields_total)
    return Config(strict_parsing=strict, limits=limits)


CONFIGS = st.builds(
    config,
    strict=st.booleans(),
    max_fields=st.integers(1, 12),
    max_field_size=st.integers(1, 80),
    max_fields_total=st.none() | st.integers(0, 150),
)


def outcome(parse: Any) -> tuple[str, Any]:
    try:
        form = parse()
    except HTTPError as error:
        return "refused", error.status
    return "parsed", form.fields.multi_items()


async def _chunks(body: bytes, cuts: Sequence[int]) -> AsyncIterator[bytes]:
    start = 0
    for cut in [*sorted(cuts), len(body)]:
        if cut > start:  # as Request.stream, which yields no empty chunk
            yield body[start:cut]
            start = cut


def streamed(body: bytes, cfg: Config, cuts: Sequence[int] = ()) -> tuple[str, Any]:
    return outcome(lambda: asyncio.run(_read_urlencoded(_chunks(body, cuts), cfg)))


def whole(body: bytes, cfg: Config) -> tuple[str, Any]:
    return outcome(lambda: parse_urlencoded(body, cfg))


def through_request(body: bytes, cfg: Config, cuts: Sequence[int] = ()) -> tuple[str, Any]:
    """`Request.form` as the App calls it, for a declared length small enough
    to be read whole: the body in one message, or cut at `cuts`."""
    bounds = [0, *sorted(cuts), len(body)]
    pieces = [body[start:end] for start, end in itertools.pairwise(bounds)]
    messages: list[Message] = [{"type": "http.request", "body": piece, "more_body": True} for piece in pieces]
    messages[-1]["more_body"] = False

    async def receive() -> Message:
        return messages.pop(0)

    headers = [(b"content-type", b"application/x-www-form-urlencoded"), (b"content-length", b"%d" % len(body))]
    scope = {"type": "http", "method": "POST", "path": "/", "headers": headers}
    return outcome(lambda: asyncio.run(Request(scope, receive, cfg).form()))


@settings(max_examples=600, deadline=None)
@given(body=BODIES | RAW_BYTES, cfg=CONFIGS, data=st.data())
def test_the_whole_body_path_and_the_streaming_parser_agree(body: bytes, cfg: Config, data: st.DataObject) -> None:
    cuts = data.draw(st.lists(st.integers(0, len(body)), max_size=6))
    expected = whole(body, cfg)
    assert streamed(body, cfg, cuts) == expected
    assert streamed(body, cfg) == expected
    assert through_request(body, cfg) == expected
    assert through_request(body, cfg, cuts) == expected


@settings(max_examples=400, deadline=None)
@given(body=BODIES | RAW_BYTES, strict=st.booleans())
def test_split_whole_gives_parse_querys_pairs_or_declines(body: bytes, strict: bool) -> None:
    pairs = split_whole(body)
    if pairs is not None:
        assert pairs == parse_query(body, strict)


def test_the_fast_path_keeps_none_and_empty_values_apart() -> None:
    assert split_whole(b"a&b=&c=1&=d&&e=f=g") == [("a", None), ("b", ""), ("c", "1"), ("", "d"), ("e", "f=g")]
    assert whole(b"a&b=", config()) == ("parsed", [("a", None), ("b", "")])


def test_the_fast_path_pairs_names_and_values_only_where_every_item_has_one_equals_sign() -> None:
    assert split_whole(b"a=1&b=%3D&c=") == [("a", "1"), ("b", "="), ("c", "")]
    # As many `=` as items, yet not one per item: paired in turn, these would read (a, b), (c, d).
    assert split_whole(b"a=b=c&d") == [("a", "b=c"), ("d", None)]
    assert split_whole(b"a=b&&c=d") == [("a", "b"), ("c", "d")]
    assert split_whole(b"a=%01&b=\x01") == [("a", "\x01"), ("b", "\x01")]  # no marker there
    assert split_whole(b"a=%00&b=1") is None  # an escaped NUL: one part too many


@pytest.mark.parametrize(
    ("body", "why"),
    [
        (b"a=%zz", "a bad escape"),
        (b"a=%", "a lone %"),
        (b"a=%FF", "not UTF-8"),
        (b"a=\x00", "a NUL"),
        (b"a&b=%01", "an escaped marker, in a form with a bare name"),
        (b"a=%00", "an escaped NUL"),
        (b"_charset_=latin1&a=%E9", "a _charset_ field"),
        (b"%5Fcharset%5F=latin1", "an escaped _charset_ field"),
    ],
)
def test_the_fast_path_declines_what_needs_the_rules_item_by_item(body: bytes, why: str) -> None:
    assert split_whole(body, unless="_charset_") is None, why
    for strict in (False, True):
        assert whole(body, config(strict)) == streamed(body, config(strict), range(len(body)))


def test_limits_refuse_the_same_way_whole_or_streamed() -> None:
    body = b"a=1&b=%zz&c=3"
    for cfg in (
        config(max_fields=2),
        config(max_field_size=3),
        config(max_fields_total=5),
        config(strict=True, max_fields_total=5),  # the 413 comes first: the bad escape is past the limit
        config(strict=True, max_fields_total=11),  # the 400 comes first: the bad escape is before it
    ):
        expected = whole(body, cfg)
        assert expected[0] == "refused"
        for cut in range(len(body) + 1):
            assert streamed(body, cfg, [cut]) == expected, cfg
    assert whole(body, config(strict=True, max_fields_total=5)) == ("refused", 413)
    assert whole(body, config(strict=True, max_fields_total=11)) == ("refused", 400)


def _wpt_cases() -> list[tuple[str, Any]]:
    return [(f"{index}:{case['input']!r}", case) for index, case in enumerate(corpus.load(WPT)) if "input" in case]


@pytest.mark.parametrize("case", corpus.cases(WPT, _wpt_cases))
def test_whatwg_vectors_parse_the_same_whole_or_streamed(case: dict[str, Any]) -> None:
    body = case["input"].encode("utf-8", "surrogatepass")
    for strict in (False, True):
        cfg = config(strict)
        expected = whole(body, cfg)
        assert streamed(body, cfg) == expected
        assert streamed(body, cfg, range(len(body))) == expected  # byte by byte
        assert streamed(body, cfg, [len(body) // 2]) == expected
