"""The HTTP_* headers the FastCGI codec picks out as it parses are the ones
`scope_from_environ` would find in the params (the server hands them over
to skip that work)."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from asyncweb.cgi.variables import scope_from_environ
from asyncweb.fastcgi.protocol import Connection, RequestStarted

from . import wire

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
