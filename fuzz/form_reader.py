"""Fuzz the whole form reader (forms/reader.py: read_form), urlencoded and
multipart, as a request's body streams in: the decoders, the limits, the
charsets, the uploads.

Payload: the Content-Type (one line, as latin-1), a LF, then the body; a
Content-Type that is no form type is skipped (Request.form answers 415
before reading). Flags: bit 0 strict parsing; bit 1 tight limits; bit 2 a
16-byte spool, so that uploads go to temp files; bit 3 a round trip
instead: the payload is values (common.browser_form) that a browser's
multipart body carries, to be read back exactly (fields as UTF-8 text).

Invariants: only BadRequest and PayloadTooLarge; no lone surrogate in a
field, a file's names, type, charset or read_text(); file names as
safe_filename promises; the same form (or refusal) however the body is
cut; nothing lost: a browser's form gives back its values, and once the
form is closed, or refused, no file descriptor is left open and nothing is
left in the upload folder.

    python -m fuzz.form_reader -max_total_time=300 /tmp/seeds/form_reader
"""

from __future__ import annotations

import atexit
import functools
import os
import shutil
import tempfile
from collections.abc import AsyncIterator, Coroutine

from fuzz.common import (
    Finding,
    Input,
    attempt,
    browser_form,
    check_filename,
    check_same,
    check_text,
    chunkings,
    fuzz,
    instrumented,
    parse_input,
)

with instrumented(__name__ == "__main__"):
    from asyncweb._config import Config
    from asyncweb.errors import BadRequest, PayloadTooLarge
    from asyncweb.forms import multipart as _multipart  # noqa: F401 - imported lazily by the reader: instrumented here
    from asyncweb.forms.reader import FormData, form_type, read_form
    from asyncweb.limits import Limits

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

ALLOWED = (BadRequest, PayloadTooLarge)
TIGHT = Limits(
    max_fields=3,
    max_files=2,
    max_field_size=32,
    max_fields_total=64,
    max_file_size=64,
    max_part_header_size=64,
    max_part_headers=3,
)


@functools.cache
def uploads() -> str:
    """The upload folder: $ASYNCWEB_FUZZ_UPLOADS, else a temp one removed at
    exit (at a normal exit: libFuzzer's own leaves it behind, empty)."""
    folder = os.environ.get("ASYNCWEB_FUZZ_UPLOADS")
    if folder:
        os.makedirs(folder, exist_ok=True)
        return folder
    folder = tempfile.mkdtemp(prefix="asyncweb-fuzz-")
    atexit.register(shutil.rmtree, folder, True)
    return folder


Fields = list[tuple[str, str | None]]
# name, filename, raw_filename, content_type, charset, headers, read(), read_text()
File = tuple[str, str | None, str | None, str | None, str | None, list[tuple[bytes, bytes]], bytes, str]
Summary = tuple[Fields, list[File]]


def run_sync(coroutine: Coroutine[Any, Any, FormData]) -> FormData:
    """Run a coroutine that never waits (the body is at hand) to its end."""
    try:
        coroutine.send(None)
    except StopIteration as stop:
        form: FormData = stop.value
        return form
    coroutine.close()
    raise Finding("read_form waited on something other than the body")


async def body(chunks: list[bytes]) -> AsyncIterator[bytes]:
    for chunk in chunks:
        yield chunk


def describe(form: FormData) -> Summary:
    fields = form.fields.multi_items()
    files: list[File] = [
        (
            name,
            upload.filename,
            upload.raw_filename,
            upload.content_type,
            upload.charset,
            upload.headers.raw,
            upload.read(),
            upload.read_text(),
        )
        for name, upload in form.files.multi_items()
    ]
    check_text(fields, "fields")
    check_text(files, "files")
    for name, upload in form.files.multi_items():
        check_filename(upload.filename, f"files[{name!r}].filename")
    return (fields, files)


def read(content_type: str, chunks: list[bytes], config: Config) -> Summary:
    form = run_sync(read_form(body(chunks), content_type, config))
    try:
        return describe(form)
    finally:
        form.close()


def open_fds() -> int:
    return len(os.listdir("/proc/self/fd"))


def round_trip(given: Input) -> None:
    form = browser_form(given.payload)
    if form is None:
        return
    body, parts = form
    config = Config(upload_dir=uploads(), spool_size=16 if given.flag(2) else 1024 * 1024)
    fields: Fields = [(name, value.decode("utf-8", "replace")) for name, filename, value in parts if filename is None]
    files = [(name, filename, value) for name, filename, value in parts if filename is not None]
    for way in chunkings(body, given.cuts):
        got = read("multipart/form-data; boundary=XyZ", way, config)
        got_files = [(file[0], file[1], file[6]) for file in got[1]]
        if got[0] != fields or got_files != files:
            sizes = [len(piece) for piece in way][:20]
            raise Finding(
                f"a browser's form came back changed: sent {parts!r:.800}, in chunks of {sizes} got {got!r:.800}"
            )


def TestOneInput(data: bytes) -> None:  # noqa: N802 - atheris' name
    given = parse_input(data)
    if given.flag(3):
        round_trip(given)
        return
    line, _, payload = given.payload.partition(b"\n")
    content_type = line.rstrip(b"\r").decode("latin-1")
    if form_type(content_type) is None:
        return
    config = Config(
        strict_parsing=given.flag(0),
        limits=TIGHT if given.flag(1) else Limits(),
        upload_dir=uploads(),
        spool_size=16 if given.flag(2) else 1024 * 1024,
    )
    ways = chunkings(payload, given.cuts)
    results: list[object] = []
    for way in ways:
        before = open_fds()
        results.append(attempt(ALLOWED, read, content_type, way, config))
        if open_fds() != before:
            raise Finding(f"file descriptors left open: {open_fds() - before}, {results[-1]!r:.300}")
        if os.listdir(uploads()):
            raise Finding(f"files left in the upload folder: {os.listdir(uploads())}")
    check_same(results, ways, "the form fields and files")


def main() -> None:
    fuzz(TestOneInput, __file__)


if __name__ == "__main__":
    main()
