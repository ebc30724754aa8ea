"""An asyncweb App on shared hosting: Phusion Passenger's WSGI entry point,
as cPanel's "Setup Python App" (and Plesk, DreamHost, A2...) run Python.

Put this file, named passenger_wsgi.py, in the application root (the
folder the panel shows, e.g. ~/myapp: not public_html), install asyncweb
into the app's virtualenv (the panel prints the `source .../activate`
line: then `pip install asyncweb`), and give `passenger_wsgi.py` as the
startup file and `application` as the entry point. Passenger imports the
file from the app root and serves `application` in each of its worker
processes: the lifespan hooks run once per process, on its first request,
and the handler's log lines go to the server's error log (wsgi.errors).
Uploads over 1 MiB are spooled to the temp folder: `App(handler,
upload_dir=...)` puts them in your own quota instead. After an edit,
restart the app in the panel (or `touch tmp/restart.txt`).
"""

import logging

from asyncweb import App, Request, Response, WSGIGateway


def handler(request: Request, response: Response, log: logging.Logger) -> None:
    upload = request.get_uploaded_file("file")
    if upload is not None:
        response.set_body(f"got {upload.filename!r}, {upload.size} bytes\n")
        return
    name = request.get_field("name", "world")
    response.set_body(f"Hello, {name}!\n")


application = WSGIGateway(App(handler))
