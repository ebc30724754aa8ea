"""FastCGI for any ASGI 3 application: put an app behind nginx or lighttpd
with `fastcgi_pass`.

`serve` (async) and `run_server` (blocking) listen on `unix:/path`,
`HOST:PORT`, an inherited socket (`fd:0`, what a web server that spawns
FastCGI applications hands over: `is_listening_socket(0)` tells whether it
did) or the one an init system passed (`systemd`, `activation`).
The wire protocol itself is the sans-I/O `asyncweb.fastcgi.protocol`.
"""

from .server import is_listening_socket, listen, run_server, serve

__all__ = ["is_listening_socket", "listen", "run_server", "serve"]
