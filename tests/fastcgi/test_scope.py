"""The fast paths of `scope_from_environ` that the FastCGI server relies on
give what the general ones do."""

from __future__ import annotations

from urllib.parse import quote

from hypothesis import given, settings
from hypothesis import strategies as st

from asyncweb.cgi import variables as environ
from asyncweb.cgi.variables import scope_from_environ
from asyncweb.fastcgi.protocol import Connection, RequestStarted

from . import wire


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
        assert scope_from_environ(env)["headers"] == [(b"x-one", b"1"), (b"", b"empty name")]
    for i in range(2 * environ._HEADER_NAMES_MAX):
        scope_from_environ({f"HTTP_MADE_UP_{i}": "v"})
    assert len(environ.HEADER_NAMES) <= environ._HEADER_NAMES_MAX
    assert scope_from_environ({"HTTP_LATE_COMER": "v"})["headers"] == [(b"late-comer", b"v")]


latin1 = st.text(st.characters(max_codepoint=255), max_size=40)
names = st.sampled_from(["HTTP_HOST", "HTTP_COOKIE", "HTTP_CONTENT_TYPE", "HTTPS", "HTTP_", "H", "CONTENT_TYPE"])


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(names | latin1, latin1), max_size=10))
def test_the_codecs_headers_are_the_ones_scope_from_environ_finds(pairs: list[tuple[str, str]]) -> None:
    """The HTTP_* pairs the codec picks out as it parses give the scope the
    general path builds from the params alone."""
    started = Connection().receive_data(wire.request(1, pairs))[0]
    assert isinstance(started, RequestStarted)
    assert scope_from_environ(started.params, started.headers) == scope_from_environ(started.params)
