"""CGI/1.1 (RFC 3875): serve the one request a CGI host started this process for.

`serve(app)` takes the request from `os.environb` and binary stdin and
writes a CGI response to stdout; `asyncweb cgi MODULE:APP` does the same from
the command line. A CGI host starts a process for every request, so this
module imports only what that request needs: no uvicorn, httpx or anyio,
and for an asyncweb App not even asyncio (`oneshot.serve_blocking`).
"""

from __future__ import annotations

import contextlib
import logging
import os
import sys
from collections.abc import Iterator, Mapping

from ..app import error_response
from ..headers import parse_length
from ..types import ASGIApp, Message
from .head import render_head
from .oneshot import Exchange, needs_event_loop, run_blocking, serve_blocking, serve_one
from .variables import scope_from_environ

CHUNK_SIZE = 64 * 1024


class ResponseWriter:
    """ASGI response messages in, the bytes of a CGI response out (sans-I/O).

    The header block goes out with the first body message, so that a
    short response is one write; a HEAD response gets no body (RFC 3875
    6.3.4). An app that fails between the two sends nothing at all, and the
    CGI host answers 500 rather than an empty 200.
    """

    def __init__(self, head: bool = False) -> None:
        self._head = head
        self._pending: bytes | None = None
        self.complete = False

    def feed(self, message: Message) -> bytes:
        if message["type"] == "http.response.start":
            self._pending = render_head(int(message["status"]), message.get("headers", ()))
            return b""
        self.complete = not message.get("more_body", False)
        body = b"" if self._head else bytes(message.get("body", b""))
        if self._pending is not None:
            body, self._pending = self._pending + body, None
        return body


def content_length(environ: Mapping[str, str]) -> int | None:
    """CONTENT_LENGTH as a number: 0 when unset or empty (no body), None when
    it is not a number."""
    value = environ.get("CONTENT_LENGTH", "").strip()
    return parse_length(value) if value else 0


def read_body(fd: int, length: int) -> Iterator[bytes]:
    """At most `length` bytes of `fd`, in chunks. Never read to EOF: the
    server may send more than CONTENT_LENGTH (RFC 3875 4.2)."""
    remaining = length
    while remaining > 0:
        # A blocking read is fine: this process serves this one request.
        chunk = os.read(fd, min(remaining, CHUNK_SIZE))
        if not chunk:
            return
        remaining -= len(chunk)
        yield chunk


class Output:
    """Writes everything it is given to `fd`; once the reader has gone away
    (EPIPE), the rest of the response is dropped."""

    def __init__(self, fd: int) -> None:
        self._fd = fd
        self.closed = False

    def write(self, data: bytes) -> None:
        view = memoryview(data)
        while view and not self.closed:
            try:
                view = view[os.write(self._fd, view) :]
            except BrokenPipeError:
                self.closed = True

    def close(self) -> None:
        """End the output now: the CGI host reads EOF and can finish the
        response while this process still runs the lifespan shutdown,
        background tasks and its own exit. `fd` is left open on /dev/null."""
        devnull = os.open(os.devnull, os.O_WRONLY)
        try:
            os.dup2(devnull, self._fd)
        finally:
            os.close(devnull)
        self.closed = True


def environ_from_os() -> dict[str, str]:
    """The process environment, values as bytes decoded latin-1 (what
    `scope_from_environ` takes), whatever the locale."""
    return {key.decode("latin-1"): value.decode("latin-1") for key, value in os.environb.items()}


def serve(
    app: ASGIApp,
    environ: Mapping[str, str] | None = None,
    stdin: int = 0,
    stdout: int = 1,
    event_loop: bool | None = None,
) -> int:
    """Serve one CGI request; returns 0 when a whole response was written.

    An asyncweb App runs with no event loop unless the process imported an
    async library (`oneshot.needs_event_loop`); `event_loop=True` forces
    asyncio, for a handler that imports one only when it runs, and
    `event_loop=False` forces the loop-free run, which suits only apps that
    await nothing but receive and send (an asyncweb App's own machinery). While the
    app runs, `sys.stdout` points to stderr: a stray `print()` ends up in
    the server's error log instead of inside the response.
    """
    # stderr is the CGI host's error log; an app's own configuration wins.
    logging.basicConfig(format="%(levelname)s %(name)s: %(message)s")
    env = environ_from_os() if environ is None else environ
    scope = scope_from_environ(env)
    writer, output = ResponseWriter(head=scope["method"] == "HEAD"), Output(stdout)

    def sink(message: Message) -> None:
        output.write(writer.feed(message))
        if writer.complete:
            output.close()

    length = content_length(env)
    with contextlib.redirect_stdout(sys.stderr):
        if length is None:
            exchange = Exchange(iter(()), 0, sink)
            run_blocking(error_response(400, "invalid CONTENT_LENGTH")(scope, exchange.receive, exchange.send))
        else:
            exchange = Exchange(read_body(stdin, length), length, sink)
            if event_loop or (event_loop is None and needs_event_loop(app)):
                import asyncio

                asyncio.run(serve_one(app, scope, exchange))
            else:
                serve_blocking(app, scope, exchange)
    return 0 if exchange.complete else 1


def main(argv: list[str]) -> int:
    # Imported here: `serve` through `asyncweb.run` needs none of these.
    import argparse

    from .._importer import load_app

    parser = argparse.ArgumentParser(
        prog="asyncweb cgi",
        description="Serve the one request of a CGI host (environment and stdin) with an ASGI app.",
    )
    parser.add_argument("app", metavar="MODULE:APP", help="the ASGI application, e.g. mysite:app")
    parser.add_argument("--app-dir", default=".", metavar="DIR", help="put first on sys.path (default: .)")
    args = parser.parse_args(argv)
    app = load_app("cgi", args.app, args.app_dir)
    return 2 if app is None else serve(app)
