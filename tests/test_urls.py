"""The request's URL parts: the mount point whatever the server's
convention, what counts as a host, forwarded headers only from a trusted
proxy, and the `allowed_hosts` patterns."""

from __future__ import annotations

import pytest

from asyncweb.types import Scope
from asyncweb.urls import URLParts, chop, first_components, host_allowed, split_path, strip_port, valid_host


@pytest.mark.parametrize(
    ("root_path", "path", "expected"),
    [
        ("/app", "/app/x/y", ("/app", "/x/y")),  # uvicorn, Starlette's Mount: root_path in path
        ("/app", "/x/y", ("/app", "/x/y")),  # older servers: not in it
        ("/app", "/app", ("/app", "")),
        ("/app", "/application/x", ("/app", "/application/x")),  # a prefix, not a component
        ("", "/x", ("", "/x")),
    ],
)
def test_split_path(root_path: str, path: str, expected: tuple[str, str]) -> None:
    assert split_path({"root_path": root_path, "path": path}) == expected


def test_split_path_of_a_scope_without_them() -> None:
    assert split_path({}) == ("", "")


@pytest.mark.parametrize(
    "host", ["example.com", "example.com:8080", "127.0.0.1:8000", "[::1]", "[::1]:8080", "xn--caf-dma.example"]
)
def test_valid_host(host: str) -> None:
    assert valid_host(host)


@pytest.mark.parametrize(
    "host", ["", "a@b", "user@evil.com", "x y", "h\n", "h\r", "evil.com/x", "[::1", "::1", "h:", "h:123456", "é.com"]
)
def test_what_is_no_host(host: str) -> None:
    assert not valid_host(host)


def scope(**overrides: object) -> Scope:
    base: Scope = {"scheme": "http", "path": "/cart", "root_path": "", "server": ("10.0.0.1", 8000)}
    return {**base, **overrides}


FORWARDED = {
    "host": "internal:8000",
    "x-forwarded-proto": "HTTPS, http",
    "x-forwarded-host": "public.example, proxy.internal",
    "x-forwarded-prefix": "/shop/",
}


def test_forwarded_headers_are_ignored_without_a_trusted_proxy() -> None:
    parts = URLParts(scope(), FORWARDED, trust_proxy=False)
    assert (parts.scheme, parts.host, parts.requested_host) == ("http", "internal:8000", "internal:8000")
    assert parts.root_path == ""
    assert parts.origin == "http://internal:8000"


def test_forwarded_headers_from_a_trusted_proxy_take_their_first_value() -> None:
    parts = URLParts(scope(root_path="/app"), FORWARDED, trust_proxy=True)
    assert (parts.scheme, parts.host, parts.requested_host) == ("https", "public.example", "public.example")
    assert parts.root_path == "/shop/app"
    assert parts.url("/x") == "https://public.example/x"


@pytest.mark.parametrize(
    ("headers", "expected"),
    [
        ({"x-forwarded-proto": "ftp"}, ("http", "internal", "")),  # no scheme of ours
        ({"x-forwarded-prefix": "shop"}, ("http", "internal", "")),  # no absolute path
        ({"x-forwarded-prefix": "/"}, ("http", "internal", "")),
        ({"x-forwarded-host": "a b"}, ("http", "10.0.0.1:8000", "")),  # no host: the server's name
    ],
)
def test_forwarded_values_that_make_no_url_are_ignored(headers: dict[str, str], expected: tuple[str, str, str]) -> None:
    parts = URLParts(scope(), {"host": "internal", **headers}, trust_proxy=True)
    assert (parts.scheme, parts.host, parts.root_path) == expected


@pytest.mark.parametrize(
    ("overrides", "host"),
    [
        ({}, "10.0.0.1:8000"),
        ({"server": ("example.org", 80)}, "example.org"),
        ({"server": ("example.org", 443), "scheme": "https"}, "example.org"),
        ({"server": ("example.org", 443)}, "example.org:443"),
        ({"server": ("unix.sock", None)}, "unix.sock"),
        ({"server": None}, "localhost"),
    ],
)
def test_with_no_host_header_urls_name_the_server(overrides: dict[str, object], host: str) -> None:
    for headers in ({}, {"host": "user@evil.com"}):
        parts = URLParts(scope(**overrides), headers, trust_proxy=False)
        assert (parts.host, parts.requested_host) == (host, "")


def test_url_quotes_the_path_and_writes_the_bare_origin_with_a_slash() -> None:
    parts = URLParts(scope(), {"host": "h"}, trust_proxy=False)
    assert parts.url("") == "http://h/"
    assert parts.url("/a b/é?#%") == "http://h/a%20b/%C3%A9%3F%23%25"
    assert parts.url("/a:b@c;d=e,f") == "http://h/a:b@c;d=e,f"


@pytest.mark.parametrize(
    ("path", "n", "chopped", "first"),
    [
        ("/a/b/c", 0, "/a/b/c", ""),
        ("/a/b/c", 1, "/a/b", "/a"),
        ("/a/b/c", 2, "/a", "/a/b"),
        ("/a/b/c", 3, "", "/a/b/c"),
        ("/a/b/c", 9, "", "/a/b/c"),
        ("/a/b/c", -1, "/a/b/c", ""),
        ("", 1, "", ""),
    ],
)
def test_chop_and_first_components(path: str, n: int, chopped: str, first: str) -> None:
    assert chop(path, n) == chopped
    assert first_components(path, n) == first


@pytest.mark.parametrize(
    ("host", "name"),
    [("example.com:8080", "example.com"), ("example.com", "example.com"), ("[::1]:8080", "[::1]"), ("[::1]", "[::1]")],
)
def test_strip_port(host: str, name: str) -> None:
    assert strip_port(host) == name


@pytest.mark.parametrize(
    ("host", "patterns", "allowed"),
    [
        ("example.com", ("example.com",), True),
        ("EXAMPLE.com:8443", ("example.com",), True),
        ("example.com.", ("example.com",), True),  # the fully qualified spelling
        ("www.example.com", ("example.com",), False),
        ("a.example.com", ("*.example.com",), True),
        ("a.b.example.com:80", ("*.example.com",), True),
        ("example.com", ("*.example.com",), False),
        ("example.com.evil", ("*.example.com",), False),
        ("evilexample.com", ("*.example.com",), False),
        ("[::1]:8080", ("[::1]",), True),
        ("anything.at.all", ("other.org", "*"), True),
        ("", ("*",), False),
        ("example.com", (), False),
    ],
)
def test_host_allowed(host: str, patterns: tuple[str, ...], allowed: bool) -> None:
    assert host_allowed(host, patterns) is allowed
