"""CGI/1.1 (RFC 3875): answer the one request a CGI host started this process for.

`respond(app)` takes the request from `os.environb` and binary stdin and
writes a CGI response to stdout; `asyncweb cgi MODULE:APP` does the same from
the command line. It offers `http.response.pathsend`: a file the app sends
by its path is copied to stdout by the kernel (sendfile) where it can be.
A CGI host starts a process for every request, so this module imports
only what that request needs: no uvicorn, httpx or anyio, and for an
asyncweb App not even asyncio (`one_request.serve_request_blocking`).
"""

from __future__ import annotations

import contextlib
import errno
import functools
import os
import stat
import sys
from collections.abc import Iterator, Mapping

from .._log import when_loaded
from ..app import error_response
from ..types import PATHSEND, ASGIApp
from .noloop import run_without_loop
from .one_request import PulledExchange, needs_event_loop, read_chunks, serve_request, serve_request_blocking
from .variables import InvalidLength, content_length, scope_from_environ

TYPE_CHECKING = False
if TYPE_CHECKING:
    from .pathsend import SentFile


class Output:
    """Writes everything it is given to `fd`; once the reader has gone away
    (EPIPE), the rest of the response is dropped."""

    def __init__(self, fd: int, outlive_the_host: bool = False) -> None:
        self._fd = fd
        self._outlive_the_host = outlive_the_host
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
        background tasks and its own exit. `fd` is left open on /dev/null.
        A socket (mod_cgid's one for stdin and stdout) is shut for writing
        first: stdin still holds it open, so closing fd 1 alone ends nothing."""
        if stat.S_ISSOCK(os.fstat(self._fd).st_mode):
            import socket

            with contextlib.suppress(OSError), socket.socket(fileno=os.dup(self._fd)) as sock:
                sock.shutdown(socket.SHUT_WR)
        devnull = os.open(os.devnull, os.O_WRONLY)
        try:
            os.dup2(devnull, self._fd)
        finally:
            os.close(devnull)
        self.closed = True

    def write_last(self, data: bytes) -> None:
        """The response's last bytes, then `close`. The host may signal the
        process as soon as it has them: it is made to outlive that first."""
        if self._outlive_the_host:
            _outlive_the_host()
        self.write(data)
        self.close()

    def send_file_last(self, file: SentFile) -> bool:
        """A pathsend's file as the response's last bytes (see `write_last`);
        False when the file shrank on the way (logged)."""
        if self._outlive_the_host:
            _outlive_the_host()
        try:
            return self._send_file(file)
        finally:
            self.close()

    def _send_file(self, file: SentFile) -> bool:
        """Copied by the kernel (sendfile, to the host's pipe or socket), or
        read and written where it cannot: stdout opened O_APPEND, a file
        system without it."""
        from ..filebody import CHUNK_SIZE
        from .pathsend import FileShrank, copy

        offset = 0
        while offset < file.end and not self.closed:
            try:
                sent = os.sendfile(self._fd, file.fileno(), offset, file.end - offset)
            except BrokenPipeError:
                self.closed = True
                break
            except OSError as exc:
                if exc.errno not in _NO_SENDFILE:
                    raise
                file.seek(offset)
                return copy(file, self.write, CHUNK_SIZE)
            if not sent:
                with contextlib.suppress(FileShrank):
                    file.shrank(offset)  # logs it
                return False
            offset += sent
        return True


# What os.sendfile answers where it cannot copy to this output.
_NO_SENDFILE = frozenset({errno.EINVAL, errno.ENOSYS, errno.EOPNOTSUPP, errno.ENOTSUP, errno.EXDEV})


# How long a CGI process may go on after its response is complete.
AFTER_RESPONSE_LIMIT = 30


def _outlive_the_host() -> None:
    """lighttpd sends SIGTERM the moment a CGI response is complete: what
    was to run after the response (the lifespan shutdown, work an app does
    after answering) would die with it. The host has its answer, so the
    process ignores that, and ends itself after AFTER_RESPONSE_LIMIT
    seconds instead (SIGALRM's default action), so that it never lingers."""
    # The C module `signal` wraps, with the same calls: `signal` itself
    # builds its enums on import, which costs a CGI process more than
    # serving its request.
    signals = __import__("_signal")
    signals.signal(signals.SIGTERM, signals.SIG_IGN)
    signals.alarm(AFTER_RESPONSE_LIMIT)


def environ_from_os() -> dict[str, str]:
    """The process environment, values as bytes decoded latin-1 (what
    `scope_from_environ` takes), whatever the locale."""
    return {key.decode("latin-1"): value.decode("latin-1") for key, value in os.environb.items()}


def _log_to_stderr() -> None:
    import logging

    logging.basicConfig(format="%(levelname)s %(name)s: %(message)s")


def respond(
    app: ASGIApp,
    environ: Mapping[str, str] | None = None,
    stdin: int = 0,
    stdout: int = 1,
    event_loop: bool | None = None,
    outlive_the_host: bool = False,
) -> int:
    """Answer one CGI request; returns 0 when a whole response was written.

    An asyncweb App runs with no event loop unless the process imported an
    async library (`noloop.needs_event_loop`); `event_loop=True` forces
    asyncio, for a handler that imports one only when it runs, and
    `event_loop=False` forces the loop-free run, which suits only apps that
    await nothing but receive and send (an asyncweb App's own machinery).
    While the app runs, `sys.stdout` points to stderr: a stray `print()`
    ends up in the server's error log instead of inside the response.
    `outlive_the_host` (what `asyncweb.run` and `asyncweb cgi` ask for, in
    the process the host started): once the response is complete, the
    host's SIGTERM no longer cuts short what runs after it.
    """
    # stderr is the CGI host's error log; an app's own configuration wins.
    when_loaded(_log_to_stderr)
    env = environ_from_os() if environ is None else environ
    scope = scope_from_environ(env)
    scope["extensions"][PATHSEND] = {}
    output = Output(stdout, outlive_the_host)

    def sink(data: bytes) -> None:
        if exchange.response_complete:
            output.write_last(data)
        else:
            output.write(data)

    with contextlib.redirect_stdout(sys.stderr):
        try:
            length = content_length(env)
        except InvalidLength as exc:
            exchange = PulledExchange(iter(()), 0, sink, scope["method"] == "HEAD")
            run_without_loop(error_response(400, str(exc))(scope, exchange.receive, exchange.send))
            return 0 if exchange.complete else 1
        # A blocking read is fine: this process serves this one request.
        chunks = read_chunks(functools.partial(os.read, stdin), length)
        exchange = PulledExchange(chunks, length, sink, scope["method"] == "HEAD", output.send_file_last)
        if event_loop or (event_loop is None and needs_event_loop(app)):
            import asyncio

            asyncio.run(serve_request(app, scope, exchange))
        else:
            serve_request_blocking(app, scope, exchange)
        if not exchange.body_complete:  # a body the app left unread
            drain(stdin, chunks)
    return 0 if exchange.complete else 1


# What is read of a body the app left unread before the process exits, and
# how long a read may wait for it.
DRAIN_LIMIT = 64 * 1024 * 1024
DRAIN_WAIT = 5.0


def drain(fd: int, chunks: Iterator[bytes]) -> None:
    """Read what is left of the body, within bounds, before exiting. Under
    Apache's mod_cgid stdin and stdout are one socket, and closing it with
    input unread resets it: the client would lose the response (a 413, or
    an answer that did not need the body) that it has not read yet."""
    import select  # only for a body left unread

    left = DRAIN_LIMIT
    while left > 0:
        ready, _, _ = select.select([fd], [], [], DRAIN_WAIT)
        chunk = next(chunks, None) if ready else None
        if chunk is None:
            return
        left -= len(chunk)


def main(argv: list[str]) -> int:
    # Imported here: `respond` through `asyncweb.run` needs none of these.
    from .._importer import app_arguments, load_app

    parser = app_arguments(
        "asyncweb cgi", "Serve the one request of a CGI host (environment and stdin) with an ASGI app."
    )
    app = load_app("cgi", parser.parse_args(argv))
    return 2 if app is None else respond(app, outlive_the_host=True)
