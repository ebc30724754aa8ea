"""Real-world bodies from other projects' tests (the shared corpus, read in
place): python-multipart's captures, Werkzeug's browser captures and its
form parser cases. Each runs through read_form (the formparser cases
through an App, for their body limits and methods) whole and split every
1, 7 and 64 bytes: the same result at every split, and the result the
source expects, or the difference on purpose recorded here and in the
README (Forms and uploads)."""

from __future__ import annotations

import base64
import logging
import os
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from asyncweb import App, Limits, Request, Response
from asyncweb._config import Config
from asyncweb.errors import HTTPError
from asyncweb.forms import read_form
from tests.forms.corpus import cases, load, path
from tests.reliability.helpers import call_app

SPLITS = [None, 1, 7, 64]  # None: the body whole
File = tuple[str, str | None, str | None, bytes]  # field name, safe file name, content type, content
Result = tuple[list[tuple[str, str | None]], list[File]] | int  # fields and files, or the error status

# Why asyncweb answers otherwise than a source, on purpose.
CTE = "Content-Transfer-Encoding base64 or quoted-printable is a 400: RFC 7578 4.7 deprecates it, no browser sends it"
CUT_OFF = "a body cut off before its closing boundary is a 400, never a form that silently lost its end"
PREAMBLE = (
    "a first boundary line that is not the boundary (WebQit for WebKit) is preamble (RFC 2046):"
    " the decoder finds the close delimiter after it and gives an empty form"
)
FORM_DATA_ONLY = (
    "a part whose disposition type is not form-data (Werkzeug's tests write form-field) is a 400 (RFC 7578 4.2)"
)
BARE_NAMES = "a bare name is a field whose value is None, and bad UTF-8 is U+FFFD: the query's rules"
NO_BOUNDARY = "a multipart body without a boundary is a 400: it cannot be read, so it is not an empty form"
BARE_CR_LF = "only CRLF ends a multipart line (RFC 2046); Werkzeug takes a bare LF or CR too"
OBS_FOLD = (
    "a folded part header line (obs-fold, obsolete since RFC 7230) is a 400 in the decoder; the joining of"
    " the RFC 2231 pieces themselves is tested in test_part_headers.py"
)


async def _chunks(body: bytes, size: int | None) -> AsyncIterator[bytes]:
    if size is None:
        yield body
        return
    for start in range(0, len(body), size):
        yield body[start : start + size]


async def read(body: bytes, content_type: str, size: int | None, config: Config) -> Result:
    try:
        form = await read_form(_chunks(body, size), content_type, config)
    except HTTPError as error:
        return error.status
    try:
        files = [
            (name, upload.filename, upload.content_type, upload.read()) for name, upload in form.files.multi_items()
        ]
        return form.fields.multi_items(), files
    finally:
        form.close()


async def read_at_every_split(body: bytes, content_type: str, tmp_path: Path) -> Result:
    """The one result of `body` at every split; files spool past 64 bytes,
    so the disk path is taken too, and nothing is left in the spool."""
    spool = tmp_path / "spool"
    spool.mkdir(exist_ok=True)
    config = Config(spool_size=64, upload_dir=str(spool))
    results = [await read(body, content_type, size, config) for size in SPLITS]
    assert all(result == results[0] for result in results), "the result depends on where the body is split"
    assert os.listdir(spool) == []
    return results[0]


# -- python-multipart -------------------------------------------------------------------
PM = "python-multipart/expected.json"
PM_DIFFERENCES: dict[str, tuple[int | None, str]] = {
    "base64_encoding": (400, CTE),
    "quoted_printable_encoding": (400, CTE),
    "mixed_plain_and_base64_encoding": (400, CTE),
    "mixed_case_headers": (400, CTE),
    "only_boundary": (400, CUT_OFF),  # python-multipart gives an empty form
    "bad_initial_boundary": (None, PREAMBLE),  # python-multipart: an error at byte 9; here []
}
# python-multipart's own test of this capture (test_feed_blocks) parses it
# with the boundary "boundary", the one its body uses, not its yaml's.
PM_BOUNDARIES = {"single_field_blocks": "boundary"}


def pm_cases() -> list[tuple[str, Any]]:
    return [(name, (name, entry)) for name, entry in sorted(load(PM).items())]


def pm_expected(expected: list[dict[str, str]] | dict[str, int]) -> Result:
    if isinstance(expected, dict):  # {"error": offset}
        return 400
    fields: list[tuple[str, str | None]] = []
    files: list[File] = []
    for part in expected:
        data = base64.b64decode(part["data"])
        if part["type"] == "field":
            fields.append((part["name"], data.decode("utf-8", "replace")))
        else:
            files.append((part["name"], part["file_name"], part["content_type"], data))
    return fields, files


@pytest.mark.anyio
@pytest.mark.parametrize("case", cases(PM, pm_cases))
async def test_python_multipart_captures(case: tuple[str, Any], tmp_path: Path) -> None:
    name, entry = case
    body = path(f"python-multipart/http/{name}.http").read_bytes()
    boundary = PM_BOUNDARIES.get(name, entry["boundary"])
    got = await read_at_every_split(body, f'multipart/form-data; boundary="{boundary}"', tmp_path)
    if name in PM_DIFFERENCES:
        status, _reason = PM_DIFFERENCES[name]
        assert got == (status if status is not None else ([], []))
        assert got != pm_expected(entry["expected"])  # still a difference: else drop it from the list
    else:
        assert got == pm_expected(entry["expected"])


# -- Werkzeug's browser captures ------------------------------------------------------------
WZ_CAPTURES = "werkzeug/captures.json"
# Werkzeug's commit cbb446fd turned this capture's CRLF into bare LF; the
# -original copy, as IE7 sent it, passes.
WZ_CAPTURE_DIFFERENCES = {"ie7_full_path_request": (400, BARE_CR_LF)}


def wz_captures() -> list[tuple[str, Any]]:
    return [(capture["id"], capture) for capture in load(WZ_CAPTURES)["captures"]]


@pytest.mark.anyio
@pytest.mark.parametrize("capture", cases(WZ_CAPTURES, wz_captures))
async def test_werkzeug_browser_captures(capture: dict[str, Any], tmp_path: Path) -> None:
    body = path("werkzeug/" + capture["request"]).read_bytes()
    got = await read_at_every_split(body, f'multipart/form-data; boundary="{capture["boundary"]}"', tmp_path)
    if capture["id"] in WZ_CAPTURE_DIFFERENCES:
        assert got == WZ_CAPTURE_DIFFERENCES[capture["id"]][0]
        return
    assert not isinstance(got, int), got
    fields, files = dict(got[0]), {name: rest for name, *rest in got[1]}
    if capture["text"] is not None:
        assert fields["text"] == capture["text"]
    for filename, field, content_type, content in capture["files"]:
        safe, got_type, data = files[field]
        assert safe == filename  # the -original captures send IE's full paths: the base name is the name
        if content_type is not None:
            assert got_type == content_type
        if content is not None:
            assert data == path("werkzeug/" + content).read_bytes()


# -- Werkzeug's form parser cases, through an App ---------------------------------------------
WZ_CASES = "werkzeug/formparser-cases.json"
WZ_DIFFERENCES: dict[str, tuple[int, str]] = {
    "limiting-multipart-max_content_length_400": (400, FORM_DATA_ONLY),
    "limiting-multipart-max_form_memory_size_7": (400, FORM_DATA_ONLY),  # Werkzeug: 413
    "limiting-multipart-max_form_memory_size_400": (400, FORM_DATA_ONLY),
    "limiting-multipart-max_form_parts_1": (400, FORM_DATA_ONLY),  # Werkzeug: 413
    "multipart_max_form_memory_size": (400, FORM_DATA_ONLY),  # Werkzeug: 413
    "urlencoded_silent_decode": (200, BARE_NAMES),  # Werkzeug: no field; here ("\ufffd", None)
    "missing_multipart_boundary": (400, NO_BOUNDARY),  # Werkzeug: an empty form
    "premature_end_of_file": (400, CUT_OFF),  # Werkzeug: an empty form
    "nonstandard_line_endings-LF": (400, BARE_CR_LF),
    "nonstandard_line_endings-CR": (400, BARE_CR_LF),
    "file_rfc2231_filename_continuations": (400, OBS_FOLD),
}


def built(recipe: str) -> bytes:
    """The two large bodies Werkzeug's tests build rather than write out."""
    if recipe == "werkzeug:chunk_split_on_line_break_before_epilogue":
        return b"".join(
            (
                b"--thirteenbytes\r\n",
                b"Content-Disposition: form-data; name=tx3065\r\n\r\n",  # with the line above: 64 bytes
                b"\n".join([b"\r" * 31] * 2045 + [b"y" * 31]),  # 65535 bytes in all so far
                b"\r\n",  # split by Werkzeug's first 64 KiB chunk
                b"\n".join([b"\r" * 31] * 2047 + [b"x" * 30]),
                b"\r\n--thirteenbytes--",
            )
        )
    _, name, count = recipe.split(":")
    assert name == "trailing_CR"
    head = b'--wzboundary\r\nContent-Disposition: form-data; name="foo"; filename="test.txt"\r\n'
    return head + b"Content-Type: text/plain\r\n\r\n" + trailing_cr_sample(int(count)) + b"\r\n--wzboundary--\r\n"


def trailing_cr_sample(count: int) -> bytes:
    return b"\x00" * 65535 + b"\r" * count


def wz_cases() -> list[tuple[str, Any]]:
    return [(case["id"], case) for case in load(WZ_CASES)["cases"]]


async def answer(case: dict[str, Any], body: bytes, size: int | None) -> tuple[int | None, list[Any], list[Any]]:
    seen: dict[str, Any] = {}

    async def handler(request: Request, response: Response, log: logging.Logger) -> None:
        seen["fields"] = request.fields.multi_items()
        seen["files"] = [
            (name, upload.filename, upload.content_type, dict(upload.headers.items()), upload.read())
            for name, upload in request.files.multi_items()
        ]

    app = App(handler, limits=Limits()._replace(**case.get("limits", {})))
    headers = [("content-type", case["ctype"])] if case["ctype"] is not None else []
    headers.append(("content-length", str(len(body))))
    chunks = [body] if size is None else [body[i : i + size] for i in range(0, len(body), size)]
    reply = await call_app(app, chunks, headers, method=case.get("method", "POST"))
    return reply.status, seen.get("fields", []), seen.get("files", [])


@pytest.mark.anyio
@pytest.mark.parametrize("case", cases(WZ_CASES, wz_cases))
async def test_werkzeug_form_parser_cases(case: dict[str, Any]) -> None:
    body = built(case["build"]) if case.get("build") else case["body"].encode("latin-1")
    results = [await answer(case, body, size) for size in SPLITS]
    assert all(result == results[0] for result in results), "the result depends on where the body is split"
    status, fields, files = results[0]
    expect = case["expect"]
    if case["id"] in WZ_DIFFERENCES:
        assert status == WZ_DIFFERENCES[case["id"]][0]
        if case["id"] == "urlencoded_silent_decode":
            assert fields == [("\ufffd", None)] != expect["fields_exact"]
        else:
            assert status != expect["status"]  # still a difference: else drop it from the list
        return
    assert status == expect["status"]
    if status != 200:
        return
    for name, value in expect.get("fields", {}).items():
        assert dict(fields)[name] == value
    if "fields_exact" in expect:
        assert fields == expect["fields_exact"]
    if "files_exact" in expect:
        assert files == expect["files_exact"]
    by_name = {name: rest for name, *rest in files}
    for name, checks in expect.get("files", {}).items():
        filename, content_type, headers, data = by_name[name]
        for check, value in checks.items():
            if check == "filename":
                assert filename == value
            elif check == "content_type":
                assert content_type == value
            elif check == "data":
                assert data == value.encode("latin-1")
            elif check == "data_sha256_of":
                count = int(value.rpartition("*")[2])  # "NUL*65535 + CR*1"
                assert data == trailing_cr_sample(count)
            else:
                assert check.startswith("header:") and headers[check.removeprefix("header:")] == value
    if "field_checks" in expect:
        checks = expect["field_checks"]
        value = dict(fields)[checks["name"]]
        assert len(value) == checks["len"] and value[-1] == checks["last"]
        assert value[65470:65473] == checks["slice_65470_65473"]
