"""examples/echo.py's app as a CGI script, plus the answers a CGI host must
pass through: a redirect, a cookie, a streamed-body hash and an error.

Point a CGI host at this file (docs/cgi.md and docs/hosts/ have the configs): every request
starts `python cgi_app.py`, and `asyncweb.run` serves it. From a terminal,
`python examples/cgi_app.py GET /echo a=1` runs the debugging mode.
"""

import hashlib
import logging
import os
import sys

import asyncweb
from asyncweb import App, Request, Response

# A CGI host starts the script with an empty environment: the folder of the
# real file (the host may call it through a symlink) is where `echo` lives.
sys.path.insert(0, os.path.dirname(os.path.realpath(__file__)))

TYPE_CHECKING = False  # typing's import is a CGI process's cost: spelled here, as asyncweb does
if TYPE_CHECKING:
    # The type checker reads the project's tree, where the neighbour is examples.echo.
    from examples.echo import echo
else:
    from echo import echo


async def handler(request: Request, response: Response, log: logging.Logger) -> None:
    if request.path == "/redirect":
        response.redirect(request.get_base_url() + "/echo?from=redirect")
    elif request.path == "/cookie":
        response.set_cookie("flavour", request.get_field("flavour") or "plain", httponly=True)
        response.set_body("cookie set\n")
    elif request.path == "/sha256":
        digest, size = hashlib.sha256(), 0
        async for chunk in request.stream():
            digest.update(chunk)
            size += len(chunk)
        response.set_body(f"{size} {digest.hexdigest()}\n")
    elif request.path == "/error":
        raise RuntimeError("this traceback goes to the server's error log, not to the browser")
    else:
        await echo(request, response, log)


main = App(handler)

if __name__ == "__main__":
    asyncweb.run(main)
