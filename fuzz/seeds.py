"""Seed corpora for the harnesses: real data from the shared corpus (browser
captures, WHATWG and CPython vectors, tc2231 names, cookie cases, FastCGI
byte streams) plus hand-written inputs for what it lacks, each in the
harness' input layout (fuzz/common.py).

    python -m fuzz.seeds OUT [--corpus DIR | --no-corpus] [TARGET ...]

writes OUT/<target>/<sha1 of the input> per seed. The corpus data is never
committed: the folder comes from $ASYNCWEB_FUZZ_CORPUS, else
/work/shared/corpus, and without it only the hand-written seeds are built.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
from collections.abc import Callable, Iterator
from pathlib import Path

from fuzz.common import make_input

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

TARGETS = ("multipart", "form_reader", "query", "cookies", "content_disposition", "fastcgi_codec", "cgi_variables")
DEFAULT_CORPUS = Path(os.environ.get("ASYNCWEB_FUZZ_CORPUS", "/work/shared/corpus"))

URLENCODED = b"application/x-www-form-urlencoded"


def thirds(payload: bytes) -> list[int]:
    """Two cut points, so that a seed exercises chunking from the start."""
    return [len(payload) // 3, 2 * len(payload) // 3] if len(payload) > 2 else []


def _json(corpus: Path, name: str) -> Any:
    return json.loads((corpus / name).read_text(encoding="utf-8"))


def _text_bytes(value: str) -> bytes:
    return value.encode("utf-8", "surrogateescape")


# -- multipart bodies, (boundary, body) ---------------------------------------------
def multipart_bodies(corpus: Path) -> Iterator[tuple[bytes, bytes]]:
    expected = _json(corpus, "python-multipart/expected.json")
    for path in sorted((corpus / "python-multipart/http").glob("*.http")):
        case = expected.get(path.stem)
        if case and case.get("boundary"):
            yield case["boundary"].encode("latin-1"), path.read_bytes()
    for capture in _json(corpus, "werkzeug/captures.json")["captures"]:
        request = corpus / "werkzeug" / capture["request"]
        if request.exists():
            yield capture["boundary"].encode("latin-1"), request.read_bytes()
    for case in _json(corpus, "werkzeug/formparser-cases.json")["cases"]:
        ctype, body = case.get("ctype") or "", case.get("body")
        if ctype.startswith("multipart/") and "boundary=" in ctype and body is not None:
            yield ctype.partition("boundary=")[2].encode("latin-1"), _text_bytes(body)
    cgi = _json(corpus, "cpython/cgi-constants.json")
    for boundary, body in (
        ("BOUNDARY", "POSTDATA"),
        ("BOUNDARY", "POSTDATA_NON_ASCII"),
        ("BOUNDARY_W3", "POSTDATA_W3"),
    ):
        yield cgi[boundary].encode("latin-1"), _text_bytes(cgi[body])
    for case in cgi["inline"].values():
        if "boundary" in case and "body" in case:
            yield case["boundary"].encode("latin-1"), _text_bytes(case["body"])


def _part(disposition: bytes, value: bytes, extra: bytes = b"") -> bytes:
    return b"Content-Disposition: form-data; " + disposition + b"\r\n" + extra + b"\r\n" + value


def _body(*parts: bytes, boundary: bytes = b"XyZ", newline: bytes = b"\r\n") -> bytes:
    body = b"".join(b"--" + boundary + newline + part.replace(b"\r\n", newline) + newline for part in parts)
    return body + b"--" + boundary + b"--" + newline


HAND_MULTIPART: list[tuple[bytes, bytes]] = [
    (b"XyZ", _body(_part(b'name="title"', b"hello"))),
    (b"XyZ", _body(_part(b'name="a"', b"1"), _part(b'name="b"', b"caf\xc3\xa9", b"Content-Type: text/plain\r\n"))),
    (b"XyZ", _body(_part(b'name="f"; filename="a.txt"', b"data\r\n--XyZ lookalike", b"Content-Type: text/plain\r\n"))),
    (b"XyZ", _body(_part(b'name="f"; filename=""', b"", b"Content-Type: application/octet-stream\r\n"))),
    (b"XyZ", _body(_part(b"name=\"f\"; filename*=UTF-8''%E2%82%AC%20rates.txt", b"\x00\x01\xff"))),
    (b"XyZ", _body(_part(b'name="f"; filename="C:\\Users\\me\\..\\x.txt"', b"x"))),
    (b"XyZ", _body(_part(b'name="t"', b"caf\xe9", b"Content-Type: text/plain; charset=iso-8859-1\r\n"))),
    (b"XyZ", _body(_part(b'name="_charset_"', b"windows-1252"), _part(b'name="n"', b"Andr\xe9"))),
    (b"XyZ", _body(_part(b'name="lf"', b"unix"), newline=b"\n")),
    (b"XyZ", b"preamble\r\n" + _body(_part(b'name="a"', b"1")) + b"epilogue"),
    (b'"quoted boundary"', _body(_part(b'name="q"', b"v"), boundary=b"quoted boundary")),
    (b"XyZ", _body(_part(b'name="a"', b"1"))[:-9]),  # cut off before its closing boundary
    (b"XyZ", _body(_part(b'name="h"', b"v", b"X-One: 1\r\nX-Two: 2\r\nX-Three: 3\r\n"))),
]


# Values for the round trips (common.browser_form: RS-separated), with data
# that looks like a delimiter without being one.
ROUND_TRIPS = [
    b"hello\x1eworld",
    b"\x1e\x1e",
    b"--XyZ\x1e\r\n--Xy\x1e\r\n--XyZQ\x1e\r--XyZ\r\n\x1e\n--XyZ--\x1eend\r\n-",
    b"\r\x1e\r\r\n\x1e\r\n\r\n\x1e--\x1e\r\n--\x1e" + b"\r\n--X" * 40,
    b"caf\xc3\xa9\x1e\x00\xff\xfe\x1e\xed\xa0\x80\x1e" + bytes(range(256)),
]


def _multipart(corpus: Path | None) -> Iterator[bytes]:
    pairs = list(HAND_MULTIPART) + (list(multipart_bodies(corpus)) if corpus else [])
    for boundary, body in pairs:
        payload = boundary + b"\n" + body
        yield make_input(payload, 0, thirds(payload))
    for boundary, body in HAND_MULTIPART[:4]:
        yield make_input(boundary + b"\n" + body, 1)
    for values in ROUND_TRIPS:
        yield make_input(values, 2, thirds(values))


# -- form bodies, (content type, body) -----------------------------------------------
def _query_strings(corpus: Path) -> Iterator[bytes]:
    for case in _json(corpus, "wpt/urlencoded-parser-data.json"):
        if isinstance(case, dict) and "input" in case:
            yield _text_bytes(case["input"])
    for case in _json(corpus, "wpt/urlsearchparams-constructor-strings.json")["cases"]:
        yield _text_bytes(case["input"])
    qsl = _json(corpus, "cpython/parse_qsl.json")
    for case in [*qsl["parse_qsl_test_cases"], *qsl["parse_qsl_encoding_utf8"]]:
        given = case["input"]
        yield given["bytes"].encode("latin-1") if "bytes" in given else _text_bytes(given["str"])
    yield qsl["max_num_fields"]["refused"].encode()
    for query, _ in _json(corpus, "cpython/cgi-constants.json")["parse_strict_test_cases"]:
        yield _text_bytes(query)


HAND_QUERIES = [
    b"a&b=&c=1&c=2&text=caf%C3%A9+au+lait",
    b"%",
    b"%zz=%1",
    b"\xff\xfe=%FF",
    b"%ED%A0%80=%F0%9F%98%80",  # an encoded surrogate, then U+1F600
    b"=&&=x&+=+",
    b"a%00b=%0D%0A",
    b"name=Andr%E9&_charset_=windows-1252",
    b"a=" + b"x" * 40 + b"&b=1&c=2&d=3&e=4&f=5",
]


def _form_reader(corpus: Path | None) -> Iterator[bytes]:
    forms: list[tuple[bytes, bytes]] = [(URLENCODED, query) for query in HAND_QUERIES]
    pairs = list(HAND_MULTIPART) + (list(multipart_bodies(corpus)) if corpus else [])
    forms += [(b"multipart/form-data; boundary=" + boundary, body) for boundary, body in pairs]
    if corpus:
        forms += [(URLENCODED, query) for query in _query_strings(corpus)]
        for case in _json(corpus, "werkzeug/formparser-cases.json")["cases"]:
            if case.get("ctype") == URLENCODED.decode() and case.get("body") is not None:
                forms.append((URLENCODED, _text_bytes(case["body"])))
    for content_type, body in forms:
        payload = content_type + b"\n" + body
        yield make_input(payload, 0, thirds(payload))
    for flags in (1, 2, 4, 6):
        for content_type, body in forms[:12]:
            yield make_input(content_type + b"\n" + body, flags, thirds(body))
    for values in ROUND_TRIPS:
        yield make_input(values, 8, thirds(values))
        yield make_input(values, 12, thirds(values))


def _query(corpus: Path | None) -> Iterator[bytes]:
    queries = list(HAND_QUERIES) + (list(_query_strings(corpus)) if corpus else [])
    for query in queries:
        yield make_input(query, 0, thirds(query))
        yield make_input(query, 1)
    for query in HAND_QUERIES:
        yield make_input(query, 2, thirds(query))


# -- cookies -------------------------------------------------------------------------
HAND_COOKIES = [
    b"session=abc123; theme=dark",
    b'q="\\303\\251t\\303\\251"; plain=caf\xc3\xa9',
    b"latin=caf\xe9; \xc3\xa0=1",
    b" spaced = value ;\x1cctl\x1f=x; =nameless; novalue; a=1; a=2",
    b'a="\\377\\"quoted\\\\"; b="unterminated',
]


def _cookies(corpus: Path | None) -> Iterator[bytes]:
    headers = list(HAND_COOKIES)
    if corpus:
        for name in ("django", "starlette", "werkzeug"):
            headers += [_text_bytes(case["header"]) for case in _json(corpus, f"cookies/{name}.json")["cases"]]
    for header in headers:
        yield make_input(header)


# -- Content-Disposition -------------------------------------------------------------
HAND_DISPOSITIONS = [
    b'form-data; name="upload"; filename="../../etc/passwd"\nimage/png',
    b'form-data; name="f"; filename="C:\\Documents\\report.pdf"\napplication/pdf',
    b"form-data; name=\"f\"; filename*=utf-8''%2E%2E\ntext/plain; charset=utf-8",
    b'form-data; name="f"; filename*=iso-8859-1\'fr\'caf%E9.txt; filename="cafe.txt"',
    b'form-data; name="f"; filename="a\x01b\x7fc\xc2\x85d.txt"',
    b'form-data; name="f"; filename="' + b"n" * 300 + b'.tar.gz"',
    b'form-data; name="caf\xc3\xa9"; filename="\xe2\x82\xac.txt"\ntext/plain; charset="iso-8859-1"',
    b"form-data; name=plain; filename=unquoted.txt; size=123;",
    b'form-data; name="x"; filename="unterminated',
]


def _dispositions(corpus: Path) -> Iterator[bytes]:
    for case in _json(corpus, "content-disposition/tc2231-qutebrowser.json")["cases"]:
        yield _text_bytes(case["header"])
    for row in _json(corpus, "content-disposition/go-mediatype.json")["rows"]:
        yield _text_bytes(row["header"])
    for row in _json(corpus, "werkzeug/parse_options_header.json")["rows"]:
        yield _text_bytes(row["value"])
    for value, _ in _json(corpus, "cpython/cgi-constants.json")["parse_header"]:
        yield _text_bytes(value)


def _content_disposition(corpus: Path | None) -> Iterator[bytes]:
    values = list(HAND_DISPOSITIONS)
    if corpus:
        for value in _dispositions(corpus):
            values.append(value)
            # The same parameters on a form-data part, which part_start reads.
            _, semicolon, params = value.partition(b";")
            if semicolon:
                values.append(b'form-data; name="f";' + params)
    for value in values:
        yield make_input(value)
    for value in HAND_DISPOSITIONS[:3]:
        yield make_input(value, 1)


# -- FastCGI -------------------------------------------------------------------------
def _record(rtype: int, rid: int, content: bytes = b"") -> bytes:
    padding = -len(content) % 8
    return (
        bytes((1, rtype)) + rid.to_bytes(2) + len(content).to_bytes(2) + bytes((padding, 0)) + content + bytes(padding)
    )


def _length(n: int) -> bytes:
    return bytes((n,)) if n < 0x80 else (n | 0x80000000).to_bytes(4)


def _pairs(pairs: list[tuple[bytes, bytes]]) -> bytes:
    return b"".join(_length(len(n)) + _length(len(v)) + n + v for n, v in pairs)


def _begin(rid: int, role: int = 1, flags: int = 1) -> bytes:
    return _record(1, rid, role.to_bytes(2) + bytes((flags,)) + bytes(5))


NGINX_PARAMS = [
    (b"QUERY_STRING", b"a=1&b=caf%C3%A9"),
    (b"REQUEST_METHOD", b"POST"),
    (b"CONTENT_TYPE", b"application/x-www-form-urlencoded"),
    (b"CONTENT_LENGTH", b"3"),
    (b"SCRIPT_NAME", b"/app"),
    (b"REQUEST_URI", b"/app/caf%C3%A9?a=1"),
    (b"DOCUMENT_URI", b"/app/caf\xc3\xa9"),
    (b"PATH_INFO", b"/caf\xc3\xa9"),
    (b"SERVER_PROTOCOL", b"HTTP/1.1"),
    (b"REQUEST_SCHEME", b"https"),
    (b"HTTPS", b"on"),
    (b"GATEWAY_INTERFACE", b"CGI/1.1"),
    (b"SERVER_SOFTWARE", b"nginx/1.22.1"),
    (b"REMOTE_ADDR", b"203.0.113.7"),
    (b"REMOTE_PORT", b"51234"),
    (b"SERVER_ADDR", b"192.0.2.1"),
    (b"SERVER_PORT", b"443"),
    (b"SERVER_NAME", b"example.org"),
    (b"HTTP_HOST", b"example.org"),
    (b"HTTP_USER_AGENT", b"Mozilla/5.0 (X11; Linux x86_64) " + b"x" * 120),
    (b"HTTP_COOKIE", b"a=1"),
    (b"HTTP_COOKIE", b"b=2"),
    (b"HTTP_X_FORWARDED_FOR", b"198.51.100.1"),
    (b"HTTP_CONTENT_TYPE", b"application/x-www-form-urlencoded"),
]


def _request(rid: int, params: list[tuple[bytes, bytes]], body: bytes = b"", flags: int = 1) -> bytes:
    stream = _begin(rid, flags=flags) + _record(4, rid, _pairs(params)) + _record(4, rid)
    return stream + (_record(5, rid, body) if body else b"") + _record(5, rid)


HAND_FASTCGI = [
    _request(1, NGINX_PARAMS, b"a=1"),
    _request(1, NGINX_PARAMS[:4], flags=0),
    # Two requests multiplexed, their records interleaved, one aborted.
    _begin(1)
    + _begin(2)
    + _record(4, 1, _pairs(NGINX_PARAMS[:6]))
    + _record(4, 2, _pairs(NGINX_PARAMS[6:12]))
    + _record(4, 2)
    + _record(4, 1)
    + _record(5, 1, b"abc")
    + _record(2, 2)
    + _record(5, 1),
    _record(9, 0, _pairs([(b"FCGI_MAX_CONNS", b""), (b"FCGI_MAX_REQS", b""), (b"FCGI_MPXS_CONNS", b"")])),
    _record(99, 0, b"unknown type") + _begin(3, role=2) + _begin(4, role=3),
    _begin(5) + _record(4, 5, _pairs(NGINX_PARAMS[:3])) + _record(2, 5),  # aborted inside PARAMS
    _begin(6) + _record(4, 6) + _record(8, 6, b"filter data") + _record(5, 6, b"x" * 300) + _record(5, 6),
]


def _fastcgi_streams(corpus: Path) -> Iterator[bytes]:
    for name in ("fastcgi/go-fcgi_test.json", "fastcgi/fcgisgi.json"):
        for key, case in _json(corpus, name).items():
            if isinstance(case, dict) and "hex" in case:
                yield bytes.fromhex(case["hex"])
            elif key == "stdin_two_records_id300":
                rid = case["request_id"]
                head = _begin(rid) + _record(4, rid, _pairs([(b"REQUEST_METHOD", b"PUT")])) + _record(4, rid)
                yield head + b"".join(bytes.fromhex(header) + bytes(size) for header, size in case["parts"])


def _fastcgi_codec(corpus: Path | None) -> Iterator[bytes]:
    streams = list(HAND_FASTCGI) + (list(_fastcgi_streams(corpus)) if corpus else [])
    for stream in streams:
        yield make_input(stream, 0, thirds(stream))
        yield make_input(stream, 7, thirds(stream))


# -- CGI variables -------------------------------------------------------------------
HAND_ENVIRONS = [
    # Apache httpd mod_cgi
    {
        "GATEWAY_INTERFACE": "CGI/1.1",
        "SERVER_SOFTWARE": "Apache/2.4.57 (Debian)",
        "SERVER_NAME": "www.example.com",
        "SERVER_PORT": "443",
        "HTTPS": "on",
        "REQUEST_METHOD": "post",
        "SCRIPT_NAME": "/cgi-bin/app.cgi",
        "PATH_INFO": "/caf\xc3\xa9/x",
        "QUERY_STRING": "q=%E2%82%AC",
        "CONTENT_TYPE": 'multipart/form-data; boundary="XyZ"',
        "HTTP_TRANSFER_ENCODING": "chunked",
        "HTTP_HOST": "www.example.com:8443",
        "HTTP_ACCEPT_LANGUAGE": "fr-CH, fr;q=0.9",
        "REMOTE_ADDR": "2001:db8::1",
        "REMOTE_PORT": "not a port",
        "REMOTE_USER": "j\xc3\xb6rg",
    },
    # Caddy: a body of unknown length
    {"REQUEST_METHOD": "PUT", "CONTENT_LENGTH": "-1", "SCRIPT_NAME": "/", "PATH_INFO": "", "HTTP_X_A": "1"},
    # lighttpd, odd values
    {
        "SERVER_PROTOCOL": "HTTP/2.0",
        "SERVER_NAME": "[::1]",
        "SERVER_PORT": "\xb2",
        "CONTENT_LENGTH": " 12 ",
        "HTTP_": "no name",
        "HTTP_CONTENT_LENGTH": "12",
        "HTTP_X__DOUBLE": "u",
        "REQUEST_SCHEME": "https",
        "PATH_INFO": "/a b/%2F/\xff",
    },
]


def _environ_bytes(environ: dict[str, str]) -> bytes:
    return b"".join(f"{name}={value}".encode("latin-1") + b"\0" for name, value in environ.items())


def _params_of(stream: bytes) -> Iterator[bytes]:
    """The PARAMS blocks of a FastCGI stream, as NAME=VALUE\\0 entries."""
    pos, blocks = 0, dict[int, bytes]()
    while pos + 8 <= len(stream):
        rtype, rid = stream[pos + 1], int.from_bytes(stream[pos + 2 : pos + 4])
        length, padding = int.from_bytes(stream[pos + 4 : pos + 6]), stream[pos + 6]
        content = stream[pos + 8 : pos + 8 + length]
        pos += 8 + length + padding
        if rtype == 4:
            blocks[rid] = blocks.get(rid, b"") + content
    for block in blocks.values():
        entries, at = [], 0
        try:
            while at < len(block):
                lengths = []
                for _ in range(2):
                    size = block[at]
                    if size & 0x80:
                        size, at = int.from_bytes(block[at : at + 4]) & 0x7FFFFFFF, at + 4
                    else:
                        at += 1
                    lengths.append(size)
                name, value = block[at : at + lengths[0]], block[at + lengths[0] : at + lengths[0] + lengths[1]]
                at += lengths[0] + lengths[1]
                entries.append(name + b"=" + value + b"\0")
        except IndexError:
            continue
        yield b"".join(entries)


def _cgi_variables(corpus: Path | None) -> Iterator[bytes]:
    environs = [_environ_bytes(environ) for environ in HAND_ENVIRONS]
    streams = list(HAND_FASTCGI) + (list(_fastcgi_streams(corpus)) if corpus else [])
    for stream in streams:
        environs += _params_of(stream)
    for environ in environs:
        yield make_input(environ)


BUILDERS: dict[str, Callable[[Path | None], Iterator[bytes]]] = {
    "multipart": _multipart,
    "form_reader": _form_reader,
    "query": _query,
    "cookies": _cookies,
    "content_disposition": _content_disposition,
    "fastcgi_codec": _fastcgi_codec,
    "cgi_variables": _cgi_variables,
}


def seeds(target: str, corpus: Path | None = DEFAULT_CORPUS) -> list[bytes]:
    """The seeds of `target`, the corpus' ones only if `corpus` is a folder."""
    found = BUILDERS[target](corpus if corpus is not None and corpus.is_dir() else None)
    return list(dict.fromkeys(found))


def build(out: Path, corpus: Path | None = DEFAULT_CORPUS, targets: tuple[str, ...] = TARGETS) -> dict[str, Path]:
    """Write each target's seeds to out/<target>/; returns the folders."""
    folders = {}
    for target in targets:
        folder = out / target
        folder.mkdir(parents=True, exist_ok=True)
        for seed in seeds(target, corpus):
            (folder / hashlib.sha1(seed).hexdigest()).write_bytes(seed)
        folders[target] = folder
    return folders


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("out", type=Path, help="folder to write <target>/<seed> files to")
    parser.add_argument("targets", nargs="*", help=f"targets (default: all of {', '.join(TARGETS)})")
    parser.add_argument("--corpus", type=Path, default=DEFAULT_CORPUS, help=f"the shared corpus ({DEFAULT_CORPUS})")
    parser.add_argument("--no-corpus", action="store_true", help="hand-written seeds only")
    args = parser.parse_args()
    corpus = None if args.no_corpus else args.corpus
    unknown = set(args.targets) - set(TARGETS)
    if unknown:
        parser.error(f"unknown targets {sorted(unknown)}: choose from {', '.join(TARGETS)}")
    if corpus is not None and not corpus.is_dir():
        parser.error(f"no corpus at {corpus}: give --corpus DIR or --no-corpus")
    for target, folder in build(args.out, corpus, tuple(args.targets) or TARGETS).items():
        print(f"{target}: {sum(1 for _ in folder.iterdir())} seeds in {folder}")


if __name__ == "__main__":
    main()
