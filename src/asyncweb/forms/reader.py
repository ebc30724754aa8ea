"""Reading a form body as it streams in: urlencoded or multipart.

`read_form` consumes the body chunk by chunk, feeding the sans-I/O parsers
(`query.QueryParser`, `multipart.MultipartDecoder`), enforcing every limit
as the bytes arrive (413 at once, nothing more read), and leaving nothing
behind when it fails: partial files are closed and removed.

It does no I/O but through `UploadFile`, and knows nothing of ASGI: the
body comes as an async iterator of chunks and the options as a `Config`.
It may not import `multipart` at import time, only
when a multipart body comes: a CGI process pays for every import.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

from .._config import Config
from ..errors import BadRequest, PayloadTooLarge
from ..multidict import MultiDict
from ..query import QueryParser, RawPair, decode_text, split_whole
from .charsets import text_codec, without_surrogates
from .uploads import UploadFile

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import NoReturn

    from .part_headers import PartStart

URLENCODED = "application/x-www-form-urlencoded"
MULTIPART = "multipart/form-data"
CHARSET_FIELD = "_charset_"


def form_type(content_type: str | None) -> str | None:
    """URLENCODED or MULTIPART for a form body's Content-Type, else None."""
    if content_type == URLENCODED:  # as browsers send it: spared the rest
        return URLENCODED
    if not content_type:
        return None
    kind = content_type.partition(";")[0].strip().lower()
    return kind if kind in (URLENCODED, MULTIPART) else None


class FormData:
    """A parsed form: non-file `fields` and `files`, each in body order."""

    __slots__ = ("fields", "files")

    def __init__(self, fields: MultiDict[str | None], files: MultiDict[UploadFile]) -> None:
        self.fields = fields
        self.files = files

    def close(self) -> None:
        for _, upload in self.files.multi_items():
            upload.close()


# A urlencoded form's files: one for all, a MultiDict being read-only.
_NO_FILES: MultiDict[UploadFile] = MultiDict()


def _charset(declared: str | None, strict: bool) -> str:
    """The codec of a WHATWG encoding label (`charsets`), else UTF-8; with
    `strict`, a label that names no text encoding is a 400. Python would
    honour utf-7 or unicode_escape, whose lone surrogates no str.encode takes."""
    if declared:
        codec = text_codec(declared)
        if codec is not None:
            return codec
        if strict:
            raise BadRequest(f"unknown charset {declared[:40]!r}")
    return "utf-8"


def _decode(raw: bytes, strict: bool, codec: str) -> str:
    text = decode_text(raw, strict, codec)
    # UTF-8 never decodes to a lone surrogate; the guard is for the rest.
    return text if codec == "utf-8" else without_surrogates(text)


async def read_form(chunks: AsyncIterator[bytes], content_type: str, config: Config) -> FormData:
    """The form of a body that comes as `chunks`. (A body small enough to
    hold costs least read whole and given to `parse_urlencoded`, as
    `Request.form` does.)"""
    if form_type(content_type) == URLENCODED:
        return await _read_urlencoded(chunks, config)
    return await _read_multipart(chunks, content_type, config)


async def _read_urlencoded(chunks: AsyncIterator[bytes], config: Config) -> FormData:
    limits = config.limits
    parser = QueryParser(config.strict_parsing, limits.max_fields, limits.max_field_size)
    raw: list[RawPair] = []
    total = 0
    async for chunk in chunks:
        total += len(chunk)
        if limits.max_fields_total is not None and total > limits.max_fields_total:
            _too_much(parser, chunk[: len(chunk) - (total - limits.max_fields_total)], limits.max_fields_total)
        raw += parser.feed(chunk)
    raw += parser.close()
    return _urlencoded_form(raw, config)


def _too_much(parser: QueryParser, allowed: bytes, limit: int) -> NoReturn:
    """413 for a body past `max_fields_total`, once the bytes before that
    point had their say: a fault among them is the answer, as it would be
    had the body stopped there, so the answer is the same however it is split."""
    parser.feed(allowed)
    raise PayloadTooLarge(f"the fields are larger than {limit} bytes in all")


def parse_urlencoded(body: bytes, config: Config) -> FormData:
    """A whole urlencoded body's form, as `read_form` gives it for the body
    in any number of chunks (tests/test_fast_paths.py holds them
    together), the same limits refusing it the same way. Bodies that no limit
    can refuse (as many `&` as fields allowed at most, no longer than a field
    may be) and that `split_whole` can take go that way; the rest, and a
    `_charset_` field, through the streaming parser's rules."""
    limits = config.limits
    max_fields = limits.max_fields
    max_field_size = limits.max_field_size
    if limits.max_fields_total is not None and len(body) > limits.max_fields_total:
        parser = QueryParser(config.strict_parsing, max_fields, max_field_size)
        _too_much(parser, body[: limits.max_fields_total], limits.max_fields_total)
    # Fields counted as at most one per `&`, plus one (and so at most one per byte).
    few = max_fields is None or len(body) < max_fields or body.count(b"&") < max_fields
    if few and (max_field_size is None or len(body) <= max_field_size):
        pairs = split_whole(body, unless=CHARSET_FIELD)
        if pairs is not None:
            return FormData(MultiDict(pairs), _NO_FILES)
    parser = QueryParser(config.strict_parsing, max_fields, max_field_size)
    return _urlencoded_form(parser.feed(body) + parser.close(), config)


def _urlencoded_form(raw: list[RawPair], config: Config) -> FormData:
    """The form of the unescaped pairs: decoded as the `_charset_` field says, else as UTF-8."""
    charset_field = CHARSET_FIELD.encode()
    charset = next((value for name, value in raw if name == charset_field and value), None)
    encoding = _charset(charset.decode("latin-1") if charset else None, config.strict_parsing)
    strict = config.strict_parsing
    return FormData(
        MultiDict(
            (_decode(name, strict, encoding), None if value is None else _decode(value, strict, encoding))
            for name, value in raw
        ),
        _NO_FILES,
    )


async def _read_multipart(chunks: AsyncIterator[bytes], content_type: str, config: Config) -> FormData:
    reader = _MultipartReader(content_type, config)
    try:
        await reader.read(chunks)
        return reader.finish()
    except BaseException:
        reader.abort()
        raise


class _MultipartReader:
    """One multipart body as the decoder's events arrive: the fields' text,
    the uploads, and every limit checked before the bytes are kept.

    `read(chunks)` feeds the body through the decoder, one method per event;
    `finish()` then gives the FormData. `abort()` on any failure closes and
    removes every upload begun, kept or not.
    """

    __slots__ = (
        "_config",
        "_decoder",
        "_files",
        "_limits",
        "_max_field_size",
        "_max_fields_total",
        "_memory_left",
        "_text",
        "_texts",
        "_texts_size",
        "_upload",
        "_uploads",
    )

    def __init__(self, content_type: str, config: Config) -> None:
        # The decoder is imported on the first multipart body, not by every
        # process that imports asyncweb (a CGI request pays for each import).
        from .multipart import MultipartDecoder, boundary_of

        limits = config.limits
        self._decoder = MultipartDecoder(
            boundary_of(content_type), limits.max_part_header_size, limits.max_part_headers
        )
        self._config = config
        self._limits = limits
        # The limits text_data checks, one attribute away.
        self._max_field_size = limits.max_field_size
        self._max_fields_total = limits.max_fields_total
        self._texts: list[tuple[str, bytearray, str | None]] = []  # name, value, part charset
        self._texts_size = 0
        self._uploads: list[UploadFile] = []  # every upload begun, for abort()
        self._files: list[tuple[str, UploadFile]] = []  # the uploads kept
        # The part being read: a text field, a file, or neither.
        self._text: bytearray | None = None
        self._upload: UploadFile | None = None
        # `spool_size` bounds the memory the files of one request take together:
        # each new file may stay in memory only as far as the others left room.
        self._memory_left = config.spool_size

    async def read(self, chunks: AsyncIterator[bytes]) -> None:
        """The whole body, through to its closing boundary."""
        from .part_headers import PartStart

        decoder = self._decoder
        max_file_size = self._limits.max_file_size
        # Bound methods looked up once: the loop runs for every event.
        text_data, part_start, part_end = self.text_data, self.part_start, self.part_end
        async for chunk in chunks:
            for event in decoder.feed(chunk):
                if type(event) is memoryview:  # part data, the most frequent event, tested first
                    # A file's is written from here: this runs for every chunk of a large upload.
                    upload = self._upload
                    if upload is None:
                        text_data(event)
                    elif max_file_size is not None and upload.size + len(event) > max_file_size:
                        raise PayloadTooLarge(f"a file is larger than {max_file_size} bytes")
                    else:
                        upload.write(event)
                elif type(event) is PartStart:
                    part_start(event)
                else:  # PartEnd
                    part_end()
        decoder.close()

    def part_start(self, part: PartStart) -> None:
        limits = self._limits
        if part.filename is None:
            if len(self._texts) >= limits.max_fields:
                raise PayloadTooLarge(f"more than {limits.max_fields} fields")
            self._text = bytearray()
            self._texts.append((part.name, self._text, part.charset))
        else:
            if len(self._uploads) >= limits.max_files:
                raise PayloadTooLarge(f"more than {limits.max_files} files")
            self._upload = _new_upload(part, self._config, self._memory_left)
            self._uploads.append(self._upload)

    def text_data(self, data: memoryview) -> None:
        """Part data not in a file: a text field's, or a part's kept as neither."""
        text = self._text
        if text is None:
            return
        if len(text) + len(data) > self._max_field_size:
            raise PayloadTooLarge(f"a field is larger than {self._max_field_size} bytes")
        self._texts_size += len(data)
        if self._max_fields_total is not None and self._texts_size > self._max_fields_total:
            raise PayloadTooLarge(f"the fields are larger than {self._max_fields_total} bytes in all")
        text += data

    def part_end(self) -> None:
        upload = self._upload
        if upload is not None:
            upload.finish()
            if upload.in_memory:
                self._memory_left -= upload.size
            # An empty file input: browsers send filename="" and no bytes.
            # That is "no file chosen", not a file (its safe name is "upload").
            if upload.raw_filename == "" and upload.size == 0:
                upload.close()
            else:
                self._files.append((upload.name, upload))
        self._text = self._upload = None

    def finish(self) -> FormData:
        """The body reached its closing boundary: decode the fields' text.
        Strict parsing may still refuse it; the caller aborts the uploads then."""
        strict = self._config.strict_parsing
        form_charset = next((bytes(value) for name, value, _ in self._texts if name == CHARSET_FIELD), b"")
        default = _charset(form_charset.decode("latin-1"), strict)
        fields: MultiDict[str | None] = MultiDict(
            (name, _decode(bytes(value), strict, _charset(charset, False) if charset else default))
            for name, value, charset in self._texts
        )
        return FormData(fields, MultiDict(self._files))

    def abort(self) -> None:
        for upload in self._uploads:
            upload.abort()


def _new_upload(part: PartStart, config: Config, spool_size: int) -> UploadFile:
    target = None
    if config.upload_target is not None:
        target = config.upload_target(part.name, part.filename or "", part.content_type)
    return UploadFile(
        part.name,
        part.filename,
        part.raw_filename,
        part.content_type,
        part.headers,
        charset=part.charset,
        spool_size=spool_size,
        upload_dir=config.upload_dir,
        target=target,
        digest=config.upload_digest,
    )
