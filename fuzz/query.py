"""Fuzz the query-string and urlencoded parsers (query.py): parse_query,
the streamed QueryParser (feed/close) with decode_text, and build_query.

Payload: the query string or urlencoded body. Flags: bit 0 strict
parsing; bit 1 QueryParser limits (4 fields of at most 16 bytes).

Invariants: parse_query raises nothing, or QueryError when strict;
QueryParser only BadRequest and PayloadTooLarge; no lone surrogate in any
name or value; the streamed parser gives the same pairs however the body
is cut, and (without limits) decoded, the pairs parse_query gives; a str
query parses as its UTF-8 bytes; parse_query(build_query(pairs)) == pairs
(build_query's docstring).

    python -m fuzz.query -max_total_time=300 /tmp/seeds/query
"""

from __future__ import annotations

from fuzz.common import Finding, attempt, check_same, check_text, chunkings, fuzz, instrumented, parse_input

with instrumented(__name__ == "__main__"):
    from asyncweb.errors import BadRequest, PayloadTooLarge
    from asyncweb.query import Pair, QueryError, QueryParser, RawPair, build_query, decode_text, parse_query

STREAM_ALLOWED = (BadRequest, PayloadTooLarge)


def stream(chunks: list[bytes], strict: bool, limited: bool) -> list[RawPair]:
    parser = QueryParser(strict, 4 if limited else None, 16 if limited else None)
    pairs: list[RawPair] = []
    for chunk in chunks:
        pairs += parser.feed(chunk)
    return pairs + parser.close()


def decoded(raw: list[RawPair], strict: bool) -> list[Pair]:
    return [(decode_text(name, strict), None if value is None else decode_text(value, strict)) for name, value in raw]


def TestOneInput(data: bytes) -> None:  # noqa: N802 - atheris' name
    given = parse_input(data)
    query, strict, limited = given.payload, given.flag(0), given.flag(1)
    allowed: tuple[type[BaseException], ...] = (QueryError,) if strict else ()
    whole = attempt(allowed, parse_query, query, strict)
    check_text(whole, "parse_query")

    ways = chunkings(query, given.cuts)
    streamed = [attempt(STREAM_ALLOWED, stream, way, strict, limited) for way in ways]
    check_same(streamed, ways, "the QueryParser pairs")
    if not limited:
        first = streamed[0]
        through_parser = attempt(allowed, decoded, first, strict) if isinstance(first, list) else first
        check_text(through_parser, "QueryParser + decode_text")
        if through_parser != whole:
            raise Finding(
                f"QueryParser + decode_text differ from parse_query: {through_parser!r:.500} and {whole!r:.500}"
            )

    text = query.decode("utf-8", "replace")
    as_text = attempt(allowed, parse_query, text, strict)
    as_bytes = attempt(allowed, parse_query, text.encode("utf-8"), strict)
    if as_text != as_bytes:
        raise Finding(f"parse_query(str) differs from parse_query of its UTF-8: {as_text!r:.500} and {as_bytes!r:.500}")

    if isinstance(whole, list):
        again = parse_query(build_query(whole))
        if again != whole:
            raise Finding(f"parse_query(build_query(pairs)) is not pairs: {again!r:.500} for {whole!r:.500}")


def main() -> None:
    fuzz(TestOneInput, __file__)


if __name__ == "__main__":
    main()
