"""Socket activation the systemd way (sd_listen_fds(3)): the listening
socket an init system passed to this process as fd 3, named by
LISTEN_PID (this process's pid) and LISTEN_FDS (how many, from fd 3 on).

The init system owns the socket: it stays open, and connections queue in
its backlog, while the server restarts. This module only takes what was
handed over: it never binds, listens, opens or closes a descriptor, reads
no variable but LISTEN_PID and LISTEN_FDS, and changes the environment only
to remove LISTEN_PID, LISTEN_FDS and LISTEN_FDNAMES once it takes the
socket. No sd_notify: the socket exists before the server does, so a
client's connection waits for it instead of failing.
"""

from __future__ import annotations

import os
import socket
from collections.abc import Mapping

__all__ = ["SD_LISTEN_FDS_START", "passed", "systemd_socket"]

SD_LISTEN_FDS_START = 3
_VARIABLES = ("LISTEN_PID", "LISTEN_FDS", "LISTEN_FDNAMES")


def passed(environ: Mapping[str, str] = os.environ) -> int:
    """How many sockets were passed to this very process, without taking
    them: 0 when none were, or when LISTEN_PID names another process (a
    parent that left its own variables in the environment of its children)."""
    try:
        pid = int(environ.get("LISTEN_PID", ""))
        count = int(environ.get("LISTEN_FDS", ""))
    except ValueError:
        return 0
    if pid != os.getpid() or count < 1:
        return 0
    return count


def systemd_socket() -> socket.socket:
    """The listening socket passed as fd 3, close-on-exec, with LISTEN_*
    removed from the environment, as sd_listen_fds(unset_environment=1)
    does: nothing this process starts inherits the socket or believes it
    was passed sockets.

    ValueError when no socket was passed to this process, when more than
    one was (one server, one socket), or when fd 3 is not a listening
    stream socket (a .socket unit with Accept=yes passes a connection)."""
    count = passed()
    for name in _VARIABLES:
        os.environ.pop(name, None)
    if not count:
        raise ValueError(
            "systemd socket activation: no socket was passed to this process "
            "(LISTEN_FDS unset or 0, or LISTEN_PID is not its pid); start it from a .socket unit"
        )
    # Every passed descriptor, not only the one served: a child started
    # with os.exec* or close_fds=False must not hold the init system's
    # socket open after this server has gone.
    for fd in range(SD_LISTEN_FDS_START, SD_LISTEN_FDS_START + count):
        try:
            os.set_inheritable(fd, False)
        except OSError as exc:
            raise ValueError(f"systemd socket activation: LISTEN_FDS={count}, but fd {fd} is not open") from exc
    if count > 1:
        raise ValueError(
            f"systemd socket activation: {count} sockets were passed (LISTEN_FDS={count}); "
            "asyncweb fastcgi serves one: give its .socket unit a single Listen line"
        )
    try:
        sock = socket.socket(fileno=SD_LISTEN_FDS_START)
    except OSError as exc:
        raise ValueError(f"systemd socket activation: fd {SD_LISTEN_FDS_START} is not a socket ({exc})") from exc
    if sock.type != socket.SOCK_STREAM or not sock.getsockopt(socket.SOL_SOCKET, socket.SO_ACCEPTCONN):
        sock.detach()  # not ours to close: leave fd 3 as it came
        raise ValueError(
            f"systemd socket activation: fd {SD_LISTEN_FDS_START} is not a listening stream socket "
            "(a .socket unit for asyncweb needs Accept=no, the default)"
        )
    return sock
