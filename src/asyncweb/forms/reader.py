"""Reading a form body as it streams in: urlencoded or multipart.

`read_form` consumes the body chunk by chunk, feeding the sans-I/O parsers
(`query.QueryParser`, `multipart.MultipartDecoder`), enforcing every limit
as the bytes arrive (413 at once, nothing more read), and leaving nothing
behind when it fails: partial files are closed and removed.
"""

from __future__ import annotations

import codecs
from collections.abc import AsyncIterator

from .._config import Config
from ..errors import BadRequest, PayloadTooLarge
from ..multidict import MultiDict
from ..query import QueryParser, RawPair, decode_text
from .uploads import UploadFile

TYPE_CHECKING = False
if TYPE_CHECKING:
    from .multipart import PartStart

URLENCODED = "application/x-www-form-urlencoded"
MULTIPART = "multipart/form-data"
CHARSET_FIELD = "_charset_"


def form_type(content_type: str | None) -> str | None:
    """URLENCODED or MULTIPART for a form body's Content-Type, else None."""
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


def _charset(declared: str | None, strict: bool) -> str:
    """A charset name Python knows: `declared` if it is one, else UTF-8.
    Codecs that are no text encoding (base64, rot13, zlib) or cannot replace
    what they fail to decode (idna, punycode) count as unknown."""
    if declared:
        try:
            name = codecs.lookup(declared).name
            b"\x80\xff".decode(name, "replace")
            return name
        except (LookupError, ValueError):  # ValueError: a NUL in the name; UnicodeError: no "replace"
            if strict:
                raise BadRequest(f"unknown charset {declared!r}") from None
    return "utf-8"


async def read_form(chunks: AsyncIterator[bytes], content_type: str, config: Config) -> FormData:
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
            raise PayloadTooLarge(f"the fields are larger than {limits.max_fields_total} bytes in all")
        raw += parser.feed(chunk)
    raw += parser.close()
    charset_field = CHARSET_FIELD.encode()
    charset = next((value for name, value in raw if name == charset_field and value), None)
    encoding = _charset(charset.decode("latin-1") if charset else None, config.strict_parsing)
    strict = config.strict_parsing
    return FormData(
        MultiDict(
            (decode_text(name, strict, encoding), None if value is None else decode_text(value, strict, encoding))
            for name, value in raw
        ),
        MultiDict(),
    )


async def _read_multipart(chunks: AsyncIterator[bytes], content_type: str, config: Config) -> FormData:
    # python-multipart is imported on the first multipart body, not by every
    # process that imports asyncweb (a CGI request pays for each import).
    from .multipart import MultipartDecoder, PartData, PartEnd, PartStart, boundary_of

    limits = config.limits
    decoder = MultipartDecoder(boundary_of(content_type), limits.max_part_header_size, limits.max_part_headers)
    texts: list[tuple[str, bytearray, str | None]] = []
    uploads: list[UploadFile] = []
    files: list[tuple[str, UploadFile]] = []
    text: bytearray | None = None
    texts_size = 0
    # `spool_size` bounds the memory the files of one request take together:
    # each new file may stay in memory only as far as the others left room.
    memory_left = config.spool_size
    upload: UploadFile | None = None
    try:
        async for chunk in chunks:
            for event in decoder.feed(chunk):
                if isinstance(event, PartData):
                    if upload is not None:
                        if limits.max_file_size is not None and upload.size + len(event.data) > limits.max_file_size:
                            raise PayloadTooLarge(f"a file is larger than {limits.max_file_size} bytes")
                        upload.write(event.data)
                    elif text is not None:
                        if len(text) + len(event.data) > limits.max_field_size:
                            raise PayloadTooLarge(f"a field is larger than {limits.max_field_size} bytes")
                        texts_size += len(event.data)
                        if limits.max_fields_total is not None and texts_size > limits.max_fields_total:
                            raise PayloadTooLarge(f"the fields are larger than {limits.max_fields_total} bytes in all")
                        text += event.data
                elif isinstance(event, PartStart):
                    if event.filename is None:
                        if len(texts) >= limits.max_fields:
                            raise PayloadTooLarge(f"more than {limits.max_fields} fields")
                        text = bytearray()
                        texts.append((event.name, text, event.charset))
                    else:
                        if len(uploads) >= limits.max_files:
                            raise PayloadTooLarge(f"more than {limits.max_files} files")
                        upload = _new_upload(event, config, memory_left)
                        uploads.append(upload)
                elif isinstance(event, PartEnd):
                    if upload is not None:
                        upload.finish()
                        if upload.in_memory:
                            memory_left -= upload.size
                        # An empty file input: browsers send filename="" and
                        # no bytes. That is "no file chosen", not a file.
                        if upload.filename == "" and upload.size == 0:
                            upload.close()
                        else:
                            files.append((upload.name, upload))
                    text = upload = None
        decoder.close()
        # Strict parsing may still refuse the text: the uploads go too then.
        form_charset = next((bytes(value) for name, value, _ in texts if name == CHARSET_FIELD), b"")
        default = _charset(form_charset.decode("latin-1"), config.strict_parsing)
        fields: MultiDict[str | None] = MultiDict(
            (name, decode_text(bytes(value), config.strict_parsing, _charset(charset, False) if charset else default))
            for name, value, charset in texts
        )
    except BaseException:
        for each in uploads:
            each.abort()
        raise
    return FormData(fields, MultiDict(files))


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
    )
