"""Which text encodings a form may name, and decoding that never hands out
a lone surrogate.

A client names a codec in a form's `_charset_` field, a part's `charset`
and a file name's `filename*=`; Python's `codecs.lookup` would honour any
codec it has, including ones that are no text encoding at all (base64,
rot13, zlib) or that decode to lone surrogates (utf-7, unicode_escape,
raw_unicode_escape), text no str.encode("utf-8") accepts. The WHATWG
Encoding Standard's labels are the reference here: what browsers can send.

Names in, Python codec names or text out: no I/O, no parsing of headers,
and no policy on an unknown name (the caller falls back to UTF-8 or
refuses the request).
"""

from __future__ import annotations

import re

# The WHATWG Encoding Standard (encoding.spec.whatwg.org, "Encodings"):
# each encoding with its labels, as the Python codec that decodes it. As
# the standard says, the latin-1 and ASCII labels mean windows-1252 (what
# browsers really send under them), "GBK" decodes as gb18030, "Big5" as
# Big5-HKSCS, "Shift_JIS" as windows-31j (cp932) and "EUC-KR" as
# windows-949 (cp949): the supersets the standard's decoders implement.
# Left out, so unknown: "replacement" (iso-2022-kr, iso-2022-cn,
# hz-gb-2312: the standard decodes them to one U+FFFD, refusing them) and
# x-user-defined (no Python codec).
_ENCODINGS: dict[str, tuple[str, ...]] = {
    "utf-8": ("unicode-1-1-utf-8", "unicode11utf8", "unicode20utf8", "utf-8", "utf8", "x-unicode20utf8"),
    "cp866": ("866", "cp866", "csibm866", "ibm866"),
    "iso8859-2": (
        "csisolatin2", "iso-8859-2", "iso-ir-101", "iso8859-2", "iso88592", "iso_8859-2", "iso_8859-2:1987",
        "l2", "latin2",
    ),
    "iso8859-3": (
        "csisolatin3", "iso-8859-3", "iso-ir-109", "iso8859-3", "iso88593", "iso_8859-3", "iso_8859-3:1988",
        "l3", "latin3",
    ),
    "iso8859-4": (
        "csisolatin4", "iso-8859-4", "iso-ir-110", "iso8859-4", "iso88594", "iso_8859-4", "iso_8859-4:1988",
        "l4", "latin4",
    ),
    "iso8859-5": (
        "csisolatincyrillic", "cyrillic", "iso-8859-5", "iso-ir-144", "iso8859-5", "iso88595", "iso_8859-5",
        "iso_8859-5:1988",
    ),
    "iso8859-6": (
        "arabic", "asmo-708", "csiso88596e", "csiso88596i", "csisolatinarabic", "ecma-114", "iso-8859-6",
        "iso-8859-6-e", "iso-8859-6-i", "iso-ir-127", "iso8859-6", "iso88596", "iso_8859-6", "iso_8859-6:1987",
    ),
    "iso8859-7": (
        "csisolatingreek", "ecma-118", "elot_928", "greek", "greek8", "iso-8859-7", "iso-ir-126", "iso8859-7",
        "iso88597", "iso_8859-7", "iso_8859-7:1987", "sun_eu_greek",
    ),
    # ISO-8859-8 (visual) and ISO-8859-8-I (logical) differ in layout only, not in bytes.
    "iso8859-8": (
        "csiso88598e", "csisolatinhebrew", "hebrew", "iso-8859-8", "iso-8859-8-e", "iso-ir-138", "iso8859-8",
        "iso88598", "iso_8859-8", "iso_8859-8:1988", "visual", "csiso88598i", "iso-8859-8-i", "logical",
    ),
    "iso8859-10": ("csisolatin6", "iso-8859-10", "iso-ir-157", "iso8859-10", "iso885910", "l6", "latin6"),
    "iso8859-13": ("iso-8859-13", "iso8859-13", "iso885913"),
    "iso8859-14": ("iso-8859-14", "iso8859-14", "iso885914"),
    "iso8859-15": ("csisolatin9", "iso-8859-15", "iso8859-15", "iso885915", "iso_8859-15", "l9"),
    "iso8859-16": ("iso-8859-16",),
    "koi8-r": ("cskoi8r", "koi", "koi8", "koi8-r", "koi8_r"),
    "koi8-u": ("koi8-ru", "koi8-u"),
    "mac-roman": ("csmacintosh", "mac", "macintosh", "x-mac-roman"),
    "cp874": ("dos-874", "iso-8859-11", "iso8859-11", "iso885911", "tis-620", "windows-874"),
    "cp1250": ("cp1250", "windows-1250", "x-cp1250"),
    "cp1251": ("cp1251", "windows-1251", "x-cp1251"),
    "cp1252": (
        "ansi_x3.4-1968", "ascii", "cp1252", "cp819", "csisolatin1", "ibm819", "iso-8859-1", "iso-ir-100",
        "iso8859-1", "iso88591", "iso_8859-1", "iso_8859-1:1987", "l1", "latin1", "us-ascii", "windows-1252",
        "x-cp1252",
    ),
    "cp1253": ("cp1253", "windows-1253", "x-cp1253"),
    "cp1254": (
        "cp1254", "csisolatin5", "iso-8859-9", "iso-ir-148", "iso8859-9", "iso88599", "iso_8859-9",
        "iso_8859-9:1989", "l5", "latin5", "windows-1254", "x-cp1254",
    ),
    "cp1255": ("cp1255", "windows-1255", "x-cp1255"),
    "cp1256": ("cp1256", "windows-1256", "x-cp1256"),
    "cp1257": ("cp1257", "windows-1257", "x-cp1257"),
    "cp1258": ("cp1258", "windows-1258", "x-cp1258"),
    "mac-cyrillic": ("x-mac-cyrillic", "x-mac-ukrainian"),
    "gb18030": (
        "chinese", "csgb2312", "csiso58gb231280", "gb2312", "gb_2312", "gb_2312-80", "gbk", "iso-ir-58", "x-gbk",
        "gb18030",
    ),
    "big5hkscs": ("big5", "big5-hkscs", "cn-big5", "csbig5", "x-x-big5"),
    "euc_jp": ("cseucpkdfmtjapanese", "euc-jp", "x-euc-jp"),
    "iso2022_jp": ("csiso2022jp", "iso-2022-jp"),
    "cp932": ("csshiftjis", "ms932", "ms_kanji", "shift-jis", "shift_jis", "sjis", "windows-31j", "x-sjis"),
    "cp949": (
        "cseuckr", "csksc56011987", "euc-kr", "iso-ir-149", "korean", "ks_c_5601-1987", "ks_c_5601-1989",
        "ksc5601", "ksc_5601", "windows-949",
    ),
    "utf-16-be": ("unicodefffe", "utf-16be"),
    "utf-16-le": ("csunicode", "iso-10646-ucs-2", "ucs-2", "unicode", "unicodefeff", "utf-16", "utf-16le"),
}  # fmt: skip
_CODECS: dict[str, str] = {label: codec for codec, labels in _ENCODINGS.items() for label in labels}

# RFC 8187 3.2.1: an ext-value (`filename*=`) must be UTF-8 or ISO-8859-1
# as such (not windows-1252: that mapping is the browsers' for bodies).
# US-ASCII, a subset of both, is what RFC 2231's own examples use.
_EXT_VALUE_CODECS = {
    "utf-8": "utf-8",
    "iso-8859-1": "latin-1",
    "latin1": "latin-1",
    "us-ascii": "ascii",
    "ascii": "ascii",
}

_WHITESPACE = "\t\n\f\r "  # ASCII whitespace, as the standard strips it from a label


def text_codec(label: str | None) -> str | None:
    """The Python codec for a WHATWG encoding label (any case, spaces
    around it ignored), or None: no label, or no text encoding a browser
    knows (utf-7, unicode_escape, base64, rot13, idna, a NUL in the name)."""
    if not label:
        return None
    return _CODECS.get(label.strip(_WHITESPACE).lower())


def ext_value_codec(label: str) -> str | None:
    """The Python codec for an RFC 8187 ext-value's charset, or None."""
    return _EXT_VALUE_CODECS.get(label.strip(_WHITESPACE).lower())


def without_surrogates(text: str) -> str:
    """`text` with any lone surrogate replaced by U+FFFD. The table's codecs
    cannot produce one; this is the guarantee, not the usual path (whose
    pattern, costly to compile, is left to `re`'s cache until it is met)."""
    if text.isascii():
        return text
    try:
        text.encode("utf-8")  # refuses a lone surrogate, and nothing else
    except UnicodeEncodeError:
        return re.sub("[\ud800-\udfff]", "\ufffd", text)
    return text


def decode(data: bytes, codec: str) -> str:
    """`data` as text in `codec` (from this table), bad bytes as U+FFFD,
    never with a lone surrogate."""
    text = data.decode(codec, "replace")
    return text if codec == "utf-8" else without_surrogates(text)
