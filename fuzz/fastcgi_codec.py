"""Fuzz the sans-I/O FastCGI codec (fastcgi/protocol.py: Connection) as a
web server's bytes arrive, and the scope each request's params make.

Payload: the byte stream from the web server (then end of file). Flags:
bit 0 up to 3 requests at once (else 1: CANT_MPX_CONN); bit 1 PARAMS
limits of 64 bytes a request and 128 a connection; bit 2 replies held back
past 16 bytes (`held_back`, `resume()`).

Invariants: only ProtocolError; no lone surrogate in the params; the same
events (a request's adjacent body records joined, a request that came
whole followed by the RequestBodyEnd it stands for), replies and outcome
however the stream is cut; each RequestStarted's params make an ASGI scope
(cgi.variables.scope_from_environ, as fastcgi/connection.make_scope does;
a ValueError there is logged and refused, so allowed); and a server that
answers each request as its body ends, or it is aborted, sees only
ProtocolError too.

    python -m fuzz.fastcgi_codec -max_total_time=300 /tmp/seeds/fastcgi_codec
"""

from __future__ import annotations

from fuzz.common import Finding, attempt, check_same, check_text, chunkings, fuzz, instrumented, parse_input

with instrumented(__name__ == "__main__"):
    from asyncweb.cgi.variables import scope_from_environ
    from asyncweb.fastcgi.protocol import (
        Connection,
        Event,
        ProtocolError,
        RequestAborted,
        RequestBody,
        RequestBodyEnd,
        RequestStarted,
    )

ALLOWED = (ProtocolError,)
Summary = tuple[list[object], bytes, tuple[bool, bool, list[int]]]


def codec(flags: int) -> Connection:
    tight = bool(flags & 2)
    return Connection(
        max_requests=3 if flags & 1 else 1,
        max_params_size=64 if tight else 1 << 20,
        max_connection_params=128 if tight else None,
        max_reply_bytes=16 if flags & 4 else 1 << 16,
    )


def receive(connection: Connection, data: bytes, replies: bytearray) -> list[Event]:
    """receive_data, then resume() while replies hold the input back, as the
    I/O layer does once it has sent them."""
    events = connection.receive_data(data)
    while connection.held_back:
        replies += connection.data_to_send()
        events += connection.resume()
    replies += connection.data_to_send()
    return events


def check_event(event: Event) -> None:
    if isinstance(event, RequestStarted):
        check_text(event.params, "params")
        if event.headers is not None and not all(
            isinstance(n, bytes) and isinstance(v, bytes) for n, v in event.headers
        ):
            raise Finding(f"headers not bytes: {event.headers!r:.300}")
        try:
            scope = scope_from_environ(event.params, event.headers)
        except ValueError:
            return
        check_text({k: v for k, v in scope.items() if k != "extensions"}, "scope")


def summary(events: list[Event]) -> list[object]:
    out: list[object] = []
    for event in events:
        check_event(event)
        last = out[-1] if out else None
        if isinstance(event, RequestBody) and isinstance(last, RequestBody) and last.request_id == event.request_id:
            out[-1] = RequestBody(event.request_id, last.data + event.data)
        elif not (isinstance(event, RequestBody) and not event.data):
            out.append(event)
        if isinstance(event, RequestStarted) and event.input_done:
            out.append(RequestBodyEnd(event.request_id))
    return out


def feed(chunks: list[bytes], flags: int) -> Summary:
    connection = codec(flags)
    replies = bytearray()
    events: list[Event] = []
    for chunk in chunks:
        events += receive(connection, chunk, replies)
    events += receive(connection, b"", replies)
    state = (connection.should_close, connection.input_incomplete, connection.incomplete_requests())
    return summary(events), bytes(replies), state


def serve(payload: bytes, flags: int) -> None:
    """The stream whole, each request answered once its body ended or it
    was aborted (what the server's exchanges do)."""
    connection = codec(flags)
    replies = bytearray()
    answered: set[int] = set()
    for event in receive(connection, payload, replies):
        rid = event.request_id
        if rid in answered:
            continue
        if isinstance(event, RequestBodyEnd) or (isinstance(event, RequestStarted) and event.input_done):
            replies += connection.stdout_and_end(rid, b"Status: 204\r\n\r\n")
            answered.add(rid)
        elif isinstance(event, RequestAborted):
            replies += connection.stderr(rid, b"aborted")
            replies += connection.end_request(rid, 1)
            answered.add(rid)
    receive(connection, b"", replies)


def TestOneInput(data: bytes) -> None:  # noqa: N802 - atheris' name
    given = parse_input(data)
    ways = chunkings(given.payload, given.cuts)
    results = [attempt(ALLOWED, feed, way, given.flags) for way in ways]
    check_same(results, ways, "the FastCGI events")
    attempt(ALLOWED, serve, given.payload, given.flags)


def main() -> None:
    fuzz(TestOneInput, __file__)


if __name__ == "__main__":
    main()
