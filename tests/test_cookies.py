from datetime import UTC, datetime, timedelta, timezone

import pytest
from hypothesis import given
from hypothesis import strategies as st

from asyncweb.cookies import format_set_cookie, parse_cookies


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
