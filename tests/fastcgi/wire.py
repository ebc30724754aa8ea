"""A FastCGI client side written apart from asyncweb's codec, so that the
tests do not check the codec against itself."""

from __future__ import annotations

import struct
from collections.abc import AsyncIterator, Iterable
from contextlib import asynccontextmanager
from dataclasses import dataclass

import anyio
import anyio.abc

BEGIN_REQUEST, ABORT_REQUEST, END_REQUEST, PARAMS, STDIN, STDOUT, STDERR = range(1, 8)
DATA, GET_VALUES, GET_VALUES_RESULT, UNKNOWN_TYPE = range(8, 12)


def record(rtype: int, rid: int, content: bytes = b"", padding: int = 0, version: int = 1) -> bytes:
    header = struct.pack(">BBHHBB", version, rtype, rid, len(content), padding, 0)
    return header + content + b"\xee" * padding


def length(n: int) -> bytes:
    return bytes([n]) if n < 128 else struct.pack(">I", n | 0x80000000)


def pairs(items: Iterable[tuple[str, str]]) -> bytes:
    out = b""
    for name, value in items:
        n, v = name.encode("latin-1"), value.encode("latin-1")
        out += length(len(n)) + length(len(v)) + n + v
    return out


def begin(rid: int, role: int = 1, keep_conn: bool = True) -> bytes:
    return record(BEGIN_REQUEST, rid, struct.pack(">HB5x", role, int(keep_conn)))


def request(
    rid: int,
    params: Iterable[tuple[str, str]],
    body: bytes = b"",
    keep_conn: bool = True,
    chunk: int = 8192,
) -> bytes:
    """A whole request as nginx sends it: params in one record, padded."""
    encoded = pairs(params)
    out = begin(rid, keep_conn=keep_conn)
    if encoded:
        out += record(PARAMS, rid, encoded, -len(encoded) % 8)
    out += record(PARAMS, rid)
    for i in range(0, len(body), chunk):
        piece = body[i : i + chunk]
        out += record(STDIN, rid, piece, -len(piece) % 8)
    return out + record(STDIN, rid)


@dataclass
class Record:
    type: int
    request_id: int
    content: bytes
    padding: int


def parse(data: bytes) -> tuple[list[Record], bytes]:
    """Complete records in `data`, and the bytes left over."""
    records = []
    pos = 0
    while len(data) - pos >= 8:
        version, rtype, rid, clen, plen, _ = struct.unpack_from(">BBHHBB", data, pos)
        assert version == 1
        if len(data) - pos < 8 + clen + plen:
            break
        records.append(Record(rtype, rid, data[pos + 8 : pos + 8 + clen], plen))
        pos += 8 + clen + plen
    return records, data[pos:]


def unpack_pairs(data: bytes) -> list[tuple[bytes, bytes]]:
    out = []
    pos = 0
    while pos < len(data):
        sizes = []
        for _ in range(2):
            if data[pos] & 0x80:
                sizes.append(struct.unpack_from(">I", data, pos)[0] & 0x7FFFFFFF)
                pos += 4
            else:
                sizes.append(data[pos])
                pos += 1
        out.append((data[pos : pos + sizes[0]], data[pos + sizes[0] : pos + sizes[0] + sizes[1]]))
        pos += sizes[0] + sizes[1]
    return out


def end_request_body(content: bytes) -> tuple[int, int]:
    app_status, protocol_status = struct.unpack(">IB3x", content)
    return app_status, protocol_status


@dataclass
class Response:
    status: int
    headers: list[tuple[str, str]]
    body: bytes
    stderr: bytes
    app_status: int
    protocol_status: int

    def header(self, name: str) -> str | None:
        return next((v for k, v in self.headers if k.lower() == name.lower()), None)


def cgi_response(stdout: bytes) -> tuple[int, list[tuple[str, str]], bytes]:
    head, _, body = stdout.partition(b"\r\n\r\n")
    headers = []
    status = 200
    for line in head.decode("latin-1").split("\r\n"):
        name, _, value = line.partition(": ")
        if name.lower() == "status":
            status = int(value.split()[0])
        else:
            headers.append((name, value))
    return status, headers, body


def collect(records: list[Record], rid: int) -> Response | None:
    """The response to request `rid`, once its END_REQUEST is among `records`."""
    mine = [r for r in records if r.request_id == rid]
    end = next((r for r in mine if r.type == END_REQUEST), None)
    if end is None:
        return None
    stdout = b"".join(r.content for r in mine if r.type == STDOUT)
    stderr = b"".join(r.content for r in mine if r.type == STDERR)
    app_status, protocol_status = end_request_body(end.content)
    if stdout:
        status, headers, body = cgi_response(stdout)
    else:
        status, headers, body = 0, [], b""
    return Response(status, headers, body, stderr, app_status, protocol_status)


class Client:
    """A raw FastCGI connection for in-process tests."""

    def __init__(self, stream: anyio.abc.ByteStream) -> None:
        self.stream = stream
        self.records: list[Record] = []
        self._rest = b""
        self.eof = False

    @classmethod
    @asynccontextmanager
    async def connect(cls, address: tuple[str, int]) -> AsyncIterator[Client]:
        async with await anyio.connect_tcp(*address) as stream:
            yield cls(stream)

    async def send(self, data: bytes) -> None:
        await self.stream.send(data)

    async def _read_more(self) -> None:
        try:
            data = await self.stream.receive()
        except (anyio.EndOfStream, anyio.BrokenResourceError):
            self.eof = True
            return
        records, self._rest = parse(self._rest + data)
        self.records += records

    async def response(self, rid: int, timeout: float = 10) -> Response:
        with anyio.fail_after(timeout):
            while (found := collect(self.records, rid)) is None:
                if self.eof:
                    raise AssertionError(f"connection closed before END_REQUEST {rid}")
                await self._read_more()
        return found

    async def wait_closed(self, timeout: float = 10) -> None:
        """Read until the server closes the connection."""
        with anyio.fail_after(timeout):
            while not self.eof:
                await self._read_more()

    async def is_open_after(self, seconds: float) -> bool:
        with anyio.move_on_after(seconds):
            while not self.eof:
                await self._read_more()
        return not self.eof
