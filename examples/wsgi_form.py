"""A sign-up form as a plain WSGI app, ported from `cgi.FieldStorage` to
`asyncweb.parse_request` (docs/migrating-from-cgi.md shows the old app
beside it). The app stays a WSGI callable: only the form parsing changed.

Any WSGI server runs it: `gunicorn examples.wsgi_form:application`, or
`python examples/wsgi_form.py --port 8000` for the stdlib's wsgiref. A GET
shows the form; a POST of `email` and any number of `list` values answers
who joins what, and where from: `source` comes from the URL's query, which
asyncweb never merges into the body's fields.
"""

from __future__ import annotations

import argparse
from collections.abc import Iterable
from http import HTTPStatus
from wsgiref.simple_server import make_server
from wsgiref.types import StartResponse, WSGIEnvironment

import asyncweb
from asyncweb import Request

PAGE = """<form method="post" action="?source=web">
<p>Email: <input name="email"></p>
<p><input type="checkbox" name="list" value="news"> news</p>
<p><input type="checkbox" name="list" value="releases"> releases</p>
<p><button>Sign up</button></p>
</form>
"""


def signup(request: Request) -> tuple[int, str]:
    if request.method != "POST":
        return 200, PAGE
    email = request.get_field("email", "")  # '' when missing, empty or a bare `email`
    if not email:
        return 400, "an email address is required\n"
    lists = [name for name in request.fields.get_list("list") if name]
    source = request.query.get("source") or "unknown"  # the URL's query, apart from the body's fields
    return 200, f"{email} joins {', '.join(lists) or 'no list'} (from {source})\n"


def application(environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
    try:
        with asyncweb.parse_request(environ, environ["wsgi.input"]) as request:
            status, text = signup(request)
    except asyncweb.HTTPError as error:  # a malformed body (400) or one over the limits (413)
        status, text = error.status, error.message + "\n"
    body = text.encode()
    content_type = "text/html" if text.startswith("<") else "text/plain"
    headers = [("Content-Type", f"{content_type}; charset=utf-8"), ("Content-Length", str(len(body)))]
    start_response(f"{status} {HTTPStatus(status).phrase}", headers)
    return [body]


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=8000)
    port = parser.parse_args().port
    with make_server("127.0.0.1", port, application) as server:
        print(f"serving on http://127.0.0.1:{server.server_port}/", flush=True)
        server.serve_forever()
