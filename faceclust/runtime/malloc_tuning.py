"""glibc's allocator: set for the network's large temporary arrays, in each worker process,
and asked to hand back what a large load freed.

The convolutions build patch matrices of up to 16 MB block by block (faces/dlib_format.py). glibc
serves such blocks from the heap, reused from one block to the next, only while its mmap
threshold has grown past them (it grows on its own, to 32 MB at most). Setting
``MALLOC_TRIM_THRESHOLD_`` in the environment freezes that threshold at 128 KB: every block is
then a fresh mmap whose pages fault in one by one. Dask's nanny sets exactly that variable
(65536) for its workers, and in the process that starts them, and it made encoding twice as
slow there (bench/cluster_overhead.py). Workers therefore fix both thresholds themselves.
"""

from __future__ import annotations

import ctypes
import ctypes.util

M_TRIM_THRESHOLD = -1
M_MMAP_THRESHOLD = -3
MMAP_THRESHOLD = 32 * 1024 * 1024  # the most the dynamic threshold reaches on its own
TRIM_THRESHOLD = 2 * MMAP_THRESHOLD  # glibc's own ratio for the dynamic threshold

_done = False


def _glibc_function(name: str):
    """The C library's function ``name``, or None where there is no such C library (glibc's
    allocator functions: not on macOS, Windows or musl)."""
    try:
        return getattr(ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6"), name)
    except (OSError, AttributeError):
        return None


def keep_large_blocks_on_the_heap() -> bool:
    """Set glibc's mmap and trim thresholds for this process; False where there is no glibc."""
    global _done
    if _done:
        return True
    mallopt = _glibc_function("mallopt")
    if mallopt is None:
        return False
    mallopt.argtypes = [ctypes.c_int, ctypes.c_int]
    _done = bool(mallopt(M_MMAP_THRESHOLD, MMAP_THRESHOLD)) and bool(
        mallopt(M_TRIM_THRESHOLD, TRIM_THRESHOLD)
    )
    return _done


def return_free_memory() -> bool:
    """Hand the free pages inside glibc's heap back to the system (``malloc_trim``); False
    where there is no glibc.

    Freed memory in the middle of the heap stays with the process: reading the tutorial's
    pickle of a million faces freed a million small arrays (the vectors, then copied into one
    matrix), and the process kept 2.4 GB where 1.3 GB were in use (0.09 s to hand back). A
    forked child (beside.py) then copied those pages as either side wrote into them.
    """
    trim = _glibc_function("malloc_trim")
    if trim is None:
        return False
    trim.argtypes = [ctypes.c_size_t]
    trim(0)
    return True
