"""``livefit.allocator.keep_freed_memory``: mid-size blocks come from the heap, not from mmap."""

import ctypes
import ctypes.util
import json
import subprocess
import sys

import pytest

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc only")

# Run in a fresh process: the settings are process-wide and the check reads glibc's counters.
PROBE = r"""
import ctypes, ctypes.util, json, sys

class MallInfo2(ctypes.Structure):
    _fields_ = [(name, ctypes.c_size_t) for name in (
        "arena ordblks smblks hblks hblkhd usmblks fsmblks uordblks fordblks keepcost".split())]

libc = ctypes.CDLL(ctypes.util.find_library("c"))
libc.malloc.restype, libc.malloc.argtypes = ctypes.c_void_p, [ctypes.c_size_t]
libc.free.argtypes = [ctypes.c_void_p]
libc.mallinfo2.restype = MallInfo2

def mmapped_blocks(size):
    before = libc.mallinfo2().hblks
    block = libc.malloc(size)
    during = libc.mallinfo2().hblks
    libc.free(block)
    return during - before

applied = None
if sys.argv[1] == "kept":
    from livefit.allocator import keep_freed_memory
    applied = [keep_freed_memory(), keep_freed_memory()]
print(json.dumps({"applied": applied, "4MiB": mmapped_blocks(4 << 20),
                  "64MiB": mmapped_blocks(64 << 20)}))
"""


def probe(mode: str) -> dict:
    done = subprocess.run(
        [sys.executable, "-c", PROBE, mode], check=True, capture_output=True, text=True
    )
    return json.loads(done.stdout)


def test_keep_freed_memory_serves_mid_size_blocks_from_the_heap():
    libc = ctypes.CDLL(ctypes.util.find_library("c"))
    if not hasattr(libc, "mallinfo2"):
        pytest.skip("glibc < 2.33: no mallinfo2")
    default, kept = probe("default"), probe("kept")
    assert default["4MiB"] == 1  # glibc's default: a fresh 4 MiB block is an mmap
    assert kept["applied"] == [True, True]  # applied, and a second call is harmless
    assert kept["4MiB"] == 0  # now from the heap, reused after free
    assert kept["64MiB"] == 1  # above the fixed 32 MiB threshold: still mmap
