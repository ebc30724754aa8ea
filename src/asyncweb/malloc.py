"""glibc malloc settings for a server process that handles large bodies.

ASGI servers hand an app each body chunk as a fresh bytes object of about
256 KiB (uvicorn over loopback) and free it soon after. With glibc's
default, dynamic thresholds, every such chunk is carved from the top of the
heap and trimmed back on free, so each one page-faults in anew: about
100,000 minor faults per 256 MiB uploaded. Serving chunks of up to 4 MiB
from the heap, with 4 MiB of top padding kept, removes them (see
benchmarks/upload.py). Both settings are needed: setting either one alone
turns the dynamic threshold off and makes 256 KiB chunks mmap'ed anew.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import platform

_M_TOP_PAD = -2
_M_MMAP_THRESHOLD = -3
PAD = 4 * 1024 * 1024


def tune_malloc(pad: int = PAD) -> bool:
    """Apply the settings to this process; False where libc is not glibc."""
    if platform.libc_ver()[0] != "glibc":
        return False
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        return bool(libc.mallopt(_M_MMAP_THRESHOLD, pad)) and bool(libc.mallopt(_M_TOP_PAD, pad))
    except (OSError, AttributeError):
        return False
