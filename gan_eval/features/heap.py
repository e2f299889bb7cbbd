"""Keep freed memory in the process heap while the CPU network runs (glibc's malloc only).

Each network call allocates its layer outputs afresh (44 MB for one output at 8 images).
Under glibc's default settings, blocks over the mmap threshold are mapped anew on every call
and free memory at the top of the heap goes back to the kernel, which must then zero every
page again on its first touch: about 3,300 page faults and 6-8 CPU-ms of kernel time per
image on 2 cores, 6-8% of the network's CPU time (README, "CPU extractor"). With mmap off
and a high trim threshold, malloc hands the same heap pages out again instead.

``kept()`` sets that for one extraction and afterwards gives the free memory back
(``malloc_trim``) and turns mmap on and the trim threshold down again, so a long-lived process does not keep its
peak. Setting any of these parameters switches off glibc's dynamic mmap threshold for the
process; the values left behind are the ones that rule would reach (a 32 MiB mmap threshold,
trimming above 64 MiB). Nothing happens where malloc is not glibc's, when the user has tuned
malloc through ``MALLOC_*_`` variables, or with ``GAN_EVAL_MALLOPT=0``.
"""

import contextlib
import ctypes
import ctypes.util
import functools
import os

M_TRIM_THRESHOLD, M_TOP_PAD, M_MMAP_THRESHOLD, M_MMAP_MAX = -1, -2, -3, -4
TRIM_DURING, TOP_PAD_DURING = 1 << 30, 64 << 20
# Afterwards: the dynamic rule's highest levels, glibc's default pad and mmap count.
MMAP_THRESHOLD_AFTER, TRIM_AFTER, TOP_PAD_AFTER, MMAP_MAX_AFTER = 32 << 20, 64 << 20, 128 << 10, 65536


@functools.cache
def glibc():
    """glibc's handle, or None where malloc is something else (macOS, Windows, musl)."""
    name = ctypes.util.find_library("c")
    if not name or os.name != "posix":
        return None
    try:
        lib = ctypes.CDLL(name)
        lib.gnu_get_libc_version  # glibc only
    except (OSError, AttributeError):
        return None
    return lib


def enabled():
    if os.environ.get("GAN_EVAL_MALLOPT", "1") == "0":
        return False
    if any(k.startswith("MALLOC_") and k.endswith("_") for k in os.environ):
        return False  # the user tuned malloc; leave it as they set it
    return glibc() is not None


@contextlib.contextmanager
def kept():
    """Within the block, freed memory stays in the heap for reuse; after it, the free part goes back."""
    if not enabled():
        yield
        return
    libc = glibc()
    libc.mallopt(M_MMAP_MAX, 0)  # large blocks from the heap too, where freed pages can be reused
    libc.mallopt(M_TRIM_THRESHOLD, TRIM_DURING)
    libc.mallopt(M_TOP_PAD, TOP_PAD_DURING)
    try:
        yield
    finally:
        libc.mallopt(M_MMAP_THRESHOLD, MMAP_THRESHOLD_AFTER)
        libc.mallopt(M_MMAP_MAX, MMAP_MAX_AFTER)
        libc.mallopt(M_TOP_PAD, TOP_PAD_AFTER)
        libc.mallopt(M_TRIM_THRESHOLD, TRIM_AFTER)
        libc.malloc_trim(0)
