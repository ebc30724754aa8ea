"""FastCGI 1.0 responder protocol, sans-I/O (in the manner of h11).

`Connection.receive_data` takes the bytes a web server sent and returns
events; the `stdout`, `stderr` and `end_request` methods return the bytes to
send back. Replies the application has no say in (GET_VALUES_RESULT,
UNKNOWN_TYPE, UNKNOWN_ROLE, CANT_MPX_CONN, OVERLOADED) queue up in
`data_to_send()`, at most `max_reply_bytes` of them at a time: past that the
rest of the input waits (`held_back`) until the I/O layer, its replies sent,
calls `resume()`. Nothing here touches a socket, so the I/O layer decides how
to read, write and schedule. Anything that breaks the protocol raises
`ProtocolError`, after which the connection must be dropped.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, field
from enum import IntEnum

from .._fieldsyntax import join_header_values
from ..cgi.variables import HEADER_NAMES, NOT_A_HEADER, header_name

VERSION = 1
HEADER = struct.Struct(">BBHHBx")
BEGIN_BODY = struct.Struct(">HB5x")
END_BODY = struct.Struct(">IB3x")
_CLOSING = struct.Struct(">BBHHBx" + "BBHHBx" + "IB3x")
MAX_CONTENT = 0xFFFF
KEEP_CONN = 1


class RecordType(IntEnum):
    BEGIN_REQUEST = 1
    ABORT_REQUEST = 2
    END_REQUEST = 3
    PARAMS = 4
    STDIN = 5
    STDOUT = 6
    STDERR = 7
    DATA = 8
    GET_VALUES = 9
    GET_VALUES_RESULT = 10
    UNKNOWN_TYPE = 11


# Plain ints for the parser's hot path (enum member lookups cost more).
_BEGIN_REQUEST, _ABORT_REQUEST, _END_REQUEST, _PARAMS, _STDIN, _STDOUT, _GET_VALUES = 1, 2, 3, 4, 5, 6, 9
_RESPONDER = 1
_TO_WEB_SERVER = frozenset({3, 6, 7, 10, 11})  # END_REQUEST, STDOUT, STDERR, GET_VALUES_RESULT, UNKNOWN_TYPE


class Role(IntEnum):
    RESPONDER = 1
    AUTHORIZER = 2
    FILTER = 3


class ProtocolStatus(IntEnum):
    REQUEST_COMPLETE = 0
    CANT_MPX_CONN = 1
    OVERLOADED = 2
    UNKNOWN_ROLE = 3


class ProtocolError(Exception):
    """The peer broke the protocol; the connection cannot be trusted further."""


@dataclass(slots=True)
class RequestStarted:
    """PARAMS are complete: the application can be called. `headers` are
    the HTTP_* params as ASGI header pairs, in order (None when a name
    repeats, and the joined values are only in `params`). `input_done`:
    the request came whole, its STDIN ended with its PARAMS (nginx's
    bodiless request in one read), and no RequestBodyEnd follows."""

    request_id: int
    params: dict[str, str]
    keep_conn: bool
    headers: list[tuple[bytes, bytes]] | None = field(default=None, compare=False)
    input_done: bool = field(default=False, compare=False)


@dataclass(slots=True)
class RequestBody:
    """Bytes of the request body (STDIN), in order."""

    request_id: int
    data: bytes


@dataclass(slots=True)
class RequestBodyEnd:
    """The empty STDIN record: the body is complete."""

    request_id: int


@dataclass(slots=True)
class RequestAborted:
    """ABORT_REQUEST: the web server's client went away (for a request
    whose PARAMS had ended: one still in PARAMS is ended by the codec, its
    END_REQUEST queued in `data_to_send()`)."""

    request_id: int


Event = RequestStarted | RequestBody | RequestBodyEnd | RequestAborted


_PADDING = [bytes(n) for n in range(8)]


def pack_record(record_type: int, request_id: int, content: bytes = b"") -> bytes:
    """One record, padded to a multiple of 8 bytes as the spec recommends."""
    padding = -len(content) % 8
    header = HEADER.pack(VERSION, record_type, request_id, len(content), padding)
    return b"".join((header, content, _PADDING[padding]))


def pack_stream(record_type: int, request_id: int, data: bytes) -> bytes:
    """Stream data as records of at most 65535 bytes (nothing for b"", since
    an empty record would end the stream)."""
    if len(data) <= MAX_CONTENT:
        return pack_record(record_type, request_id, data) if data else b""
    view = memoryview(data)
    return b"".join(
        pack_record(record_type, request_id, view[i : i + MAX_CONTENT].tobytes())
        for i in range(0, len(data), MAX_CONTENT)
    )


def _pack_length(length: int) -> bytes:
    return bytes((length,)) if length < 0x80 else struct.pack(">I", length | 0x80000000)


def pack_pairs(pairs: list[tuple[bytes, bytes]]) -> bytes:
    """Name-value pairs: each length in 1 byte below 128, else 4 bytes with the
    top bit set."""
    return b"".join(_pack_length(len(n)) + _pack_length(len(v)) + n + v for n, v in pairs)


def unpack_params(data: bytes) -> dict[str, str]:
    """Name-value pairs decoded as latin-1, repeated names joined (nginx 1.22
    sends one HTTP_COOKIE pair per Cookie line)."""
    return unpack_request_params(data)[0]


def unpack_request_params(data: bytes) -> tuple[dict[str, str], list[tuple[bytes, bytes]] | None]:
    """`unpack_params`, and the HTTP_* pairs as ASGI headers (None when a
    name repeats), in the same pass: the scope needs them, and a second
    loop over the params cost more than picking them out here."""
    # One decode for the whole block: latin-1 maps byte offsets to the same
    # string offsets, and slicing is cheaper than decoding each pair. The
    # loop is the per-request hot spot (about 15 pairs from nginx), so it
    # does as little as it can, and repeated names are looked for only when
    # the dict came out short.
    text = data.decode("latin-1")
    params: dict[str, str] = {}
    headers: list[tuple[bytes, bytes]] = []
    try:
        if data.isascii():
            pos, count = _unpack_ascii(data, text, params, headers)
        else:
            pos, count = _unpack_any(data, text, params, headers)
    except IndexError:
        raise ProtocolError("truncated name-value pair") from None
    end = len(data)
    if pos != end:
        raise ProtocolError("truncated name-value pair")
    if count != len(params):
        return _join_repeated(text, data), None
    return params, headers


def _unpack_ascii(
    data: bytes, text: str, params: dict[str, str], headers: list[tuple[bytes, bytes]]
) -> tuple[int, int]:
    """The pairs of an all-ASCII block, where every length is one byte;
    returns (end position, pairs read)."""
    names = HEADER_NAMES
    pos, end, count = 0, len(data), 0
    # The b"\0" lets the header test read the first byte of an empty last
    # name; a pair cut short leaves pos past the end.
    padded = data + b"\0"
    while pos < end:
        name_len, value_len = padded[pos], padded[pos + 1]
        pos += 2
        name_end = pos + name_len
        key = text[pos:name_end]
        # Only names starting with "H" can be headers: an int compare
        # spares the lookup for the rest.
        if padded[pos] == 72 and name_len > 4:
            name = names.get(key)
            if name is None:
                name = header_name(key)
            pos = name_end + value_len
            params[key] = text[name_end:pos]
            if name is not NOT_A_HEADER:
                headers.append((name, data[name_end:pos]))
        else:
            pos = name_end + value_len
            params[key] = text[name_end:pos]
        count += 1
    return pos, count


def _unpack_any(data: bytes, text: str, params: dict[str, str], headers: list[tuple[bytes, bytes]]) -> tuple[int, int]:
    """The pairs of any block, 4-byte lengths included; as `_unpack_ascii`."""
    names = HEADER_NAMES
    pos, end, count = 0, len(data), 0
    # The b"\0" as in `_unpack_ascii`.
    padded = data + b"\0"
    while pos < end:
        name_len, value_len = padded[pos], padded[pos + 1]
        if (name_len | value_len) < 0x80:
            pos += 2
        elif name_len < 0x80:
            # A short name with a long value (a Cookie, a browser's
            # User-Agent): read here, not in _long_lengths. Cut short, the
            # length comes out of fewer bytes, but pos goes past the end.
            value_len = int.from_bytes(data[pos + 1 : pos + 5]) & 0x7FFFFFFF
            pos += 5
        else:
            pos, name_len, value_len = _long_lengths(data, pos)
        name_end = pos + name_len
        key = text[pos:name_end]
        # As in `_unpack_ascii`: only names starting with "H" can be headers.
        if padded[pos] == 72 and name_len > 4:
            name = names.get(key)
            if name is None:
                name = header_name(key)
            pos = name_end + value_len
            params[key] = text[name_end:pos]
            if name is not NOT_A_HEADER:
                headers.append((name, data[name_end:pos]))
        else:
            pos = name_end + value_len
            params[key] = text[name_end:pos]
        count += 1
    return pos, count


def _long_lengths(data: bytes, pos: int) -> tuple[int, int, int]:
    """(position after both lengths, name length, value length) for a pair
    with a 4-byte length."""
    lengths = []
    for _ in range(2):
        length = data[pos]
        if length < 0x80:
            pos += 1
        else:
            if pos + 4 > len(data):
                raise IndexError
            length = int.from_bytes(data[pos : pos + 4]) & 0x7FFFFFFF
            pos += 4
        lengths.append(length)
    return pos, lengths[0], lengths[1]


def _join_repeated(text: str, data: bytes) -> dict[str, str]:
    """The slow path of `unpack_params` for a block known to be well formed
    and to repeat a name."""
    values: dict[str, list[str]] = {}
    pos, end = 0, len(data)
    while pos < end:
        pos, name_len, value_len = _long_lengths(data, pos)
        name_end = pos + name_len
        values.setdefault(text[pos:name_end], []).append(text[name_end : name_end + value_len])
        pos = name_end + value_len
    return {name: v[0] if len(v) == 1 else join_header_values(name, v) for name, v in values.items()}


def end_request_record(request_id: int, app_status: int, status: ProtocolStatus) -> bytes:
    return pack_record(RecordType.END_REQUEST, request_id, END_BODY.pack(app_status, status))


# Stages of a request's input: PARAMS, then STDIN, then nothing.
_IN_PARAMS, _IN_BODY, _INPUT_DONE = 0, 1, 2
# Records prebuilt for the first request ids (web servers use the low ones):
# the empty STDOUT and a successful END_REQUEST, and the empty PARAMS and
# the empty STDIN.
_LOW_IDS = 16
_COMPLETE = [_CLOSING.pack(VERSION, _STDOUT, i, 0, 0, VERSION, _END_REQUEST, i, 8, 0, 0, 0) for i in range(_LOW_IDS)]
_BODILESS_ENDS = [
    HEADER.pack(VERSION, _PARAMS, i, 0, 0) + HEADER.pack(VERSION, _STDIN, i, 0, 0) for i in range(_LOW_IDS)
]


class _Request:
    __slots__ = ("keep_conn", "params", "params_size", "stage", "stderr_used")

    def __init__(self, keep_conn: bool) -> None:
        self.keep_conn = keep_conn
        # PARAMS record contents, joined at the end; made with the first
        # (nginx's bodiless GET never needs it: see Connection._bodiless).
        self.params: list[bytes] | None = None
        self.params_size = 0
        self.stage = _IN_PARAMS
        self.stderr_used = False


class Connection:
    """The application side of one FastCGI connection.

    `max_requests` is the number of requests one connection may carry at once
    (1 refuses multiplexing with CANT_MPX_CONN, more get OVERLOADED);
    `max_conns` and `max_reqs` are only reported to GET_VALUES.
    `max_params_size` bounds the PARAMS stream of a request, and
    `max_connection_params` (4 x `max_params_size` by default) the PARAMS
    buffered at once by all the requests of the connection whose PARAMS are
    not complete yet. `max_reply_bytes` bounds the replies queued by one
    `receive_data` (see `held_back`).
    """

    def __init__(
        self,
        *,
        max_requests: int = 1,
        max_conns: int = 1,
        max_reqs: int = 1,
        max_params_size: int = 1 << 20,
        max_connection_params: int | None = None,
        max_reply_bytes: int = 1 << 16,
    ) -> None:
        self._max_requests = max_requests
        self._values = {
            b"FCGI_MAX_CONNS": str(max_conns).encode(),
            b"FCGI_MAX_REQS": str(max_reqs).encode(),
            b"FCGI_MPXS_CONNS": b"1" if max_requests > 1 else b"0",
        }
        self._max_params_size = max_params_size
        self._max_connection_params = 4 * max_params_size if max_connection_params is None else max_connection_params
        self._params_buffered = 0  # PARAMS bytes of the requests still in PARAMS
        self._max_reply_bytes = max_reply_bytes
        self._buffer = b""  # the start of an incomplete record (or input held back)
        self._held = False  # _buffer holds records left for resume()
        self._requests: dict[int, _Request] = {}
        self._outgoing = bytearray()
        self._close_requested = False
        self._eof = False

    @property
    def should_close(self) -> bool:
        """A request without FCGI_KEEP_CONN has ended (the web server waits
        for the close), and no other request is active on the connection."""
        return self._close_requested and not self._requests

    @property
    def active_requests(self) -> int:
        return len(self._requests)

    def input_complete(self, request_id: int) -> bool:
        """Whether a request's STDIN has ended (or the request is gone): the
        body of a request with no CONTENT_LENGTH is known to be empty only then."""
        request = self._requests.get(request_id)
        return request is None or request.stage == _INPUT_DONE

    @property
    def held_back(self) -> bool:
        """`receive_data` stopped short: `max_reply_bytes` of replies were
        queued, and the rest of its input waits for `resume()`. The I/O layer
        should stop reading until the replies are sent (a peer that does not
        read them must not make them pile up)."""
        return self._held

    @property
    def input_incomplete(self) -> bool:
        """Input is owed: a record is cut short, or a request's PARAMS or
        STDIN has not ended (what a read deadline watches)."""
        if self._buffer and not self._held:
            return True
        return any(r.stage != _INPUT_DONE for r in self._requests.values())

    def incomplete_requests(self) -> list[int]:
        """The ids of the requests whose PARAMS or STDIN has not ended."""
        return [rid for rid, r in self._requests.items() if r.stage != _INPUT_DONE]

    def resume(self) -> list[Event]:
        """The events of the input `held_back` kept, as `receive_data` gives
        them (and it may stop short again)."""
        if not self._held:
            return []
        self._held = False
        data, self._buffer = self._buffer, b""
        return self.receive_data(data)

    def data_to_send(self) -> bytes:
        """Protocol replies queued by `receive_data`, once."""
        if not self._outgoing:
            return b""
        data = bytes(self._outgoing)
        self._outgoing.clear()
        return data

    def receive_data(self, data: bytes) -> list[Event]:
        """Feed bytes from the peer (b"" at end of file) and get the events
        they complete. Raises ProtocolError on a malformed stream."""
        if self._eof:
            raise ProtocolError("data after end of file")
        if not data:
            self._eof = True
            if self._held:  # the peer left without reading its replies
                self._held, self._buffer = False, b""
                return []
            if self._buffer:
                raise ProtocolError(f"connection closed inside a record ({len(self._buffer)} bytes)")
            return []
        if type(data) is not bytes:
            data = bytes(data)
        if self._buffer:
            data = self._buffer + data
            self._buffer = b""
        events: list[Event] = []
        requests = self._requests
        unpack = HEADER.unpack_from
        # Declared, as struct gives Any: the compiled build then keeps the
        # header fields as machine ints (benchmarks/fastcgi.py --in-process).
        version: int
        rtype: int
        rid: int
        clen: int
        plen: int
        pos, size = 0, len(data)
        # A small request from nginx is four records in one read; STDIN and
        # PARAMS of a known request are handled inline, the rest in _record.
        while size - pos >= 8:
            version, rtype, rid, clen, plen = unpack(data, pos)
            if version != VERSION:
                raise ProtocolError(f"unsupported FastCGI version {version}")
            start = pos + 8
            end = start + clen
            if end + plen > size:
                break
            pos = end + plen
            request = requests.get(rid)  # never id 0: that is a management record
            if request is None:
                if rtype == _BEGIN_REQUEST and rid:
                    request = self._begin(rid, data[start:end])
                    if request is not None:
                        pos = self._bodiless(request, rid, data, pos, events)
                        continue
                else:
                    self._record(rtype, rid, data[start:end], events)
                # A reply was queued (a management record, a refused
                # request): enough of them wait for the next resume().
                if len(self._outgoing) >= self._max_reply_bytes:
                    self._held = pos < size
                    break
            elif rtype == _STDIN and request.stage == _IN_BODY:
                if clen:
                    events.append(RequestBody(rid, data[start:end]))
                else:
                    request.stage = _INPUT_DONE
                    events.append(RequestBodyEnd(rid))
            elif rtype == _PARAMS and request.stage == _IN_PARAMS:
                if clen:
                    request.params_size += clen
                    if request.params_size > self._max_params_size:
                        raise ProtocolError(f"PARAMS over {self._max_params_size} bytes")
                    self._params_buffered += clen
                    if self._params_buffered > self._max_connection_params:
                        limit = self._max_connection_params
                        raise ProtocolError(f"PARAMS of {len(requests)} open requests over {limit} bytes")
                    if request.params is None:
                        request.params = [data[start:end]]
                    else:
                        request.params.append(data[start:end])
                else:
                    self._params_buffered -= request.params_size
                    request.stage = _IN_BODY
                    chunks, request.params = request.params, None
                    block = b"" if chunks is None else chunks[0] if len(chunks) == 1 else b"".join(chunks)
                    params, headers = unpack_request_params(block)
                    events.append(RequestStarted(rid, params, request.keep_conn, headers))
            else:
                self._record(rtype, rid, data[start:end], events)
                if len(self._outgoing) >= self._max_reply_bytes:  # see above
                    self._held = pos < size
                    break
        if pos < size:
            self._buffer = data[pos:]
        return _coalesce(events) if len(events) > 2 else events

    def _bodiless(self, request: _Request, rid: int, data: bytes, pos: int, events: list[Event]) -> int:
        """A request without a body, as nginx sends it right after its
        BEGIN_REQUEST: one PARAMS record, then the empty PARAMS and the
        empty STDIN, matched at once. Returns the position after them, or
        `pos` for anything else (or a refused BEGIN_REQUEST), which the
        loop then reads record by record."""
        if len(data) - pos < 24 or rid >= _LOW_IDS:
            return pos
        version: int
        rtype: int
        params_id: int
        clen: int
        plen: int
        version, rtype, params_id, clen, plen = HEADER.unpack_from(data, pos)
        start = pos + 8
        end = start + clen + plen
        if (
            rtype != _PARAMS
            or params_id != rid
            or version != VERSION
            or not 0 < clen <= self._max_params_size
            or data[end : end + 16] != _BODILESS_ENDS[rid]
        ):
            return pos
        params, headers = unpack_request_params(data[start : start + clen])
        request.stage = _INPUT_DONE
        events.append(RequestStarted(rid, params, request.keep_conn, headers, True))
        return end + 16

    def _record(self, rtype: int, rid: int, content: bytes, events: list[Event]) -> None:
        """Every record but the in-order PARAMS and STDIN of a known
        request."""
        if rid == 0:
            self._management(rtype, content)
            return
        if rtype == _BEGIN_REQUEST:
            self._begin(rid, content)
            return
        if rtype in _TO_WEB_SERVER:
            raise ProtocolError(f"record type {rtype} on request {rid} is not for a responder")
        request = self._requests.get(rid)
        if request is None:
            # Spec 3.3: records for inactive requests are ignored (a request
            # we ended may still be sending its body).
            return
        if rtype == _STDIN:
            raise ProtocolError(f"STDIN out of order on request {rid}")
        if rtype == _PARAMS:
            raise ProtocolError(f"PARAMS after the end of PARAMS on request {rid}")
        if rtype == _ABORT_REQUEST:
            if request.stage == _IN_PARAMS:  # never started: ended here, its reply as the others
                self._outgoing += self.end_request(rid)
            else:
                events.append(RequestAborted(rid))
        # DATA belongs to the FILTER role, and unknown application record
        # types may come from a newer peer: both are skipped.

    def _management(self, rtype: int, content: bytes) -> None:
        if rtype == _GET_VALUES:
            names = unpack_params(content)
            known = [(n, v) for n, v in self._values.items() if n.decode() in names]
            self._outgoing += pack_record(RecordType.GET_VALUES_RESULT, 0, pack_pairs(known))
        else:
            body = bytes((rtype & 0xFF,)) + bytes(7)
            self._outgoing += pack_record(RecordType.UNKNOWN_TYPE, 0, body)

    def _begin(self, rid: int, content: bytes) -> _Request | None:
        """Open request `rid`; None when it was refused (a reply is queued)."""
        if len(content) != BEGIN_BODY.size:
            raise ProtocolError(f"BEGIN_REQUEST body of {len(content)} bytes")
        if rid in self._requests:
            raise ProtocolError(f"BEGIN_REQUEST for active request {rid}")
        role, flags = BEGIN_BODY.unpack(content)
        keep_conn = bool(flags & KEEP_CONN)
        status = None
        if role != _RESPONDER:
            status = ProtocolStatus.UNKNOWN_ROLE
        elif len(self._requests) >= self._max_requests:
            multiplexing = self._max_requests > 1
            status = ProtocolStatus.OVERLOADED if multiplexing else ProtocolStatus.CANT_MPX_CONN
        if status is None:
            request = self._requests[rid] = _Request(keep_conn)
            return request
        self._outgoing += end_request_record(rid, 0, status)
        if not keep_conn and not self._requests:
            self._close_requested = True
        return None

    def stdout(self, request_id: int, data: bytes) -> bytes:
        """Response bytes (a CGI response: headers, blank line, body)."""
        return pack_stream(RecordType.STDOUT, request_id, data)

    def stdout_and_end(self, request_id: int, data: bytes, app_status: int = 0) -> bytes:
        """`stdout(data)` and `end_request`, in one piece: a small response
        is one STDOUT record, the empty one and END_REQUEST, built here with
        two struct packs."""
        if not data or len(data) > MAX_CONTENT:
            return self.stdout(request_id, data) + self.end_request(request_id, app_status)
        padding = -len(data) % 8
        header = HEADER.pack(VERSION, _STDOUT, request_id, len(data), padding)
        return b"".join((header, data, _PADDING[padding], self.end_request(request_id, app_status)))

    def stderr(self, request_id: int, data: bytes) -> bytes:
        """Bytes for the web server's error log."""
        request = self._requests.get(request_id)
        if request is not None and data:
            request.stderr_used = True
        return pack_stream(RecordType.STDERR, request_id, data)

    def end_request(
        self,
        request_id: int,
        app_status: int = 0,
        status: ProtocolStatus = ProtocolStatus.REQUEST_COMPLETE,
    ) -> bytes:
        """Close the output streams and end the request; later records for
        its id are ignored."""
        request = self._requests.pop(request_id)
        if not request.keep_conn:
            self._close_requested = True
        if request.stage == _IN_PARAMS:  # aborted, or given up on, before its PARAMS ended
            self._params_buffered -= request.params_size
        if request.stderr_used:
            out = pack_record(RecordType.STDOUT, request_id) + pack_record(RecordType.STDERR, request_id)
            return out + end_request_record(request_id, app_status, status)
        # Empty STDOUT then END_REQUEST, in one pack: every response ends so,
        # most of them successfully and on a low request id.
        if not (app_status or status) and request_id < _LOW_IDS:  # REQUEST_COMPLETE is 0
            return _COMPLETE[request_id]
        stdout_end = (VERSION, _STDOUT, request_id, 0, 0)
        return _CLOSING.pack(*stdout_end, VERSION, _END_REQUEST, request_id, 8, 0, app_status, status)


def _coalesce(events: list[Event]) -> list[Event]:
    """Adjacent body records of one request as one event: nginx streams
    uploads in records of 8 KiB, and per-event work would dominate."""
    out: list[Event] = []
    parts: list[bytes] = []
    for event in events:
        last = out[-1] if out else None
        if type(event) is RequestBody and type(last) is RequestBody and last.request_id == event.request_id:
            parts.append(event.data)
            continue
        if len(parts) > 1:
            out[-1] = RequestBody(out[-1].request_id, b"".join(parts))
        parts = [event.data] if type(event) is RequestBody else []
        out.append(event)
    if len(parts) > 1:
        out[-1] = RequestBody(out[-1].request_id, b"".join(parts))
    return out
