"""An upload server on the stdlib's http.server, ported from `cgi.FieldStorage`
to `asyncweb.request_from_handler` (docs/migrating-from-cgi.md shows the old
handler beside it).

`python examples/http_server_upload.py --port 8000 --folder uploads` serves
127.0.0.1: a GET lists the folder and shows an upload form; a POST saves each
file of the `file` input there (a rename of its temp file, made in the same
folder) and answers 201. A body over `--max-mib` MiB is a 413, before it is read.
"""

from __future__ import annotations

import argparse
import html
import os
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import asyncweb
from asyncweb import Limits

MiB = 1024 * 1024
FORM = """<form method="post" enctype="multipart/form-data">
<input type="file" name="file" multiple> <button>Upload</button>
</form>"""


class UploadHandler(BaseHTTPRequestHandler):
    folder = "uploads"
    limits = Limits(max_body_size=64 * MiB)

    def do_GET(self) -> None:
        names = "".join(f"<li>{html.escape(name)}</li>" for name in sorted(os.listdir(self.folder)))
        self.reply(200, f"<ul>{names}</ul>\n{FORM}\n")

    def do_POST(self) -> None:
        saved = []
        try:
            with asyncweb.request_from_handler(self, upload_dir=self.folder, limits=self.limits) as request:
                for upload in request.files.get_list("file"):  # "no file chosen" is not among them
                    name = upload.filename or "upload"  # a safe base name: no folder, no `..`
                    upload.save(os.path.join(self.folder, name))
                    saved.append(name)
        except asyncweb.HTTPError as error:  # 400 malformed, 411 chunked, 413 too large
            self.close_connection = True  # the rest of the body is left unread
            self.reply(error.status, html.escape(error.message) + "\n")
            return
        if not saved:
            self.reply(400, "no file chosen\n")
        else:
            self.reply(201, "".join(f"saved {html.escape(name)}\n" for name in saved))

    def reply(self, status: int, text: str) -> None:
        body = text.encode()
        self.send_response(status)
        self.send_header("Content-Type", "text/html; charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=8000)
    parser.add_argument("--folder", default="uploads")
    parser.add_argument("--max-mib", type=int, default=64)
    options = parser.parse_args()
    os.makedirs(options.folder, exist_ok=True)
    UploadHandler.folder = options.folder
    UploadHandler.limits = Limits(max_body_size=options.max_mib * MiB)
    server = ThreadingHTTPServer(("127.0.0.1", options.port), UploadHandler)
    print(f"serving {options.folder} on http://127.0.0.1:{server.server_port}/", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()


if __name__ == "__main__":
    main()
