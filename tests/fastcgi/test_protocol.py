"""The sans-I/O codec: bytes in, events out; calls in, bytes out."""

from __future__ import annotations

from collections.abc import Iterable

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from asyncweb._fieldsyntax import join_header_values
from asyncweb.fastcgi.protocol import (
    Connection,
    Event,
    ProtocolError,
    ProtocolStatus,
    RequestAborted,
    RequestBody,
    RequestBodyEnd,
    RequestStarted,
    unpack_request_params,
)
from tests.fastcgi import wire

PARAMS = [("REQUEST_METHOD", "POST"), ("SCRIPT_NAME", ""), ("PATH_INFO", "/x")]


def spelled_out(events: list[Event]) -> list[Event]:
    """`events` as reading record by record gives them: a request that came
    whole (`input_done`) followed by the RequestBodyEnd it stands for."""
    out: list[Event] = []
    for event in events:
        out.append(event)
        if isinstance(event, RequestStarted) and event.input_done:
            out.append(RequestBodyEnd(event.request_id))
    return out


def feed(conn: Connection, data: bytes, step: int | None = None) -> list[Event]:
    """The events of `data` fed `step` bytes at a time, spelled out."""
    events: list[Event] = []
    step = step or len(data) or 1
    for i in range(0, len(data), step):
        events += conn.receive_data(data[i : i + step])
    return spelled_out(events)


def test_nginx_bodiless_request_in_one_read_comes_whole() -> None:
    """BEGIN_REQUEST, one PARAMS record, the empty PARAMS and the empty
    STDIN in one read are one event; record by record they are two."""
    data = wire.request(1, PARAMS)
    whole = Connection().receive_data(data)
    assert whole == [RequestStarted(1, dict(PARAMS), keep_conn=True)]
    assert isinstance(whole[0], RequestStarted) and whole[0].input_done
    in_pieces = Connection()
    events = in_pieces.receive_data(data[:-8]) + in_pieces.receive_data(data[-8:])
    assert events == [RequestStarted(1, dict(PARAMS), keep_conn=True), RequestBodyEnd(1)]
    assert isinstance(events[0], RequestStarted) and not events[0].input_done


def body_of(events: list[Event], rid: int = 1) -> bytes:
    return b"".join(e.data for e in events if isinstance(e, RequestBody) and e.request_id == rid)


def test_wire_format_of_a_whole_request_written_by_hand() -> None:
    data = b"".join(
        [
            b"\x01\x01\x00\x01\x00\x08\x00\x00",  # BEGIN_REQUEST, id 1, 8 bytes
            b"\x00\x01\x01\x00\x00\x00\x00\x00",  # RESPONDER, KEEP_CONN
            b"\x01\x04\x00\x01\x00\x0b\x05\x00",  # PARAMS, 11 bytes, 5 padding
            b"\x04\x05NAMEvalue" + b"\x00" * 5,
            b"\x01\x04\x00\x01\x00\x00\x00\x00",  # end of PARAMS
            b"\x01\x05\x00\x01\x00\x02\x00\x00hi",  # STDIN, no padding
            b"\x01\x05\x00\x01\x00\x00\x00\x00",  # end of STDIN
        ]
    )
    events = Connection().receive_data(data)
    assert events == [
        RequestStarted(1, {"NAME": "value"}, keep_conn=True),
        RequestBody(1, b"hi"),
        RequestBodyEnd(1),
    ]


@pytest.mark.parametrize("step", [1, 3, 7, 8, 9, 4096])
def test_any_split_of_the_stream_gives_the_same_events(step: int) -> None:
    body = bytes(range(256)) * 300
    data = wire.request(1, PARAMS, body, chunk=5000)
    events = feed(Connection(), data, step)
    assert events[0] == RequestStarted(1, dict(PARAMS), keep_conn=True)
    assert body_of(events) == body
    assert events[-1] == RequestBodyEnd(1)


def test_one_and_four_byte_lengths_for_names_and_values() -> None:
    long_name, long_value = "N" * 128, "v" * 70000
    params = [("A" * 127, "b" * 127), (long_name, "x"), ("Y", long_value), ("E", "")]
    encoded = wire.pairs(params)
    # 128-byte name: 4-byte length with the top bit set.
    assert b"\x80\x00\x00\x80\x01" + long_name.encode() in encoded
    # The block spans several PARAMS records (no record holds 65536 bytes).
    data = wire.begin(1)
    for i in range(0, len(encoded), 65535):
        data += wire.record(wire.PARAMS, 1, encoded[i : i + 65535])
    data += wire.record(wire.PARAMS, 1) + wire.record(wire.STDIN, 1)
    events = feed(Connection(), data, 1000)
    assert events[0] == RequestStarted(1, dict(params), keep_conn=True)


def test_padding_up_to_255_is_skipped() -> None:
    encoded = wire.pairs(PARAMS)
    data = wire.begin(1) + wire.record(wire.PARAMS, 1, encoded, padding=255)
    data += wire.record(wire.PARAMS, 1, padding=3) + wire.record(wire.STDIN, 1, b"abc", 200)
    data += wire.record(wire.STDIN, 1, padding=1)
    events = feed(Connection(), data, 10)
    assert body_of(events) == b"abc"
    assert events[-1] == RequestBodyEnd(1)


def test_duplicate_params_are_joined_not_dropped() -> None:
    params = [("HTTP_COOKIE", "a=1"), ("HTTP_X_DUP", "1"), ("HTTP_COOKIE", "b=2"), ("HTTP_X_DUP", "2")]
    events = Connection().receive_data(wire.request(1, params))
    started = events[0]
    assert isinstance(started, RequestStarted)
    assert started.params == {"HTTP_COOKIE": "a=1; b=2", "HTTP_X_DUP": "1, 2"}


def test_params_are_latin1() -> None:
    raw = wire.pairs([("PATH_INFO", "/caf\xc3\xa9")])  # UTF-8 bytes, as servers send
    data = wire.begin(1) + wire.record(wire.PARAMS, 1, raw) + wire.record(wire.PARAMS, 1)
    started = Connection().receive_data(data)[0]
    assert isinstance(started, RequestStarted)
    assert started.params["PATH_INFO"].encode("latin-1") == "/café".encode()


def test_stdout_is_split_into_records_of_at_most_65535_bytes_padded_to_8() -> None:
    conn = Connection()
    conn.receive_data(wire.request(7, PARAMS))
    payload = bytes(range(256)) * 800  # 204800 bytes
    records, rest = wire.parse(conn.stdout(7, payload) + conn.end_request(7, app_status=3))
    assert rest == b""
    stdout = [r for r in records if r.type == wire.STDOUT]
    assert all(0 < len(r.content) <= 65535 for r in stdout[:-1])
    assert max(len(r.content) for r in stdout) == 65535
    assert b"".join(r.content for r in stdout) == payload
    assert stdout[-1].content == b""  # the stream's end
    assert all((len(r.content) + r.padding) % 8 == 0 for r in records)
    assert records[-1].type == wire.END_REQUEST and records[-1].request_id == 7
    assert wire.end_request_body(records[-1].content) == (3, 0)
    assert not any(r.type == wire.STDERR for r in records)
    assert conn.stdout(7, b"") == b""  # an empty write must not end the stream


def test_stderr_is_ended_when_it_was_used() -> None:
    conn = Connection()
    conn.receive_data(wire.request(1, PARAMS))
    out = conn.stderr(1, b"oops\n") + conn.stdout(1, b"Status: 200 OK\r\n\r\n") + conn.end_request(1)
    records, _ = wire.parse(out)
    assert [(r.type, r.content) for r in records if r.type == wire.STDERR] == [
        (wire.STDERR, b"oops\n"),
        (wire.STDERR, b""),
    ]


def test_get_values_answers_what_it_knows() -> None:
    conn = Connection(max_requests=50, max_conns=10, max_reqs=50)
    query = wire.pairs([("FCGI_MAX_CONNS", ""), ("FCGI_MPXS_CONNS", ""), ("X_OTHER", "")])
    query += wire.pairs([("FCGI_MAX_REQS", "")])
    assert conn.receive_data(wire.record(wire.GET_VALUES, 0, query)) == []
    records, _ = wire.parse(conn.data_to_send())
    assert [(r.type, r.request_id) for r in records] == [(wire.GET_VALUES_RESULT, 0)]
    assert dict(wire.unpack_pairs(records[0].content)) == {
        b"FCGI_MAX_CONNS": b"10",
        b"FCGI_MAX_REQS": b"50",
        b"FCGI_MPXS_CONNS": b"1",
    }
    assert conn.data_to_send() == b""  # handed out once


def test_get_values_says_no_multiplexing_when_refused() -> None:
    conn = Connection(max_requests=1)
    conn.receive_data(wire.record(wire.GET_VALUES, 0, wire.pairs([("FCGI_MPXS_CONNS", "")])))
    records, _ = wire.parse(conn.data_to_send())
    assert wire.unpack_pairs(records[0].content) == [(b"FCGI_MPXS_CONNS", b"0")]


@pytest.mark.parametrize("rtype", [wire.ABORT_REQUEST, wire.DATA, 12, 200])
def test_other_management_records_get_unknown_type(rtype: int) -> None:
    conn = Connection()
    assert conn.receive_data(wire.record(rtype, 0, b"whatever")) == []
    records, _ = wire.parse(conn.data_to_send())
    assert [(r.type, r.request_id, r.content) for r in records] == [(wire.UNKNOWN_TYPE, 0, bytes([rtype]) + bytes(7))]


@pytest.mark.parametrize(("role", "keep_conn"), [(2, False), (3, True), (9, False)])
def test_roles_other_than_responder_get_unknown_role(role: int, keep_conn: bool) -> None:
    conn = Connection()
    data = wire.begin(1, role=role, keep_conn=keep_conn) + wire.record(wire.PARAMS, 1)
    assert conn.receive_data(data + wire.record(wire.STDIN, 1)) == []
    records, _ = wire.parse(conn.data_to_send())
    assert [(r.type, r.request_id) for r in records] == [(wire.END_REQUEST, 1)]
    assert wire.end_request_body(records[0].content) == (0, ProtocolStatus.UNKNOWN_ROLE)
    assert conn.should_close is not keep_conn


@pytest.mark.parametrize("keep_conn", [True, False])
def test_keep_conn_decides_whether_to_close_after_end_request(keep_conn: bool) -> None:
    conn = Connection()
    events = conn.receive_data(wire.request(1, PARAMS, keep_conn=keep_conn))
    assert events[0] == RequestStarted(1, dict(PARAMS), keep_conn=keep_conn)
    assert not conn.should_close
    conn.end_request(1)
    assert conn.should_close is not keep_conn
    assert conn.active_requests == 0


def test_abort_request() -> None:
    conn = Connection()
    data = wire.begin(1) + wire.record(wire.PARAMS, 1, wire.pairs(PARAMS)) + wire.record(wire.PARAMS, 1)
    data += wire.record(wire.STDIN, 1, b"part") + wire.record(wire.ABORT_REQUEST, 1)
    assert conn.receive_data(data)[-1] == RequestAborted(1)
    records, _ = wire.parse(conn.end_request(1))
    assert records[-1].type == wire.END_REQUEST


def test_second_request_without_multiplexing_gets_cant_mpx_conn() -> None:
    conn = Connection(max_requests=1)
    events = spelled_out(conn.receive_data(wire.request(1, PARAMS) + wire.request(2, PARAMS)))
    assert [e.request_id for e in events] == [1, 1]
    records, _ = wire.parse(conn.data_to_send())
    assert [(r.type, r.request_id) for r in records] == [(wire.END_REQUEST, 2)]
    assert wire.end_request_body(records[0].content) == (0, ProtocolStatus.CANT_MPX_CONN)
    assert not conn.should_close  # request 1 is still being served


def test_multiplexed_requests_are_told_apart_and_overload_is_refused() -> None:
    conn = Connection(max_requests=2)
    a, b, c = wire.request(1, PARAMS, b"A" * 20000), wire.request(2, PARAMS, b"B" * 30000), b""
    # Interleave the two requests record by record.
    ra, _ = wire.parse(a)
    rb, _ = wire.parse(b)
    for x, y in zip(ra, rb, strict=False):
        c += wire.record(x.type, x.request_id, x.content) + wire.record(y.type, y.request_id, y.content)
    c += b"".join(wire.record(r.type, r.request_id, r.content) for r in rb[len(ra) :])
    events = feed(conn, c + wire.request(3, PARAMS), 777)
    assert body_of(events, 1) == b"A" * 20000 and body_of(events, 2) == b"B" * 30000
    assert RequestBodyEnd(1) in events and RequestBodyEnd(2) in events
    assert not any(e.request_id == 3 for e in events)
    records, _ = wire.parse(conn.data_to_send())
    assert wire.end_request_body(records[0].content) == (0, ProtocolStatus.OVERLOADED)


def test_records_for_inactive_requests_are_ignored() -> None:
    conn = Connection()
    conn.receive_data(wire.request(1, PARAMS))
    conn.end_request(1)
    # The rest of a body the response did not wait for, and a stray id.
    assert conn.receive_data(wire.record(wire.STDIN, 1, b"late") + wire.record(wire.STDIN, 9)) == []
    assert conn.receive_data(wire.record(wire.DATA, 1, b"x")) == []


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (wire.record(wire.BEGIN_REQUEST, 1, bytes(8), version=2), "version"),
        (wire.record(wire.BEGIN_REQUEST, 1, bytes(5)), "BEGIN_REQUEST body"),
        (wire.begin(1) + wire.begin(1), "active request"),
        (wire.begin(1) + wire.record(wire.STDIN, 1, b"x"), "STDIN out of order"),
        (wire.request(1, PARAMS) + wire.record(wire.STDIN, 1, b"x"), "STDIN out of order"),
        (wire.request(1, PARAMS) + wire.record(wire.PARAMS, 1, b"\x01\x01ab"), "PARAMS after"),
        (wire.begin(1) + wire.record(wire.STDOUT, 1, b"x"), "not for a responder"),
        (wire.begin(1) + wire.record(wire.PARAMS, 1, b"\x05\x05ab") + wire.record(wire.PARAMS, 1), "truncated"),
        (wire.begin(1) + wire.record(wire.PARAMS, 1, b"\x80\x00") + wire.record(wire.PARAMS, 1), "truncated"),
        (wire.record(wire.GET_VALUES, 0, b"\x03"), "truncated"),
    ],
)
def test_bad_streams_raise_protocol_error(data: bytes, message: str) -> None:
    with pytest.raises(ProtocolError, match=message):
        feed(Connection(), data)


def test_oversize_params_raise_before_buffering_more() -> None:
    conn = Connection(max_params_size=1000)
    conn.receive_data(wire.begin(1) + wire.record(wire.PARAMS, 1, b"x" * 1000))
    with pytest.raises(ProtocolError, match="PARAMS over 1000 bytes"):
        conn.receive_data(wire.record(wire.PARAMS, 1, b"x"))


def test_end_of_file_inside_a_record_is_an_error() -> None:
    conn = Connection()
    conn.receive_data(wire.request(1, PARAMS)[:13])
    with pytest.raises(ProtocolError, match="inside a record"):
        conn.receive_data(b"")
    clean = Connection()
    clean.receive_data(wire.request(1, PARAMS))
    assert clean.receive_data(b"") == []


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=600), st.integers(min_value=1, max_value=64))
def test_random_bytes_give_events_or_protocol_error(data: bytes, step: int) -> None:
    conn = Connection(max_requests=4, max_params_size=300)
    try:
        feed(conn, data, step)
        conn.receive_data(b"")
    except ProtocolError:
        pass
    conn.data_to_send()


latin1 = st.text(st.characters(max_codepoint=255), max_size=300)


@settings(max_examples=100, deadline=None)
@given(
    st.dictionaries(latin1.filter(bool), latin1, max_size=8),
    st.binary(max_size=3000),
    st.integers(min_value=1, max_value=2000),
    st.integers(min_value=1, max_value=500),
)
def test_params_and_body_survive_any_framing(params: dict[str, str], body: bytes, chunk: int, step: int) -> None:
    data = wire.request(5, params.items(), body, keep_conn=False, chunk=chunk)
    events = feed(Connection(), data, step)
    assert events[0] == RequestStarted(5, params, keep_conn=False)
    assert body_of(events, 5) == body
    assert events[-1] == RequestBodyEnd(5)


def test_adjacent_body_records_become_one_event() -> None:
    # nginx streams uploads in 8 KiB records; one event per read, not per record.
    conn = Connection(max_requests=2)
    conn.receive_data(wire.request(1, PARAMS)[:-8] + wire.request(2, PARAMS)[:-8])
    data = b"".join(wire.record(wire.STDIN, 1, bytes([i]) * 8192) for i in range(10))
    data += wire.record(wire.STDIN, 2, b"other") + wire.record(wire.STDIN, 1, b"tail")
    events = conn.receive_data(data)
    assert [(type(e), e.request_id) for e in events] == [(RequestBody, 1), (RequestBody, 2), (RequestBody, 1)]
    assert body_of(events, 1) == b"".join(bytes([i]) * 8192 for i in range(10)) + b"tail"


@pytest.mark.parametrize("size", [0, 1, 13, 8, 65535, 65536, 200000])
@pytest.mark.parametrize("stderr", [False, True])
@pytest.mark.parametrize(("rid", "app_status"), [(1, 3), (1, 0), (15, 0), (16, 0), (65535, 1)])
def test_stdout_and_end_is_stdout_then_end_request(size: int, stderr: bool, rid: int, app_status: int) -> None:
    data = bytes(range(256)) * (size // 256) + bytes(size % 256)
    one, two = Connection(), Connection()
    for conn in (one, two):
        conn.receive_data(wire.begin(rid) + wire.record(wire.PARAMS, rid))
        if stderr:
            conn.stderr(rid, b"note")
    assert one.stdout_and_end(rid, data, app_status) == two.stdout(rid, data) + two.end_request(rid, app_status)


def http_headers(pairs: Iterable[tuple[str, str]]) -> list[tuple[bytes, bytes]]:
    """The ASGI headers a block's HTTP_* pairs should give, written out plainly
    (the body's own headers come from CONTENT_TYPE and CONTENT_LENGTH)."""
    body_headers = ("HTTP_CONTENT_TYPE", "HTTP_CONTENT_LENGTH", "HTTP_TRANSFER_ENCODING")
    return [
        (n[5:].lower().replace("_", "-").encode("latin-1"), v.encode("latin-1"))
        for n, v in pairs
        if n.startswith("HTTP_") and len(n) > 5 and n not in body_headers  # HTTP_ alone names no header
    ]


def outcome(conn: Connection, data: bytes, step: int) -> list[Event] | str:
    try:
        return feed(conn, data, step)
    except ProtocolError as exc:
        return str(exc)


@settings(max_examples=200, deadline=None)
@given(
    st.dictionaries(latin1.filter(bool), latin1, max_size=6),
    st.sampled_from([1, 2, 15, 16, 300]),
    st.booleans(),
    st.sampled_from([0, 3]),
    st.integers(min_value=1, max_value=400),
)
def test_a_bodiless_request_read_whole_gives_what_record_by_record_does(
    params: dict[str, str], rid: int, keep_conn: bool, end_padding: int, max_params_size: int
) -> None:
    """nginx's GET in one read takes the codec's shortcut; byte by byte it
    takes the loop: the events, or the error, are the same."""
    encoded = wire.pairs(params.items())
    data = wire.begin(rid, keep_conn=keep_conn)
    if encoded:
        data += wire.record(wire.PARAMS, rid, encoded, -len(encoded) % 8)
    data += wire.record(wire.PARAMS, rid, padding=end_padding) + wire.record(wire.STDIN, rid)
    whole = outcome(Connection(max_params_size=max_params_size), data, len(data))
    assert whole == outcome(Connection(max_params_size=max_params_size), data, 1)
    if isinstance(whole, list):
        started = whole[0]
        assert isinstance(started, RequestStarted)
        assert started.headers == http_headers(params.items())


def reference_pairs(data: bytes) -> list[tuple[str, str]] | None:
    """Name-value pairs read the plain way (None when truncated)."""
    pairs, pos = [], 0
    try:
        while pos < len(data):
            lengths = []
            for _ in range(2):
                if data[pos] < 0x80:
                    lengths.append(data[pos])
                    pos += 1
                else:
                    if pos + 4 > len(data):
                        return None
                    lengths.append(int.from_bytes(data[pos : pos + 4]) & 0x7FFFFFFF)
                    pos += 4
            name, value = data[pos : pos + lengths[0]], data[pos + lengths[0] : pos + sum(lengths)]
            pos += sum(lengths)
            if pos > len(data):
                return None
            pairs.append((name.decode("latin-1"), value.decode("latin-1")))
    except IndexError:
        return None
    return pairs


names = st.sampled_from(["", "H", "HTTP", "HTTP_", "HTTPS", "HTTP_HOST", "HTTP_X_\xe9", "PATH_INFO", "N" * 130])


@settings(max_examples=300, deadline=None)
@given(st.lists(st.tuples(names | latin1, latin1 | st.just("v" * 200)), max_size=8), st.integers(0, 6))
def test_params_match_a_plain_reading_whole_or_cut(pairs: list[tuple[str, str]], cut: int) -> None:
    """Both loops of unpack_request_params (all-ASCII blocks and the rest)
    agree with a plain reading, and refuse a block cut short."""
    data = wire.pairs(pairs)
    data = data[: len(data) - cut] if cut <= len(data) else data
    expected = reference_pairs(data)
    if expected is None:
        with pytest.raises(ProtocolError, match="truncated"):
            unpack_request_params(data)
        return
    params, headers = unpack_request_params(data)
    joined: dict[str, list[str]] = {}
    for name, value in expected:
        joined.setdefault(name, []).append(value)
    assert params == {n: v[0] if len(v) == 1 else join_header_values(n, v) for n, v in joined.items()}
    if headers is not None:
        assert headers == http_headers(expected)
    else:
        assert len(joined) < len(expected)
