"""CGI meta-variables and ASGI scopes, both ways: the scope a CGI host's or
a FastCGI server's variables describe, and the variables old CGI code
reads from a scope."""

from __future__ import annotations

from urllib.parse import quote

import pytest

from asyncweb import Request
from asyncweb.cgi import variables as environ
from asyncweb.cgi.variables import environ_from_scope, scope_from_environ
from asyncweb.types import CGI_ENVIRON, Scope


def test_paths_that_need_escaping_or_decoding() -> None:
    plain = scope_from_environ({"SCRIPT_NAME": "/app/", "PATH_INFO": "/a-b_c.d~/e:f@g"})
    assert (plain["path"], plain["raw_path"], plain["root_path"]) == (
        "/app/a-b_c.d~/e:f@g",
        b"/app/a-b_c.d~/e:f@g",
        "/app",
    )
    odd = scope_from_environ({"SCRIPT_NAME": "/m\xc3\xa9", "PATH_INFO": "/caf\xc3\xa9/x y%"})
    assert odd["path"] == "/mé/café/x y%" and odd["root_path"] == "/mé"
    assert odd["raw_path"] == quote("/mé/café/x y%", safe="/").encode()
    assert scope_from_environ({})["path"] == "/" and scope_from_environ({})["raw_path"] == b"/"


def test_header_names_are_remembered_within_a_bound() -> None:
    env = {"HTTP_X_ONE": "1", "HTTP_CONTENT_TYPE": "no", "HTTP_": "empty name", "OTHER": "x"}
    for _ in range(2):  # converted, then remembered
        assert scope_from_environ(env)["headers"] == [(b"x-one", b"1")]  # HTTP_ alone names no header
    for i in range(2 * environ._HEADER_NAMES_MAX):
        scope_from_environ({f"HTTP_MADE_UP_{i}": "v"})
    assert len(environ.HEADER_NAMES) <= environ._HEADER_NAMES_MAX
    assert scope_from_environ({"HTTP_LATE_COMER": "v"})["headers"] == [(b"late-comer", b"v")]


def test_the_bodys_own_headers_come_first_and_only_from_content_variables() -> None:
    scope = scope_from_environ(
        {
            "HTTP_X_A": "1",
            "CONTENT_LENGTH": "3",
            "CONTENT_TYPE": "text/plain",
            "HTTP_CONTENT_LENGTH": "999",  # nginx sends both
            "HTTP_CONTENT_TYPE": "forged/type",
            "HTTP_TRANSFER_ENCODING": "chunked",  # a de-chunked body is not chunked
        }
    )
    assert scope["headers"] == [(b"content-type", b"text/plain"), (b"content-length", b"3"), (b"x-a", b"1")]


def test_a_body_of_unknown_length_is_said_to_be_chunked() -> None:
    for env in ({"CONTENT_LENGTH": "-1"}, {"HTTP_TRANSFER_ENCODING": "chunked"}):  # Caddy, Apache httpd
        assert scope_from_environ(env)["headers"] == [(b"transfer-encoding", b"chunked")]
    assert scope_from_environ({"CONTENT_LENGTH": ""})["headers"] == []


def test_request_line_client_and_server() -> None:
    scope = scope_from_environ(
        {
            "REQUEST_METHOD": "post",
            "SERVER_PROTOCOL": "HTTP/1.0",
            "QUERY_STRING": "a=1&b=%20",
            "REMOTE_ADDR": "192.0.2.7",
            "REMOTE_PORT": "51000",
            "SERVER_NAME": "example.org",
            "SERVER_PORT": "8080",
        }
    )
    assert (scope["type"], scope["method"], scope["http_version"]) == ("http", "POST", "1.0")
    assert scope["query_string"] == b"a=1&b=%20"
    assert (scope["client"], scope["server"]) == (("192.0.2.7", 51000), ("example.org", 8080))
    bare = scope_from_environ({"SERVER_PROTOCOL": "INCLUDED"})  # RFC 3875 4.1.16
    assert (bare["method"], bare["http_version"], bare["client"], bare["server"]) == ("GET", "1.1", None, None)


def test_scheme() -> None:
    for https in ("on", "ON", "1", "yes", "true"):
        assert scope_from_environ({"HTTPS": https})["scheme"] == "https"
    assert scope_from_environ({"REQUEST_SCHEME": "https"})["scheme"] == "https"
    for env in ({}, {"HTTPS": "off"}, {"HTTPS": ""}, {"REQUEST_SCHEME": "http"}):
        assert scope_from_environ(env)["scheme"] == "http"


def asgi_scope(**overrides: object) -> Scope:
    scope: Scope = {
        "type": "http",
        "method": "POST",
        "scheme": "http",
        "path": "/app/x/y",
        "root_path": "/app",
        "query_string": b"q=1",
        "headers": [],
        "server": ("10.0.0.1", 8000),
        "client": ("192.0.2.7", 51000),
    }
    scope.update(overrides)
    return scope


@pytest.mark.parametrize(
    ("host", "server_name"),
    [(b"example.org:8443", "example.org"), (b"[::1]:8443", "[::1]"), (b"[::1]", "[::1]"), (b"user@evil", "10.0.0.1")],
)
def test_server_name_is_the_host_the_client_asked_for(host: bytes, server_name: str) -> None:
    env = environ_from_scope(asgi_scope(headers=[(b"host", host)]))
    assert (env["SERVER_NAME"], env["SERVER_PORT"]) == (server_name, "8000")


def test_the_environ_of_a_scope_without_server_or_client() -> None:
    env = environ_from_scope(asgi_scope(server=None, client=None))
    assert (env["SERVER_NAME"], env["SERVER_PORT"]) == ("localhost", "80")
    assert "REMOTE_ADDR" not in env and "HTTPS" not in env
    secure = environ_from_scope(asgi_scope(scheme="https", server=None))
    assert (secure["SERVER_PORT"], secure["HTTPS"], secure["REQUEST_SCHEME"]) == ("443", "on", "https")


def test_the_environ_of_a_scope_is_the_scope_again() -> None:
    headers = [
        (b"content-type", b"text/plain"),
        (b"content-length", b"3"),
        (b"host", b"example.org"),
        (b"cookie", b"a=1"),
        (b"x-dup", b"1"),
        (b"cookie", b"b=2"),
        (b"x-dup", b"2"),
    ]
    scope = asgi_scope(headers=headers)
    env = environ_from_scope(scope)
    assert (env["SCRIPT_NAME"], env["PATH_INFO"], env["QUERY_STRING"]) == ("/app", "/x/y", "q=1")
    again = scope_from_environ(env)
    for key in ("method", "scheme", "path", "root_path", "query_string", "client"):
        assert again[key] == scope[key], key
    assert again["headers"] == [
        (b"content-type", b"text/plain"),
        (b"content-length", b"3"),
        (b"host", b"example.org"),
        (b"cookie", b"a=1; b=2"),  # repeated fields merged, cookies with '; '
        (b"x-dup", b"1, 2"),
    ]


def test_the_scope_keeps_every_variable_the_host_sent() -> None:
    # Web-server authentication, Debian's fastcgi_params and custom
    # fastcgi_param lines send what is neither a header nor in RFC 3875's list.
    sent = {
        "REQUEST_METHOD": "GET",
        "PATH_INFO": "/x",
        "REMOTE_USER": "ada",
        "AUTH_TYPE": "Basic",
        "REMOTE_IDENT": "ada",
        "DOCUMENT_ROOT": "/srv/www",
        "REQUEST_URI": "/app/x?y",
        "SCRIPT_FILENAME": "/srv/www/app.py",
        "APP_TENANT": "blue",
        "HTTP_X_A": "1",
    }
    scope = scope_from_environ(sent)
    assert scope["extensions"][CGI_ENVIRON] == sent
    assert dict(Request(scope).env) == sent


def test_an_asgi_scope_has_no_environ_of_its_own_and_gets_a_derived_one() -> None:
    env = Request(asgi_scope()).env
    assert (env["REQUEST_METHOD"], env["SCRIPT_NAME"], env["PATH_INFO"]) == ("POST", "/app", "/x/y")


def test_header_names_with_underscores_are_left_out_of_the_environ() -> None:
    # `X-A` and `X_A` would both be HTTP_X_A: old CGI code trusting HTTP_X_A
    # (an auth header set by the proxy) could be fed it by the client.
    env = environ_from_scope(asgi_scope(headers=[(b"x-a", b"proxy"), (b"x_a", b"client")]))
    assert env["HTTP_X_A"] == "proxy"


def test_the_host_port_stands_for_the_server_port_when_the_server_is_unknown() -> None:
    env = environ_from_scope(asgi_scope(server=None, headers=[(b"host", b"example.org:8443")]))
    assert (env["SERVER_NAME"], env["SERVER_PORT"]) == ("example.org", "8443")


def test_a_server_with_no_port_gives_no_port_none() -> None:
    # httpx's ASGI transport names the server ("testserver", None).
    env = environ_from_scope(asgi_scope(server=("testserver", None), headers=[(b"host", b"testserver")]))
    assert (env["SERVER_NAME"], env["SERVER_PORT"]) == ("testserver", "80")
    asked = environ_from_scope(asgi_scope(server=("testserver", None), headers=[(b"host", b"testserver:8080")]))
    assert asked["SERVER_PORT"] == "8080"


def test_server_ports_are_read_each_as_its_own_and_remembered_boundedly() -> None:
    """SERVER_PORT's numbers are remembered (a server has a few), which must
    neither mix values up nor grow without bound."""

    def server(port: str | None) -> object:
        environ = {"REQUEST_METHOD": "GET", "SERVER_NAME": "example.org"}
        if port is not None:
            environ["SERVER_PORT"] = port
        return scope_from_environ(environ)["server"]

    for _ in range(2):
        assert server("8080") == ("example.org", 8080)
        assert server("443") == ("example.org", 443)
        assert server(" 81 ") == ("example.org", 81)
        assert server("\uff18\uff10") == server("http") == server(None) == ("example.org", 0)
    for port in range(10000, 10200):
        assert server(str(port)) == ("example.org", port)
    assert len(environ._SERVER_PORTS) <= 64
