import logging
from datetime import UTC, datetime, timedelta, timezone
from http.cookies import SimpleCookie

import pytest
from hypothesis import given
from hypothesis import strategies as st

from asyncweb import App, Request, Response
from asyncweb.cookies import format_set_cookie, parse_cookies
from tests.support import asgi_client


def wire(header: str) -> str:
    """The header as Request.cookies hands it over: the latin-1 text of the UTF-8 bytes a browser sends."""
    return header.encode("utf-8").decode("latin-1")


def test_lenient_parser_skips_malformed_pairs_and_keeps_the_rest() -> None:
    header = 'sid=abc; junk; =nameless; json={"a":1,"b":2}; quoted="x y"; sp = 1 '
    assert parse_cookies(header) == {"sid": "abc", "json": '{"a":1,"b":2}', "quoted": "x y", "sp": "1"}


def test_first_cookie_of_a_name_wins() -> None:
    # Browsers send the cookie with the most specific path first.
    assert parse_cookies("a=specific; a=general") == {"a": "specific"}


@given(st.text())
def test_parser_never_raises(header: str) -> None:
    cookies = parse_cookies(header)
    assert all(name and ";" not in name for name in cookies)


@given(st.binary())
def test_parser_never_raises_nor_makes_surrogates_from_any_bytes(header: bytes) -> None:
    for name, value in parse_cookies(header.decode("latin-1")).items():
        (name + value).encode("utf-8")  # a lone surrogate would raise here


def test_utf8_names_and_values_are_decoded() -> None:
    # What Chromium sends after document.cookie = "saint=André"; and a value ending in
    # U+00E0 (UTF-8 C3 A0, whose A0 is a latin-1 no-break space that must not be stripped).
    header = wire("saint=André Bessette; fö=ö; x=voilà ; snow=☃")
    assert parse_cookies(header) == {"saint": "André Bessette", "fö": "ö", "x": "voilà", "snow": "☃"}


def test_bytes_that_are_not_utf8_stay_latin1_text() -> None:
    header = b"old=\xe9t\xe9; new=\xc3\xa9t\xc3\xa9; cut=\xc3; \xe9=1".decode("latin-1")
    assert parse_cookies(header) == {"old": "été", "new": "été", "cut": "\xc3", "é": "1"}


def test_a_name_decoded_to_one_seen_before_does_not_replace_it() -> None:
    assert parse_cookies(wire("é=first; é=second")) == {"é": "first"}


def test_quoted_values_have_simplecookie_escapes_undone() -> None:
    header = r'a="An\054awkward\073value"; b="say \"hi\" \\ \z"; c="\303\251t\303\251"; d="\351"; e="\"; f="\400"'
    assert parse_cookies(header) == {
        "a": "An,awkward;value",
        "b": 'say "hi" \\ z',  # a backslash before any other character gives that character
        "c": "été",  # the bytes Django and Werkzeug escape are UTF-8...
        "d": "é",  # ...those of SimpleCookie latin-1: neither is lost
        "e": "\\",  # a lone backslash stays
        "f": "400",  # three octal digits up to \377 only, as http.cookies reads them
    }


def test_unquoted_values_keep_backslashes() -> None:
    header = r'a=An\054b; b=\"x\"; c=x\y; d="half\054'
    assert parse_cookies(header) == {"a": r"An\054b", "b": r"\"x\"", "c": r"x\y", "d": r'"half\054'}


@pytest.mark.anyio
@pytest.mark.parametrize("value", ["An,awkward;value", 'say "hi" \\', "André", "tab\there"])
async def test_a_cookie_simplecookie_wrote_reads_back_as_it_was(value: str) -> None:
    # A real round trip: the app sends SimpleCookie's Set-Cookie line, httpx's cookie jar
    # keeps it and sends it back, and the next request reads the original value.
    line = SimpleCookie({"test": value}).output(header="").strip()

    async def handler(request: Request, response: Response, log: logging.Logger) -> None:
        if request.path == "/set":
            response.add_header("Set-Cookie", line.encode("utf-8").decode("latin-1"))
        else:
            response.set_body(repr(request.get_cookie("test")))

    async with asgi_client(App(handler)) as client:
        assert (await client.get("/set")).status_code == 200
        assert client.cookies["test"].startswith('"')  # SimpleCookie quoted it, and the jar kept the quotes
        assert (await client.get("/read")).text == repr(value)


@pytest.mark.anyio
async def test_utf8_cookie_bytes_through_a_request() -> None:
    async def handler(request: Request, response: Response, log: logging.Logger) -> None:
        response.set_body(f"{request.get_cookie('saint')}|{request.get_cookie('old')}")

    async with asgi_client(App(handler)) as client:
        reply = await client.get("/", headers={b"cookie": b"saint=Andr\xc3\xa9; old=\xe9t\xe9"})
    assert reply.text == "André|été"


def test_set_cookie_with_every_attribute() -> None:
    line = format_set_cookie(
        "sid",
        "abc",
        path="/app",
        domain="example.com",
        max_age=timedelta(hours=1),
        expires=datetime(2030, 1, 2, 3, 4, 5, tzinfo=UTC),
        secure=True,
        httponly=True,
        samesite="none",
        partitioned=True,
        comment="hi",
    )
    assert line == (
        "sid=abc; Domain=example.com; Path=/app; Max-Age=3600; Expires=Wed, 02 Jan 2030 03:04:05 GMT; "
        "Secure; HttpOnly; SameSite=None; Partitioned; Comment=hi"
    )


@pytest.mark.parametrize(
    "expires",
    [
        datetime(2030, 1, 2, 3, 4, 5),  # naive means UTC
        datetime(2030, 1, 2, 5, 4, 5, tzinfo=timezone(timedelta(hours=2))),
        datetime(2030, 1, 1, 22, 4, 5, tzinfo=timezone(timedelta(hours=-5))),  # the day before, there
    ],
)
def test_expires_is_written_in_gmt(expires: datetime) -> None:
    assert format_set_cookie("a", "1", expires=expires) == "a=1; Path=/; Expires=Wed, 02 Jan 2030 03:04:05 GMT"


@pytest.mark.parametrize("expires", [1.7e12, -1e11, 1e300, float("nan")])  # e.g. milliseconds given for seconds
def test_expires_out_of_what_browsers_parse_is_refused(expires: float) -> None:
    with pytest.raises(ValueError, match="out of range"):
        format_set_cookie("a", "1", expires=expires)


def test_expires_in_seconds_from_now() -> None:
    line = format_set_cookie("a", "1", expires=3600)
    stamp = line.split("Expires=")[1]
    when = datetime.strptime(stamp, "%a, %d %b %Y %H:%M:%S GMT").replace(tzinfo=UTC)
    assert abs((when - datetime.now(UTC)).total_seconds() - 3600) < 5


@pytest.mark.parametrize(
    "kwargs",
    [
        {"name": "a\r\nb", "value": "1"},
        {"name": "a b", "value": "1"},
        {"name": "", "value": "1"},
        {"name": "a", "value": "1\r\nSet-Cookie: evil=1"},
        {"name": "a", "value": "1\x00"},
        {"name": "a", "value": "1; Domain=evil.com"},
        {"name": "a", "value": "é"},
        {"name": "a", "value": "1", "path": "/\n"},
        {"name": "a", "value": "1", "domain": "x.com\r"},
        {"name": "a", "value": "1", "comment": "c\nd"},
        {"name": "a", "value": "1", "samesite": "sometimes"},
    ],
)
def test_unsafe_cookies_are_refused(kwargs: dict[str, str]) -> None:
    with pytest.raises(ValueError):
        format_set_cookie(**kwargs)  # type: ignore[arg-type]


def test_browser_rules_are_enforced_rather_than_silently_broken() -> None:
    with pytest.raises(ValueError, match="SameSite=None"):
        format_set_cookie("a", "1", samesite="None")
    with pytest.raises(ValueError, match="Partitioned"):
        format_set_cookie("a", "1", partitioned=True)
    # Browsers match the prefixes in any case: __SECURE- is __Secure-.
    for name in ("__Secure-a", "__SECURE-a", "__host-a"):
        with pytest.raises(ValueError, match="secure"):
            format_set_cookie(name, "1")
    for name in ("__Host-a", "__HOST-a"):
        with pytest.raises(ValueError, match="path='/'"):
            format_set_cookie(name, "1", secure=True, domain="example.com")
        with pytest.raises(ValueError, match="path='/'"):
            format_set_cookie(name, "1", secure=True, path="/app")
    assert format_set_cookie("__Host-a", "1", secure=True) == "__Host-a=1; Path=/; Secure"


@given(st.text(alphabet=st.characters(max_codepoint=0x17F), max_size=12))
def test_a_value_is_taken_exactly_when_it_is_printable_ascii_without_a_semicolon(value: str) -> None:
    # The rule written out character by character: what ends a cookie or
    # its header line early is refused, the rest taken as it is.
    safe = all(0x20 <= ord(c) <= 0x7E and c != ";" for c in value)
    if safe:
        assert format_set_cookie("a", value) == f"a={value}; Path=/"
    else:
        with pytest.raises(ValueError):
            format_set_cookie("a", value)


def test_a_name_once_taken_does_not_open_the_way_for_a_lookalike() -> None:
    # Names found good are remembered; only the same string is taken so.
    assert format_set_cookie("sid", "1") == "sid=1; Path=/"
    for bad in ("sid ", "sid\r\n", " sid", "sid;"):
        with pytest.raises(ValueError, match="invalid cookie name"):
            format_set_cookie(bad, "1")
    with pytest.raises(ValueError, match="invalid cookie name"):
        format_set_cookie(["sid"], "1")  # type: ignore[arg-type]


def test_max_age_as_a_number_or_a_timedelta() -> None:
    assert format_set_cookie("a", "1", max_age=60) == "a=1; Path=/; Max-Age=60"
    assert format_set_cookie("a", "1", max_age=timedelta(minutes=1)) == "a=1; Path=/; Max-Age=60"
    assert format_set_cookie("a", "1", max_age=59.9) == "a=1; Path=/; Max-Age=59"  # type: ignore[arg-type]


def test_set_cookies_are_sent_in_order_and_read_back_as_text() -> None:
    response = Response()
    response.set_cookie("a", "1")
    response.set_cookie("b", "2", httponly=True)
    response.set_cookie("a", "3")  # the same name, path and domain: replaced where it was
    assert response.cookies == ["a=3; Path=/", "b=2; Path=/; HttpOnly"]
    assert [v for k, v in response.raw_headers() if k == b"set-cookie"] == [b"a=3; Path=/", b"b=2; Path=/; HttpOnly"]
    assert ("Set-Cookie", "b=2; Path=/; HttpOnly") in response.header_items()
    assert Response().cookies == []


def test_what_is_remembered_of_written_cookies_stays_bounded() -> None:
    from asyncweb.cookies import set_cookie as cookies

    for i in range(3000):
        assert format_set_cookie(f"n{i}", "1", max_age=i) == f"n{i}=1; Path=/; Max-Age={i}"
    assert len(cookies._GOOD_NAMES) <= 1024 and len(cookies._MAX_AGES) <= 1024
    # Past the bound, names are still checked and ages still written.
    assert format_set_cookie("n2999", "1", max_age=2999) == "n2999=1; Path=/; Max-Age=2999"
    with pytest.raises(ValueError, match="invalid cookie name"):
        format_set_cookie("n 3000", "1")
