"""`asyncweb fastcgi MODULE:APP --bind ...`: serve an app over FastCGI."""

from __future__ import annotations

import argparse
import logging
import socket
import sys

from .._importer import app_arguments, load_app
from ..cgi.lifespan import LifespanFailure
from . import activation
from .server import is_listening_socket, run_server
from .state import IDLE_TIMEOUT, READ_TIMEOUT, WRITE_TIMEOUT

LOG_LEVELS = ("critical", "error", "warning", "info", "debug")


def _mode(text: str) -> int:
    try:
        mode = int(text, 8)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not an octal mode: {text!r}") from None
    if not 0 <= mode <= 0o777:
        raise argparse.ArgumentTypeError(f"mode out of range: {text!r}")
    return mode


def _positive(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError("must be at least 1")
    return value


def _seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number of seconds: {text!r}") from None
    if not value >= 0:  # NaN too
        raise argparse.ArgumentTypeError("must be 0 (no deadline) or more")
    return value


def parser() -> argparse.ArgumentParser:
    p = app_arguments("asyncweb fastcgi", "Serve an ASGI application over FastCGI (behind nginx, lighttpd, ...).")
    p.add_argument(
        "--bind",
        "-b",
        metavar="ADDRESS",
        help="unix:/path/to.sock, HOST:PORT, fd:N or systemd (the socket a systemd .socket unit "
        "passed). Default: systemd when LISTEN_PID is this process and LISTEN_FDS at least 1, "
        "else fd:0 when stdin is a listening socket, as when a web server spawns the app",
    )
    p.add_argument(
        "--socket-mode",
        type=_mode,
        metavar="OCTAL",
        help="permissions of a unix socket, e.g. 660 (default: from the umask)",
    )
    p.add_argument(
        "--concurrency",
        type=_positive,
        default=1000,
        metavar="N",
        help="requests handled at once; more wait for a slot (default: %(default)s)",
    )
    p.add_argument(
        "--lifespan",
        choices=("auto", "on", "off"),
        default="auto",
        help="run the ASGI lifespan protocol (default: %(default)s)",
    )
    p.add_argument(
        "--shutdown-timeout",
        type=float,
        default=30.0,
        metavar="SECONDS",
        help="on SIGTERM/SIGINT, time given to requests in flight (default: %(default)s)",
    )
    p.add_argument(
        "--max-params-size",
        type=_positive,
        default=1 << 20,
        metavar="BYTES",
        help="largest PARAMS (CGI variables) of one request (default: %(default)s)",
    )
    p.add_argument(
        "--max-connection-params",
        type=_positive,
        metavar="BYTES",
        help="PARAMS one connection may buffer at once for its requests whose PARAMS have not "
        "ended; past it the connection is dropped (default: 4 x --max-params-size)",
    )
    p.add_argument(
        "--idle-timeout",
        type=_seconds,
        default=IDLE_TIMEOUT,
        metavar="SECONDS",
        help="close a connection with no request open after this long without input; 0: never "
        "(default: %(default)s, longer than nginx's upstream keepalive_timeout of 60)",
    )
    p.add_argument(
        "--read-timeout",
        type=_seconds,
        default=READ_TIMEOUT,
        metavar="SECONDS",
        help="abort, as a disconnect, a request whose PARAMS or body gets no byte for this long; "
        "0: never (default: %(default)s)",
    )
    p.add_argument(
        "--write-timeout",
        type=_seconds,
        default=WRITE_TIMEOUT,
        metavar="SECONDS",
        help="drop a connection whose peer takes none of its output for this long; 0: never (default: %(default)s)",
    )
    p.add_argument(
        "--loop",
        choices=("auto", "asyncio", "uvloop"),
        default="auto",
        help="event loop; auto uses uvloop when installed (default: %(default)s)",
    )
    p.add_argument("--log-level", choices=LOG_LEVELS, default="info")
    p.add_argument(
        "--stderr-level",
        choices=(*LOG_LEVELS, "off"),
        default="error",
        help="log records of a request at this level or above go to the web server's error log too, "
        "as FCGI_STDERR (default: %(default)s)",
    )
    return p


def main(argv: list[str]) -> int:
    args = parser().parse_args(argv)
    logging.basicConfig(
        level=args.log_level.upper(),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    bind: str | socket.socket | None = args.bind
    if bind is None and activation.passed():
        bind = "systemd"  # what sd_listen_fds would find: sockets passed to this process
    if bind == "systemd":
        # Taken before the app is imported, so that nothing the app starts
        # inherits the socket, or LISTEN_* variables that name our pid.
        try:
            bind = activation.systemd_socket()
        except ValueError as exc:
            logging.getLogger("asyncweb.fastcgi").error("cannot serve: %s", exc)
            return 1
    elif bind is None:
        if not is_listening_socket(0):
            print("asyncweb fastcgi: give --bind (stdin is not a listening socket)", file=sys.stderr)
            return 2
        bind = "fd:0"
    app = load_app("fastcgi", args)
    if app is None:
        return 2
    try:
        run_server(
            app,
            bind,
            loop=args.loop,
            socket_mode=args.socket_mode,
            concurrency=args.concurrency,
            lifespan=args.lifespan,
            shutdown_timeout=args.shutdown_timeout,
            max_params_size=args.max_params_size,
            max_connection_params=args.max_connection_params,
            idle_timeout=args.idle_timeout,
            read_timeout=args.read_timeout,
            write_timeout=args.write_timeout,
            stderr_level=None if args.stderr_level == "off" else logging.getLevelName(args.stderr_level.upper()),
        )
    except (OSError, ValueError, LifespanFailure) as exc:
        logging.getLogger("asyncweb.fastcgi").error("cannot serve: %s", exc)
        return 1
    return 0
