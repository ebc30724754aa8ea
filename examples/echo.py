"""Answers every request with JSON describing what asyncweb parsed.

Outside tools check the library through this app, so its keys are fixed:
method, path, url, base_url, query, fields, files, cookies, headers,
secure, browser.
"""

import hashlib
import json
import logging

from asyncweb import App, Request, Response, UploadFile


def describe(upload: UploadFile) -> dict[str, object]:
    digest = hashlib.sha256()
    while chunk := upload.read(1024 * 1024):
        digest.update(chunk)
    upload.seek(0)
    return {
        "filename": upload.filename,
        "content_type": upload.content_type,
        "size": upload.size,
        "sha256": digest.hexdigest(),
    }


async def echo(request: Request, response: Response, log: logging.Logger) -> None:
    report = {
        "method": request.method,
        "path": request.path,
        "url": request.get_url(),
        "base_url": request.get_base_url(),
        "query": [[name, value] for name, value in request.query.multi_items()],
        "fields": [[name, value] for name, value in request.fields.multi_items()],
        "files": [[name, describe(upload)] for name, upload in request.files.multi_items()],
        "cookies": request.cookies,
        "headers": [[name.lower(), value] for name, value in request.headers.multi_items()],
        "secure": request.is_secure(),
        "browser": request.get_browser(),
    }
    response.set_header("Content-Type", "application/json")
    response.set_body(json.dumps(report))


main = App(echo)
