"""A sans-I/O multipart/form-data decoder: bytes in, events out.

`MultipartDecoder` finds the boundaries itself (RFC 2046 5.1.1, RFC 7578)
and parses each part's header lines into a `PartStart` (`part_headers`).
Part data comes out as memoryview slices of the chunk fed in: no copy is
made, but of the few bytes at a chunk's end that may begin a delimiter,
carried to the next chunk and given out as a small bytes object if they
turn out to be data.

The data is scanned in C, never byte by byte in Python, so that no body
costs much more than plain data of its size (benchmarks/multipart_cost.py
measures it): the delimiter `CRLF--boundary` is found with `bytes.find`,
or sre's literal search for short boundaries, where it is the faster, and
wherever `bytes.find` proves slow (data made of the delimiter's own last
characters). What follows it says if it is one: CRLF, `--` or padding.
A line that begins with the boundary but goes on otherwise is data, as it
was to python-multipart, up to a point (FREE_NEAR_MISSES).

Accepted as RFC 2046 has it: a preamble before the first boundary (the
body may begin with `--boundary` or have it after a CRLF), transport
padding (spaces and tabs) after any boundary, and an epilogue after the
closing one, ignored. Refused with BadRequest: a body cut off before its
closing boundary (`close()`), too many lines of data that begin with the
boundary, a header line that is not `name: value` ended by CRLF (a bare CR
or LF anywhere in it, a name that is not a token), padding not ended by
CRLF. A header line longer than `max_header_size`
(CRLF not counted) or more than `max_headers` of them in a part is
PayloadTooLarge, raised before more than that is held.

No I/O and no ASGI: the caller feeds the bytes and acts on the events. The
only limits here are the part headers'; the fields' and files' sizes and
counts are the reader's to enforce, and what a file part's bytes become is
`uploads`'.
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass

from ..errors import BadRequest, PayloadTooLarge
from .part_headers import PartStart, parse_options, part_start

# RFC 2046 5.1.1: 1 to 70 characters from this set, not ending in a space.
# None is a CR or LF, so `CRLF--boundary` holds one CR, at its start: it
# cannot overlap itself, and the only place a chunk's tail can begin one is
# its last CR.
_BOUNDARY = re.compile(r"[0-9A-Za-z'()+_,\-./:=? ]{0,69}[0-9A-Za-z'()+_,\-./:=?]")
# RFC 9110 5.6.2: the characters of a header name.
_TOKEN = b"!#$%&'*+-.^_`|~0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
_LWSP = re.compile(rb"[ \t]*")
_CR, _LF, _HYPHEN, _SPACE, _TAB = 13, 10, 45, 32, 9

# From this delimiter length on, bytes.find beats sre's literal search on
# ordinary data (it skips about the delimiter's length a step); below it,
# sre's byte loop is the faster, and steadier on data made of the
# delimiter's own characters (benchmarks/multipart_cost.py).
_FIND_FROM = 16
# bytes.find runs at 0.1-0.3 ns a byte over ordinary data. Every find is
# timed, and once a body's finds have taken more nanoseconds than it has
# bytes, and _SLACK more, sre takes over for good (changing back would let
# data alternate to defeat both). A sum, not a test of each find: data
# slow for find in short stretches (between near misses, in small chunks)
# adds up all the same. The slack absorbs the process losing the CPU
# during a find, as does the room fast finds leave under a nanosecond a
# byte; it is the most a body's finds can spend over that.
_SLACK = 1_000_000
_clock = time.perf_counter_ns
# RFC 2046 5.1.1 has the boundary appear nowhere in the parts, and a line
# that begins with it is a boundary line. python-multipart takes a line
# that begins with it but goes on otherwise (`--boundaryX`) as data, and so
# does this decoder, FREE_NEAR_MISSES times a body and one more for every
# BYTES_PER_NEAR_MISS of it: each costs a round through Python (about 1 µs,
# where scanning 16 KiB of plain data costs 2-9 µs), and a body made of them
# (`CRLF--BX` repeated, with the boundary `B`) would cost 150 ns a byte.
# Past that, BadRequest. No client makes such lines but by picking a
# boundary its data holds, which RFC 2046 forbids.
FREE_NEAR_MISSES = 16
BYTES_PER_NEAR_MISS = 16 * 1024

# What follows `CRLF--boundary`.
_UNKNOWN, _NOT_A_DELIMITER, _NEXT_PART, _CLOSE, _PADDING = range(5)
# Where the decoder is.
# (Part data and the preamble, scanned alike, come first: `feed` tells them
# from the rest with one comparison.)
_PREAMBLE, _DATA, _HEADERS, _AFTER_PADDING, _END = range(5)


@dataclass(slots=True)
class PartEnd:
    pass


# Part data is its own event, a memoryview: no object wraps it, as it comes
# for every chunk of a large upload.
Event = PartStart | memoryview | PartEnd


def boundary_of(content_type: str) -> bytes:
    """The boundary of a multipart Content-Type, or BadRequest."""
    boundary = parse_options(content_type)[1].get("boundary")
    if not boundary:
        raise BadRequest("multipart body without a boundary")
    if not _BOUNDARY.fullmatch(boundary):
        raise BadRequest("invalid multipart boundary")
    return boundary.encode("latin-1")


def _follows(data: bytes, at: int, end: int) -> int:
    """What the bytes from `at` make of the `CRLF--boundary` just before it."""
    if at >= end:
        return _UNKNOWN
    byte = data[at]
    if byte in (_CR, _HYPHEN):
        if at + 1 >= end:
            return _UNKNOWN
        if data[at + 1] == (_LF if byte == _CR else _HYPHEN):
            return _NEXT_PART if byte == _CR else _CLOSE
        return _NOT_A_DELIMITER
    return _PADDING if byte in (_SPACE, _TAB) else _NOT_A_DELIMITER


class MultipartDecoder:
    """Feed body chunks, get `PartStart`, part data (a `memoryview`) and
    `PartEnd` events.

    `close()` after the last chunk raises BadRequest unless the closing
    boundary was seen.
    """

    __slots__ = (
        "_carry",
        "_delimiter",
        "_fault",
        "_fed",
        "_find_ns",
        "_headers",
        "_line",
        "_literal",
        "_max_header_size",
        "_max_headers",
        "_near_misses",
        "_padding_cr",
        "_state",
        "_tail_size",
    )

    def __init__(self, boundary: bytes, max_header_size: int, max_headers: int) -> None:
        delimiter = b"\r\n--" + boundary
        self._delimiter = delimiter
        # The most bytes a chunk's tail may hold of a delimiter's start.
        self._tail_size = len(delimiter) - 1
        self._literal = None if len(delimiter) >= _FIND_FROM else re.compile(re.escape(delimiter))
        self._max_header_size = max_header_size
        self._max_headers = max_headers
        self._state = _PREAMBLE
        # The body's start counts as a line's: it may open with `--boundary`.
        # The tail of the last chunk that may begin a delimiter, else b"".
        self._carry = b"\r\n"
        self._line = bytearray()  # a header line begun in an earlier chunk
        self._headers: list[tuple[bytes, bytes]] = []
        self._padding_cr = False  # padding after a boundary, its CR seen
        self._find_ns = -_SLACK  # time in bytes.find, less the slack
        self._near_misses = 0
        self._fed = 0  # bytes fed so far
        # A fault found after some events of a chunk: raised on the next call,
        # once those events were handed out, as it would be had the chunk
        # come in pieces (the reader's own limits may refuse first).
        self._fault: BadRequest | PayloadTooLarge | None = None

    def feed(self, chunk: bytes | bytearray | memoryview) -> list[Event]:
        """The events the chunk completes. Part data comes as views of
        `chunk` when it is bytes (anything else is copied to bytes first).

        Part data and the preamble are scanned here, the other states'
        bytes by a method each: the scan runs for every chunk of a large
        upload, and a call and its set-up are a measurable share of it.
        The delimiter `CRLF--boundary` is found with `bytes.find`, timed:
        where it crawls (data made of the delimiter's second-to-last
        character gives its skip table nothing to skip: 3 ns a byte
        against 0.1), once its finds have taken more than a nanosecond for
        each byte fed and _SLACK more, sre's literal search takes over for
        the rest of the body, at most 0.8 ns a byte on any data."""
        if self._fault is not None:
            raise self._fault
        if not isinstance(chunk, bytes):
            chunk = bytes(chunk)
        end = len(chunk)
        events: list[Event] = []  # what this call gives, filled by the methods it calls
        self._fed += end
        position = 0
        if self._carry:
            if end < len(self._delimiter) + 2:  # too short to settle the carry: join them
                chunk, self._carry = self._carry + chunk, b""
                end = len(chunk)
            else:
                position = self._resume(events, chunk)
        delimiter = self._delimiter
        literal = self._literal
        start = position  # where the data not yet given out begins
        try:
            while position < end:  # each state's part gives where the next one begins
                state = self._state
                if state > _DATA:
                    if state == _HEADERS:
                        position = self._header_lines(events, chunk, position, end)
                    elif state == _AFTER_PADDING:
                        position = self._padding(chunk, position, end)
                    else:  # _END: the epilogue is ignored (RFC 2046 5.1.1)
                        break
                    start = position
                    continue
                # Part data or the preamble, to the next delimiter.
                if literal is not None:
                    match = literal.search(chunk, position, end)
                    found = -1 if match is None else match.start()
                else:
                    began = _clock()
                    found = chunk.find(delimiter, position)  # to the end: an argument fewer to parse
                    spent = self._find_ns + (_clock() - began)
                    self._find_ns = spent
                    if spent > self._fed:
                        literal = self._literal = re.compile(re.escape(delimiter))
                if found < 0:  # none in the rest of the chunk: all of it is data, but
                    # its tail may begin one: its last CR, if what follows is one's start.
                    near = end - self._tail_size  # a delimiter begun before this would have been found
                    tail = chunk.rfind(b"\r", near if near > position else position)  # costs less than max()
                    if tail >= 0 and delimiter.startswith(chunk[tail:end]):
                        self._data(events, chunk, start, tail)
                        self._carry = chunk[tail:end]
                    elif state == _DATA:  # `_data`, inline: the common case (start < end, as position was)
                        view = memoryview(chunk)  # to `end`, its length: sliced only where the data starts later
                        events.append(view[start:] if start else view)
                    return events
                after = found + len(delimiter)
                follows = _follows(chunk, after, end)
                if follows == _NOT_A_DELIMITER:  # data, from `start` still: scanned on from after it
                    self._near_miss()
                    position = after  # it cannot overlap itself
                    continue
                self._data(events, chunk, start, found)
                if follows == _UNKNOWN:
                    self._carry = chunk[found:end]
                    break
                start = position = self._delimited(events, follows, after)
        except (BadRequest, PayloadTooLarge) as fault:
            if not events:
                raise
            self._fault = fault
        return events

    def close(self) -> None:
        if self._fault is not None:
            raise self._fault
        if self._state != _END:
            raise BadRequest("multipart body cut off before its closing boundary")

    # -- part data and the preamble ------------------------------------------------
    def _resume(self, events: list[Event], chunk: bytes) -> int:
        """Settle the carried tail against the chunk's first bytes (the chunk is
        long enough for that); returns the offset in `chunk` to go on from.
        The tail begins a delimiter's start, and only there can one begin."""
        carry, self._carry = self._carry, b""
        size = len(self._delimiter)
        head = carry + chunk[: size + 2]
        if head.startswith(self._delimiter):
            follows = _follows(head, size, len(head))
            if follows != _NOT_A_DELIMITER:
                return self._delimited(events, follows, size) - len(carry)
            self._near_miss()
        self._data(events, carry, 0, len(carry))
        return 0

    def _near_miss(self) -> None:
        """`CRLF--boundary` in the data, not followed by what would make it a
        delimiter: data to python-multipart, and here, up to a point."""
        self._near_misses += 1
        if self._near_misses > FREE_NEAR_MISSES + self._fed // BYTES_PER_NEAR_MISS:
            raise BadRequest(
                "malformed multipart body: too many of its lines begin with the boundary "
                "(RFC 2046 5.1.1: it must not appear in the parts)"
            )

    def _data(self, events: list[Event], data: bytes, start: int, end: int) -> None:
        if end > start and self._state == _DATA:
            events.append(memoryview(data)[start:end])

    def _delimited(self, events: list[Event], follows: int, after: int) -> int:
        """A delimiter ends at `after`, `follows` saying what kind."""
        if self._state == _DATA:
            events.append(PartEnd())
        if follows == _NEXT_PART:
            self._begin_part()
            return after + 2
        if follows == _CLOSE:
            self._state = _END
            return after + 2
        self._state, self._padding_cr = _AFTER_PADDING, False
        return after

    def _padding(self, chunk: bytes, position: int, end: int) -> int:
        """Spaces and tabs after a boundary, then its CRLF."""
        if not self._padding_cr:
            match = _LWSP.match(chunk, position, end)
            position = match.end() if match is not None else position
            if position == end:
                return end
            if chunk[position] != _CR:
                raise BadRequest("malformed multipart body: a boundary's padding is not ended by CRLF")
            self._padding_cr = True
            position += 1
            if position == end:
                return end
        if chunk[position] != _LF:
            raise BadRequest("malformed multipart body: a boundary's padding is not ended by CRLF")
        self._begin_part()
        return position + 1

    # -- part headers -----------------------------------------------------------------
    def _begin_part(self) -> None:
        self._state = _HEADERS
        self._headers = []
        self._line.clear()

    def _header_lines(self, events: list[Event], chunk: bytes, position: int, end: int) -> int:
        """Header lines up to the blank one; a line longer than the limit is
        refused before more of it than that is kept."""
        line = self._line
        while position < end:
            room = self._max_header_size + 2 - len(line)  # the line and its CRLF
            newline = chunk.find(b"\n", position, min(end, position + room))
            if newline < 0:
                if end - position >= room:
                    raise PayloadTooLarge(f"a part's header line is over {self._max_header_size} bytes")
                line += chunk[position:end]
                return end
            line += chunk[position : newline + 1]
            position = newline + 1
            self._header_line(events, bytes(line))
            line.clear()
            if self._state != _HEADERS:
                break
        return position

    def _header_line(self, events: list[Event], line: bytes) -> None:
        """One header line with its line end; the blank line starts the data."""
        if line[-2:] != b"\r\n" or b"\r" in line[:-2]:
            raise BadRequest("malformed multipart body: a part's header line holds a bare CR or LF")
        if line == b"\r\n":
            events.append(part_start(self._headers))
            self._state = _DATA
            return
        if len(self._headers) >= self._max_headers:
            raise PayloadTooLarge(f"more than {self._max_headers} header lines in a part")
        name, colon, value = line[:-2].partition(b":")
        if not colon or not name or name.translate(None, _TOKEN):
            raise BadRequest("malformed multipart body: a part's header line is not 'name: value'")
        self._headers.append((name.lower(), value.strip()))
