"""Keep freed memory in the process: glibc's malloc tuned for a training loop on a CPU.

Every training step frees and allocates again the same large blocks (activations, gradients,
the optimiser's temporaries: megabytes each for a CNN's deeper layers). glibc serves blocks
above its mmap threshold (128 KiB, raised dynamically up to 32 MiB) with a fresh ``mmap`` and
returns them with ``munmap`` when freed, so each step page-faults its memory in again and the
kernel zeroes every page: on paper-size inputs (3x64x64, batch 256) an epoch faulted
130,000-170,000 pages in and took 25-40 % longer than with this change (a quick check on this
project's 2-core machine, not a committed benchmark); on the default's 8x8 digits, whose CNNs
allocate little once their kernels are trimmed (gsos.training.model), it made no measurable
difference. Raising the mmap and trim thresholds keeps freed blocks in the heap for the next
step. The arithmetic is untouched; a process keeps up to its peak use instead of
handing memory back between steps. A no-op where the C library is not glibc (macOS, musl).
"""

from __future__ import annotations

import ctypes
import ctypes.util
import functools

M_TRIM_THRESHOLD = -1  # glibc's mallopt parameters (malloc.h)
M_MMAP_THRESHOLD = -3
KEEP_BYTES = 1 << 30  # blocks up to 1 GiB come from the heap; up to 1 GiB free kept in it


@functools.cache
def keep_freed_memory() -> bool:
    """Tune this process's malloc once (see the module's docstring); whether it took."""
    name = ctypes.util.find_library("c")
    if name is None:
        return False
    try:
        libc = ctypes.CDLL(name)
        mallopt = libc.mallopt
        if not hasattr(libc, "gnu_get_libc_version"):
            return False
    except (OSError, AttributeError):
        return False
    mallopt.argtypes, mallopt.restype = [ctypes.c_int, ctypes.c_int], ctypes.c_int
    return bool(mallopt(M_MMAP_THRESHOLD, KEEP_BYTES) and mallopt(M_TRIM_THRESHOLD, KEEP_BYTES))
