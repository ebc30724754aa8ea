"""Property tests through the App: random forms, random chunkings, random
and hostile bodies. Every example also checks that nothing is left behind
(no file in the upload folder, no open fd)."""

from __future__ import annotations

import encodings.aliases
import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote

import anyio
import httpx
import pytest
from hypothesis import HealthCheck, assume, event, example, given, settings
from hypothesis import strategies as st

from asyncweb import App, Limits, Request, Response, build_query
from asyncweb.cookies import format_set_cookie, parse_cookies
from asyncweb.forms.part_headers import safe_filename
from tests.forms.helpers import file_part, multipart, text_part
from tests.reliability.apps import UPLOAD_DIR_ENV
from tests.reliability.helpers import Answer, call_app, fds_into, http_scope, open_fds, split_at
from tests.support import SERVER_PIDS, run_uvicorn, wait_until

URLENCODED = [("content-type", "application/x-www-form-urlencoded")]
PROPERTY = settings(
    max_examples=300,
    deadline=2000,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
cuts = st.lists(st.integers(min_value=0, max_value=100_000), max_size=12)


class Seen:
    """What the handler saw: fields, files (with content) and texts."""

    def __init__(self) -> None:
        self.fields: list[tuple[str, str | None]] = []
        self.files: list[tuple[str, str | None, str | None, str | None, bytes]] = []
        self.calls = 0


def recording_app(seen: Seen, **options: Any) -> App:
    async def handler(request: Request, response: Response, log: logging.Logger) -> None:
        seen.calls += 1
        seen.fields = request.fields.multi_items()
        for name in request.fields:
            request.get_field(name)  # every way a handler reads a field must work
        for name, upload in request.files.multi_items():
            seen.files.append((name, upload.filename, upload.raw_filename, upload.content_type, upload.read()))
            upload.read_text()
            request.get_field(name)
        response.set_body("ok")

    return App(handler, **options)


def run(app: App, chunks: list[bytes], headers: list[tuple[str, str]]) -> Answer:
    return anyio.run(call_app, app, chunks, headers)


def assert_clean(upload_dir: Path, fds_before: int) -> None:
    assert list(upload_dir.iterdir()) == []
    assert open_fds() == fds_before


def assert_plain_error(answer: Answer) -> None:
    assert answer.complete
    assert "Traceback" not in answer.text and 'File "' not in answer.text and len(answer.body) < 300


# -- urlencoded ------------------------------------------------------------------
form_pairs = st.lists(
    st.tuples(st.text(max_size=12), st.one_of(st.none(), st.text(max_size=30))).filter(
        lambda pair: pair != ("", None) and pair[0] != "_charset_"
    ),
    max_size=10,
)


@PROPERTY
@given(pairs=form_pairs, cuts=cuts, strict=st.booleans())
def test_urlencoded_body_round_trips_through_the_app_at_any_chunking(
    pairs: list[tuple[str, str | None]], cuts: list[int], strict: bool
) -> None:
    body = build_query(pairs).encode("ascii")
    seen = Seen()
    answer = run(recording_app(seen, strict_parsing=strict), split_at(body, cuts), URLENCODED)
    assert answer.status == 200, answer.text
    assert seen.fields == pairs


# -- multipart -------------------------------------------------------------------
BOUNDARY_CHARS = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz'()+_,-./:=?"
# Anything but what browsers percent-encode in names (", CR, LF), and but
# two backslashes in a row: the parser reads `\\` in a quoted value as
# curl's escaped backslash, by design (forms/part_headers.py), so a name
# holding one would be read back with a single backslash.
name_text = st.text(st.characters(exclude_characters='"\r\n', exclude_categories=["Cs"]), max_size=12).filter(
    lambda text: "\\\\" not in text
)
content_types = st.sampled_from(
    [None, "application/octet-stream", "text/plain", "image/png", "text/plain; charset=utf-8"]
)


@st.composite
def multipart_forms(draw: st.DrawFn) -> tuple[bytes, str, list[Any], list[Any]]:
    boundary = draw(st.text(BOUNDARY_CHARS, min_size=1, max_size=70))
    parts: list[bytes] = []
    fields: list[tuple[str, str]] = []
    files: list[tuple[str, str, str, str | None, bytes]] = []
    for _ in range(draw(st.integers(0, 6))):
        name = draw(name_text.filter(lambda text: text != "_charset_"))
        disposition = 'form-data; name="' + name + '"'
        if draw(st.booleans()):
            value = draw(st.text(max_size=40))
            parts.append(f"Content-Disposition: {disposition}\r\n\r\n".encode() + value.encode())
            fields.append((name, value))
        else:
            raw = draw(name_text)
            content = draw(st.binary(max_size=600))
            content_type = draw(content_types)
            if draw(st.booleans()):
                head = f'Content-Disposition: {disposition}; filename="{raw}"\r\n'
            else:  # RFC 5987 (curl, some clients), with the plain name as a fallback
                head = (
                    f"Content-Disposition: {disposition}; filename=\"fallback.bin\"; filename*=UTF-8''{quote(raw)}\r\n"
                )
                raw = raw or "fallback.bin"
            if content_type is not None:
                head += f"Content-Type: {content_type}\r\n"
            parts.append(head.encode() + b"\r\n" + content)
            if raw or content:  # an empty file input ("no file chosen") is not a file
                files.append((name, safe_filename(raw), raw, content_type, content))
    delimiter = b"--" + boundary.encode()
    body = b"".join(delimiter + b"\r\n" + part + b"\r\n" for part in parts) + delimiter + b"--\r\n"
    assume(all(b"\r\n" + delimiter not in b"\r\n" + part for part in parts))
    return body, boundary, fields, files


@PROPERTY
@given(form=multipart_forms(), cuts=cuts, spool_size=st.integers(0, 700))
def test_any_multipart_form_gives_the_same_result_at_any_chunking(
    form: tuple[bytes, str, list[Any], list[Any]], cuts: list[int], spool_size: int, upload_dir: Path
) -> None:
    body, boundary, fields, files = form
    fds = open_fds()
    seen = Seen()
    app = recording_app(seen, upload_dir=str(upload_dir), spool_size=spool_size)
    headers = [("content-type", f'multipart/form-data; boundary="{boundary}"')]
    answer = run(app, split_at(body, cuts), headers)
    assert answer.status == 200, answer.text
    assert seen.fields == fields
    assert seen.files == files
    assert_clean(upload_dir, fds)


# -- hostile bodies -----------------------------------------------------------------
SMALL_LIMITS = Limits(
    max_body_size=1500, max_fields=5, max_files=2, max_field_size=60, max_file_size=150, max_part_header_size=60
)
TOKENS = [
    b"--XyZ",
    b"--XyZ--",
    b"\r\n",
    b"\r\n\r\n",
    b"Content-Disposition: ",
    b"form-data",
    b'; name="a"',
    b'; name="_charset_"',
    b'; filename="f.txt"',
    b'; filename=""',
    b"; filename*=UTF-8''%E2%82%AC",
    b"; filename*=base64''eA",
    b"Content-Type: text/plain; charset=",
    b"base64",
    b"idna",
    b"utf-16",
    b"\x00",
    b"\xff",
    b": ",
    b'"',
    b";",
    b"x" * 100,
    b"\n",
    b"%",
    b"\\",
]
# Random bytes, and random sequences of the pieces a multipart body is made of.
hostile_bodies = st.one_of(
    st.binary(max_size=3000),
    st.lists(st.one_of(st.sampled_from(TOKENS), st.binary(max_size=6)), max_size=60).map(b"".join),
)


@PROPERTY
@given(body=st.binary(max_size=5000), cuts=cuts, small=st.booleans())
def test_random_bytes_as_a_multipart_body_are_400_or_413(
    body: bytes, cuts: list[int], small: bool, upload_dir: Path
) -> None:
    fds = open_fds()
    seen = Seen()
    app = recording_app(seen, upload_dir=str(upload_dir), spool_size=10, limits=SMALL_LIMITS if small else None)
    answer = run(app, split_at(body, cuts), [("content-type", "multipart/form-data; boundary=XyZ")])
    assert answer.status in (400, 413), answer.text
    assert seen.calls == 0
    assert_plain_error(answer)
    assert_clean(upload_dir, fds)


@PROPERTY
@given(
    body=hostile_bodies,
    cuts=cuts,
    kind=st.sampled_from(["multipart/form-data; boundary=XyZ", "application/x-www-form-urlencoded"]),
    strict=st.booleans(),
    small=st.booleans(),
)
@example(body=b"a=1&_charset_=base64", cuts=[], kind="application/x-www-form-urlencoded", strict=False, small=False)
@example(body=b"a=" + b"x" * 100, cuts=[7], kind="application/x-www-form-urlencoded", strict=False, small=True)
@example(
    body=b'--XyZ\r\nContent-Disposition: form-data; name="f"; filename="f"\r\n\r\n' + b"x" * 200 + b"\r\n--XyZ--\r\n",
    cuts=[70, 100],
    kind="multipart/form-data; boundary=XyZ",
    strict=False,
    small=True,
)
def test_hostile_form_bodies_never_get_a_500(
    body: bytes, cuts: list[int], kind: str, strict: bool, small: bool, upload_dir: Path
) -> None:
    fds = open_fds()
    seen = Seen()
    limits = SMALL_LIMITS if small else None
    app = recording_app(seen, upload_dir=str(upload_dir), spool_size=10, strict_parsing=strict, limits=limits)
    answer = run(app, split_at(body, cuts), [("content-type", kind)])
    event(f"status {answer.status}")
    assert answer.status in (200, 400, 413), answer.text
    assert (seen.calls == 1) == (answer.status == 200)
    if answer.status != 200:
        assert_plain_error(answer)
    assert_clean(upload_dir, fds)


@PROPERTY
@given(
    body=hostile_bodies,
    cuts=cuts,
    kind=st.sampled_from(["multipart/form-data; boundary=XyZ", "application/x-www-form-urlencoded"]),
)
def test_a_client_gone_mid_body_gets_no_answer_and_leaves_nothing(
    body: bytes, cuts: list[int], kind: str, upload_dir: Path
) -> None:
    fds = open_fds()
    seen = Seen()
    app = recording_app(seen, upload_dir=str(upload_dir), spool_size=10)
    messages = [{"type": "http.request", "body": chunk, "more_body": True} for chunk in split_at(body, cuts)]
    messages.append({"type": "http.disconnect"})
    sent: list[Any] = []

    async def receive() -> Any:
        return messages.pop(0)

    async def send(message: Any) -> None:
        sent.append(message)

    async def call() -> None:
        with anyio.fail_after(10):
            await app(http_scope("POST", "/", [("content-type", kind)]), receive, send)

    anyio.run(call)
    # Either the body was refused before its end (400/413), or the disconnect was seen: no 500, no handler.
    assert seen.calls == 0
    assert [m["status"] for m in sent if m["type"] == "http.response.start"] in ([], [400], [413])
    assert_clean(upload_dir, fds)


# Every codec name Python knows (text or not), and odd names.
CHARSET_NAMES = sorted(set(encodings.aliases.aliases) | set(encodings.aliases.aliases.values()))
charsets = st.one_of(
    st.sampled_from([*CHARSET_NAMES, "base64", "rot13", "idna", "punycode", "undefined", "utf\x00-8", "x" * 300]),
    st.text(max_size=20),
)


@PROPERTY
@given(charset=charsets, value=st.binary(max_size=40), strict=st.booleans(), where=st.sampled_from(["form", "part"]))
@example(charset="base64", value=b"abc", strict=False, where="form")
@example(charset="idna", value=b"\xff", strict=False, where="part")
@example(charset="utf\x00-8", value=b"\xff", strict=False, where="part")
@example(charset="ascii", value=b"\x80" * 20, strict=True, where="part")  # a 400 after a file was spooled
def test_any_declared_charset_is_decoded_or_refused_never_500(
    charset: str, value: bytes, strict: bool, where: str, upload_dir: Path
) -> None:
    fds = open_fds()
    seen = Seen()
    app = recording_app(seen, upload_dir=str(upload_dir), spool_size=10, strict_parsing=strict)
    if where == "form":
        body = b"a=" + quote(value).encode() + b"&_charset_=" + quote(charset, safe="").encode()
        answer = run(app, [body], URLENCODED)
    else:
        wire = charset.encode("utf-8").replace(b"\r", b"").replace(b"\n", b"").replace(b";", b"")
        head = b'Content-Disposition: form-data; name="%s"%s\r\nContent-Type: text/plain; charset=%s\r\n\r\n'
        parts = [head % (b"t", b"", wire) + value, head % (b"f", b'; filename="f.txt"', wire) + value]
        body = b"".join(b"--XyZ\r\n" + part + b"\r\n" for part in parts) + b"--XyZ--\r\n"
        answer = run(app, [body], [("content-type", "multipart/form-data; boundary=XyZ")])
    # Lenient parsing decodes with UTF-8 what it cannot decode otherwise; a
    # part header whose parameters do not parse is malformed (400).
    assert answer.status in ((200, 400) if strict or where == "part" else (200,)), answer.text
    if answer.status == 200 and where == "part":
        assert seen.files[0][4] == value  # a file's bytes never depend on its charset
    assert_clean(upload_dir, fds)


# -- cookies -------------------------------------------------------------------------
@settings(max_examples=200, deadline=None)
@given(st.lists(st.binary(max_size=80), min_size=1, max_size=3))
def test_request_cookies_never_raise_for_any_cookie_header_bytes(values: list[bytes]) -> None:
    scope = http_scope("GET", "/", [])
    scope["headers"] = [(b"cookie", value) for value in values]
    cookies = Request(scope).cookies
    # RFC 6265 5.2 trims SP and HTAB (not every Unicode space: U+00A0 is
    # the second byte of a UTF-8 "à").
    assert all(name and ";" not in name and name == name.strip(" \t") for name in cookies)


COOKIE_NAME = st.text(
    "!#$%&'*+-.^_`|~0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz", min_size=1
).filter(
    lambda name: not name.lower().startswith(("__secure-", "__host-"))  # those need secure=True
)
# RFC 6265 cookie-octets: what a browser sends back exactly as it was set.
COOKIE_VALUE = st.text(st.characters(min_codepoint=0x21, max_codepoint=0x7E, exclude_characters='",;\\'), max_size=30)


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(COOKIE_NAME, COOKIE_VALUE), max_size=6))
def test_cookies_set_by_the_app_are_read_back_exactly(pairs: list[tuple[str, str]]) -> None:
    # The browser sends `name=value` of each Set-Cookie, joined with "; ".
    sent = [format_set_cookie(name, value).split(";", 1)[0] for name, value in pairs]
    expected: dict[str, str] = {}
    for name, value in pairs:
        expected.setdefault(name, value)
    assert parse_cookies("; ".join(sent)) == expected


@pytest.mark.parametrize("kind", ["urlencoded", "multipart"])
def test_fields_under_every_other_limit_are_413_past_their_total(kind: str, upload_dir: Path) -> None:
    fds = open_fds()
    limits = Limits(max_fields_total=10_000)
    if kind == "urlencoded":
        body, headers = b"&".join(b"f%d=%s" % (i, b"x" * 900) for i in range(12)), URLENCODED
    else:
        parts = [text_part(b"f%d" % i, b"x" * 900) for i in range(12)] + [file_part(b"up", b"u.bin", b"u" * 20_000)]
        body, headers = multipart(*parts), [("content-type", "multipart/form-data; boundary=XyZ")]
    seen = Seen()
    answer = run(recording_app(seen, upload_dir=str(upload_dir), spool_size=10, limits=limits), [body], headers)
    assert answer.status == 413 and seen.calls == 0
    assert_clean(upload_dir, fds)
    # Files do not count: they are spooled to disk, not held.
    ok = body[: body.index(b"f11")] if kind == "urlencoded" else multipart(*parts[:10], parts[-1])
    answer = run(recording_app(seen, upload_dir=str(upload_dir), spool_size=10, limits=limits), [ok], headers)
    assert answer.status == 200, answer.text


@pytest.fixture(scope="module")
def live_echo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Path]]:
    directory = tmp_path_factory.mktemp("live-uploads")
    with run_uvicorn("tests.reliability.apps:upload_echo", env={UPLOAD_DIR_ENV: str(directory)}) as base:
        yield base, directory


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    body=hostile_bodies,
    kind=st.sampled_from(["multipart/form-data; boundary=XyZ", "application/x-www-form-urlencoded"]),
)
def test_live_hostile_bodies_over_uvicorn_never_get_a_500(
    body: bytes, kind: str, live_echo: tuple[str, Path], http: httpx.Client
) -> None:
    base, directory = live_echo
    reply = http.post(base + "/", content=body, headers={"content-type": kind})
    assert reply.status_code in (200, 400, 413), reply.text
    if reply.status_code != 200:
        assert "Traceback" not in reply.text and len(reply.content) < 300
    assert list(directory.iterdir()) == []


@pytest.fixture(scope="module")
def http(live_echo: tuple[str, Path]) -> Iterator[httpx.Client]:
    with httpx.Client(timeout=5) as client:
        yield client
    base, directory = live_echo
    pid = SERVER_PIDS[base]
    assert wait_until(lambda: fds_into(directory, pid) == []), fds_into(directory, pid)
