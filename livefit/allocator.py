"""Host-memory allocator settings for long CPU jobs (used by the training loop, ``fit``).

glibc serves every block above its mmap threshold (128 KiB at start, raised on the fly up to
32 MiB) with a fresh ``mmap`` and returns it with ``munmap`` when freed, and it trims the heap top
back to the OS. A training step frees and re-allocates the same few-MiB activation buffers every
step, so each step page-faults them in again: on the 2-core box that was a quarter to a third of
a stage-1 step (``benchmarks/train_step.py`` measures the ratio: 1.36-1.47x).
``keep_freed_memory`` fixes the threshold at 32 MiB and the trim threshold at 1 GiB, so freed
buffers stay in the process and are reused.
Peak memory is unchanged; memory freed at the end of a job is kept until the process exits.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import sys

_M_TRIM_THRESHOLD = -1  # glibc <malloc.h>
_M_MMAP_THRESHOLD = -3
MMAP_THRESHOLD = 32 << 20  # glibc's upper bound for the dynamic threshold (64-bit)
TRIM_THRESHOLD = 1 << 30

_applied = False


def keep_freed_memory() -> bool:
    """Apply the settings above to this process (glibc on Linux; elsewhere a no-op).

    Returns whether they are in effect. Safe to call more than once.
    """
    global _applied
    if _applied:
        return True
    if not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        mallopt = libc.mallopt
    except (OSError, AttributeError):  # musl and other C libraries have no mallopt
        return False
    mallopt.argtypes, mallopt.restype = [ctypes.c_int, ctypes.c_int], ctypes.c_int
    _applied = bool(mallopt(_M_MMAP_THRESHOLD, MMAP_THRESHOLD)) and bool(
        mallopt(_M_TRIM_THRESHOLD, TRIM_THRESHOLD)
    )
    return _applied
