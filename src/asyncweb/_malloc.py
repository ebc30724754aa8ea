"""glibc malloc settings for a server process that handles large bodies.

ASGI servers hand an app each body chunk as a fresh bytes object of about
256 KiB (uvicorn over loopback) and free it soon after. With glibc's
default, dynamic thresholds, every such chunk is carved from the top of the
heap and trimmed back on free, so each one page-faults in anew, page by
page. Serving chunks of up to 4 MiB
from the heap, with 4 MiB of top padding kept, removes them (see
benchmarks/upload.py). Both settings are needed: setting either one alone
turns the dynamic threshold off and makes 256 KiB chunks mmap'ed anew.
"""

from __future__ import annotations

import os

_M_TOP_PAD = -2
_M_MMAP_THRESHOLD = -3
PAD = 4 * 1024 * 1024


def _is_glibc() -> bool:
    try:
        return os.confstr("CS_GNU_LIBC_VERSION") is not None
    except (ValueError, OSError, AttributeError):
        return False


def tune_malloc(pad: int = PAD) -> bool:
    """Apply the settings to this process. False where libc is not glibc,
    and in a CGI process, which serves one request and exits."""
    if "GATEWAY_INTERFACE" in os.environ or not _is_glibc():
        return False
    import ctypes

    try:
        libc = ctypes.CDLL("libc.so.6")
        return bool(libc.mallopt(_M_MMAP_THRESHOLD, pad)) and bool(libc.mallopt(_M_TOP_PAD, pad))
    except (OSError, AttributeError):
        return False
