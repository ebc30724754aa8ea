"""The cookie cases of Django's, Starlette's and Werkzeug's own tests
(/work/shared/corpus/cookies/*.json, read in place) through parse_cookies,
and the Set-Cookie lines among them that map onto format_set_cookie.

Each header is sent as a browser would: its UTF-8 bytes, which
Request.cookies hands over as latin-1 text. Where asyncweb answers
otherwise on purpose, the case is listed below with the reason and
asyncweb's own answer; the README says each difference.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from asyncweb.cookies import format_set_cookie, parse_cookies
from tests.support import ROOT

CORPUS = ROOT.parent / "shared" / "corpus" / "cookies"
SOURCES = ("django", "starlette", "werkzeug")

FIRST_WINS = "the first of a repeated name wins: browsers send the most specific path first (RFC 6265 5.4)"
NAMELESS = "a pair without '=' or without a name is skipped, not kept under the name '' (or as a name with no value)"
SEMICOLON = "';' always ends a cookie, even between double quotes, as browsers split a cookie there when storing it"

# (source, case id) -> (why asyncweb differs, what asyncweb answers)
DIFFERENT: dict[tuple[str, str], tuple[str, dict[str, str]]] = {
    ("django", "python_cookies-2"): (NAMELESS, {"keebler": '"E=mc2', "L": r"\"Loves\"", "fudge": r"\012"}),
    ("django", "edgecases-2"): (FIRST_WINS, {"a": "b", "h": "i"}),
    ("django", "invalid-2"): (NAMELESS, {"a": "b", "c": "d"}),
    ("django", "invalid-6"): (NAMELESS, {"c": ""}),
    ("starlette", "edge-2"): (NAMELESS, {"keebler": '"E=mc2', "L": r"\"Loves\"", "fudge": r"\012"}),
    ("starlette", "edge-7"): (FIRST_WINS, {"a": "b", "h": "i"}),
    ("starlette", "invalid-1"): (NAMELESS, {"abc": "def", "django_language": "en"}),
    ("starlette", "invalid-2"): (NAMELESS, {"a": "b", "c": "d"}),
    ("starlette", "invalid-5"): (NAMELESS, {"c": ""}),
    ("werkzeug", "parse_cookie"): (
        SEMICOLON,
        {
            "dismiss-top": "6",
            "CP": "null*",
            "PHPSESSID": "0a539d42abc001cdc762809248d4beed",
            "a": "42",
            "b": "\\",  # the quoted value '"\"'; then '"' has no '=' and is skipped
            "fo234{": "bar",
            "blub": "Blah",
            '"__Secure-c"': "d",
            "__Host-eq": "good",
        },
    ),
    ("werkzeug", "bad_cookies"): (NAMELESS, {"first": "IamTheFirst", "a": "1", "second": "andMeTwo"}),
}

# Werkzeug cases whose header is the Set-Cookie line dump_cookie(name, value)
# writes: format_set_cookie writes the same line, or refuses what it cannot
# write unescaped (non-ASCII, ';', controls) rather than quote it.
RENDERED: dict[str, tuple[str, str]] = {
    "cookie_quoting-1": ("foo", "?foo"),
    "cookie_unicode_dumping": ("foo", "\N{SNOWMAN}"),
    "cookie_unicode_keys": ("f\N{LATIN SMALL LETTER O WITH DIAERESIS}", "f\N{LATIN SMALL LETTER O WITH DIAERESIS}"),
}


def load(source: str) -> list[dict[str, Any]] | None:
    path = CORPUS / f"{source}.json"
    if not path.is_file():
        return None
    cases: list[dict[str, Any]] = json.loads(path.read_text(encoding="utf-8"))["cases"]
    return cases


def absent(source: str) -> Any:
    reason = f"{CORPUS / source}.json is absent: the shared cookie corpus is not on this machine"
    return pytest.param(source, {}, id=f"{source}-absent", marks=pytest.mark.skip(reason=reason))


def params() -> list[Any]:
    found = []
    for source in SOURCES:
        cases = load(source)
        if cases is None:
            found.append(absent(source))
        else:
            found += [pytest.param(source, case, id=f"{source}-{case['id']}") for case in cases]
    return found


def wire(header: str) -> str:
    return header.encode("utf-8").decode("latin-1")


def agrees(case: dict[str, Any], cookies: dict[str, str]) -> bool:
    compare = case["compare"]
    if compare == "equal":
        return bool(cookies == case["expect"])
    if compare == "contains":
        return bool(case["expect"].items() <= cookies.items())
    if compare == "keys":
        return sorted(cookies) == sorted(case["expect_keys"])
    raise AssertionError(f"unknown comparison {compare!r} in case {case['id']}")


@pytest.mark.parametrize(("source", "case"), params())
def test_corpus_case(source: str, case: dict[str, Any]) -> None:
    cookies = parse_cookies(wire(case["header"]))
    different = DIFFERENT.get((source, case["id"]))
    if different is None:
        assert agrees(case, cookies), case
    else:
        why, ours = different
        assert not agrees(case, cookies), f"{source} now agrees with asyncweb: drop it from DIFFERENT"
        assert cookies == ours, why


@pytest.mark.parametrize("source", SOURCES)
def test_every_listed_difference_is_a_corpus_case(source: str) -> None:
    cases = load(source)
    if cases is None:
        pytest.skip(f"{CORPUS / source}.json is absent: the shared cookie corpus is not on this machine")
    ids = {case["id"] for case in cases}
    listed = {case_id for where, case_id in DIFFERENT if where == source}
    if source == "werkzeug":
        listed |= set(RENDERED)
    assert listed <= ids


@pytest.mark.parametrize("case_id", RENDERED)
def test_set_cookie_lines_of_the_corpus(case_id: str) -> None:
    cases = load("werkzeug")
    if cases is None:
        pytest.skip(f"{CORPUS}/werkzeug.json is absent: the shared cookie corpus is not on this machine")
    header = next(case["header"] for case in cases if case["id"] == case_id)
    name, value = RENDERED[case_id]
    if (name + value).isascii():
        assert format_set_cookie(name, value) == header
    else:
        with pytest.raises(ValueError):
            format_set_cookie(name, value)
