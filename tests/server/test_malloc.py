"""`server.malloc`: with the threshold pinned, a 256 KiB block (uvloop's per-connection TLS buffer) still
gets its own mapping after a larger block was freed — without it, glibc would have moved such blocks
onto the heap, where agents coming and going fragment it (the soak's slow RSS rise). Each case runs in
a fresh interpreter: the allocator's settings are per process."""

from __future__ import annotations

import subprocess
import sys

import pytest

from tests.server.helpers import ROOT

PROBE = """
import ctypes, ctypes.util, sys
from server.malloc import pin_mmap_threshold

libc = ctypes.CDLL(ctypes.util.find_library("c"))
class MallInfo2(ctypes.Structure):
    _fields_ = [(n, ctypes.c_size_t) for n in (
        "arena", "ordblks", "smblks", "hblks", "hblkhd", "usmblks", "fsmblks", "uordblks", "fordblks",
        "keepcost")]
libc.mallinfo2.restype = MallInfo2
libc.malloc.restype, libc.malloc.argtypes = ctypes.c_void_p, [ctypes.c_size_t]
libc.free.argtypes = [ctypes.c_void_p]
if sys.argv[1] == "pinned":
    assert pin_mmap_threshold()
libc.free(libc.malloc(4 << 20))  # a freed 4 MiB mapping: glibc's dynamic threshold would rise to it
before = libc.mallinfo2().hblks
block = libc.malloc(256 * 1024)
print(libc.mallinfo2().hblks - before)
libc.free(block)
"""


def mapped_blocks(mode: str) -> int:
    done = subprocess.run(
        [sys.executable, "-c", PROBE, mode], capture_output=True, text=True, cwd=ROOT, timeout=60, check=True
    )
    return int(done.stdout)


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc's allocator")
def test_a_tls_buffer_keeps_its_own_mapping_once_pinned() -> None:
    assert mapped_blocks("default") == 0  # the control: glibc's own rule put it on the heap
    assert mapped_blocks("pinned") == 1
