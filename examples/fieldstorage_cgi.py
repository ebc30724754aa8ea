#!/usr/bin/env python3
"""A feedback form as a CGI script, ported from `cgi.FieldStorage` to asyncweb
(docs/migrating-from-cgi.md shows the old script beside it).

Point a CGI host at this file (docs/cgi.md, docs/hosts/): a GET
shows the form; a POST thanks the sender, lists the topics ticked and the
SHA-256 of the attachment. From a terminal, the debugging mode runs it:
`python examples/fieldstorage_cgi.py POST / name=Ann topic=docs attachment=@notes.txt`.
"""

import hashlib
import html
import logging

import asyncweb
from asyncweb import App, Request, Response

FORM = """<form method="post" enctype="multipart/form-data">
<p>Name: <input name="name"></p>
<p><input type="checkbox" name="topic" value="docs"> docs <input type="checkbox" name="topic" value="bugs"> bugs</p>
<p><input type="file" name="attachment"> <button>Send</button></p>
</form>"""


def feedback(request: Request, response: Response, log: logging.Logger) -> None:
    response.set_header("Content-Type", "text/html; charset=utf-8")
    if "name" not in request.fields:
        response.set_body(FORM + "\n")
        return
    lines = [f"<p>Thanks, {html.escape(request.get_field('name', ''))}.</p>"]
    for topic in request.fields.get_list("topic"):
        if topic:  # FieldStorage's keep_blank_values=0 dropped `topic=` and a bare `topic`
            lines.append(f"<p>Topic: {html.escape(topic)}</p>")
    upload = request.get_uploaded_file("attachment")  # None when no file was chosen
    if upload is not None and upload.filename:
        digest = hashlib.sha256()
        while chunk := upload.read(65536):
            digest.update(chunk)
        lines.append(f"<p>{html.escape(upload.filename)} ({upload.content_type}): sha256 {digest.hexdigest()}</p>")
    response.set_body("\n".join(lines) + "\n")


main = App(feedback)

if __name__ == "__main__":
    asyncweb.run(main)
