"""The app a real browser talks to in tests/browser (`tests.browser.forms_app:main`).

GET /form/<get|urlencoded|multipart> serves an HTML form of every kind of
input; /submit answers a page whose <pre id="seen"> holds, as JSON, what the
handler saw. /cookies/... sets, shows and expires cookies; /cross/... is a
page that links or posts to another origin (the test serves it from
`localhost` while the cookies belong to `127.0.0.1`: another site).
"""

from __future__ import annotations

import hashlib
import html
import json
import logging
import os

from asyncweb import App, Request, Response

ENCTYPES = {
    "get": ("get", "application/x-www-form-urlencoded"),
    "urlencoded": ("post", "application/x-www-form-urlencoded"),
    "multipart": ("post", "multipart/form-data"),
}

FORM = """<!doctype html>
<html><head><meta charset="utf-8"><title>{kind}</title></head><body>
<form id="form" method="{method}" enctype="{enctype}" action="/submit?via={kind}">
  <input type="hidden" name="_charset_">
  <input type="text" name="title" id="title">
  <textarea name="note" id="note"></textarea>
  <label><input type="checkbox" name="tags" value="a" id="tag-a"> a</label>
  <label><input type="checkbox" name="tags" value="b" id="tag-b"> b</label>
  <label><input type="checkbox" name="tags" value="c" id="tag-c"> c</label>
  <select name="colors" id="colors" multiple>
    <option>red</option><option>green</option><option>blue</option>
  </select>
  <input type="file" name="docs" id="docs" multiple>
  <input type="file" name="avatar" id="avatar">
  <button type="submit" name="go" value="send" id="go">Send</button>
</form>
</body></html>
"""

CROSS = """<!doctype html>
<html><head><meta charset="utf-8"><title>cross</title></head><body>
<a id="link" href="{target}">to the other site</a>
<form id="form" method="post" action="{target}"><input name="x" value="1"><button id="go">post</button></form>
</body></html>
"""


def page(title: str, seen: object) -> str:
    text = html.escape(json.dumps(seen, ensure_ascii=False))
    head = f'<!doctype html><html><head><meta charset="utf-8"><title>{title}</title></head>'
    return f'{head}<body><pre id="seen">{text}</pre></body></html>'


def what_the_handler_saw(request: Request) -> dict[str, object]:
    files = []
    for name, upload in request.files.multi_items():
        content = upload.read()
        upload.seek(0)
        files.append(
            [
                name,
                {
                    "filename": upload.filename,
                    "raw_filename": upload.raw_filename,
                    "content_type": upload.content_type,
                    "size": upload.size,
                    "sha256": hashlib.sha256(content).hexdigest(),
                },
            ]
        )
    return {
        "method": request.method,
        "content_type": request.get_header("content-type"),
        "query": [[name, value] for name, value in request.query.multi_items()],
        "fields": [[name, value] for name, value in request.fields.multi_items()],
        "files": files,
        "cookies": request.cookies,
        "browser": request.get_browser(),
    }


async def handler(request: Request, response: Response, log: logging.Logger) -> None:
    path = request.path
    response.set_header("Content-Type", "text/html; charset=utf-8")
    response.set_header("Cache-Control", "no-store")
    if path.startswith("/form/") and path[6:] in ENCTYPES:
        kind = path[6:]
        method, enctype = ENCTYPES[kind]
        response.set_body(FORM.format(kind=kind, method=method, enctype=enctype))
    elif path == "/submit":
        response.set_body(page("seen", what_the_handler_saw(request)))
    elif path == "/cookies/set":
        response.set_cookie("plain", "1")
        response.set_cookie("scoped", "2", path="/cookies/scoped")
        response.set_cookie("brief", "3", max_age=1)
        response.set_cookie("strict", "4", samesite="Strict")
        response.set_cookie("lax", "5", samesite="Lax")
        response.set_cookie("hidden", "6", httponly=True)
        response.set_cookie("doomed", "7")
        response.set_body(page("set", response.cookies))
    elif path == "/cookies/expire":
        response.expire_cookie("doomed")
        response.set_body(page("expired", response.cookies))
    elif path in ("/cookies/show", "/cookies/scoped/show"):
        response.set_body(page("cookies", {"method": request.method, "cookies": request.cookies}))
    elif path == "/cross/page":
        target = request.query.get("target") or "/"
        response.set_body(CROSS.format(target=html.escape(target)))
    else:
        response.set_status(404)
        response.set_body(page("not found", {"path": path}))


main = App(handler, upload_dir=os.environ.get("ASYNCWEB_TEST_UPLOAD_DIR") or None, spool_size=1024)
