"""The C allocator's settings for a long-running server (glibc only; elsewhere nothing changes).

Every TLS connection on uvloop has a 256 KiB read buffer, allocated when it opens and freed when it
closes. glibc serves an allocation of 128 KiB or more with its own `mmap` — given back whole on
`free` — until the first such block is freed: then it raises that threshold to the freed size
(up to 32 MiB) and serves the next ones from the heap. On the heap, the buffers of agents that come
and go leave 256 KiB holes that small allocations split, so every new connection's buffer needs
fresh heap: the soak's RSS rose about 1 MiB a minute with nothing leaking (`mallinfo`: in use flat,
free growing). Pinning the threshold keeps the buffers in their own mappings, returned as they close.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import sys

__all__ = ["MMAP_THRESHOLD", "pin_mmap_threshold"]

M_MMAP_THRESHOLD = -3  # glibc's mallopt parameter (malloc.h)
MMAP_THRESHOLD = 128 * 1024  # glibc's default, fixed: setting it turns the dynamic raise off


def pin_mmap_threshold(threshold: int = MMAP_THRESHOLD) -> bool:
    """Fix glibc's mmap threshold at `threshold` bytes; False where there is no glibc."""
    if not sys.platform.startswith("linux"):
        return False
    name = ctypes.util.find_library("c")
    if name is None:
        return False
    try:
        mallopt = ctypes.CDLL(name).mallopt
    except (OSError, AttributeError):  # musl has no mallopt
        return False
    mallopt.argtypes = [ctypes.c_int, ctypes.c_int]
    mallopt.restype = ctypes.c_int
    return bool(mallopt(M_MMAP_THRESHOLD, threshold))
