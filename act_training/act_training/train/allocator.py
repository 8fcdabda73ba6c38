"""The C allocator's settings for a CPU training process: freed memory is kept for the next
step instead of going back to the operating system.

Why: glibc's malloc serves every block over its mmap threshold (at most 32 MiB on 64-bit
Linux) with a fresh mmap and unmaps it on free. A paper-config training step (batch 8,
480x640) allocates its largest activations and their gradients, 157 MB each at the stem
(8 x 64 x 240 x 320 fp32), anew at every step, and the kernel zeroes every 4 KiB page of
them at first touch. Measured on the AVX512-BF16 AMD EPYC (family 25 model 17, 2 threads):
`torch.zeros` of that size took 55 ms, 5.3 ms with the memory kept; a ReLU over it 54 ms
against 10. With mmap off (M_MMAP_MAX = 0) every block comes from the heap, and with the
trim threshold at its largest the heap keeps what a step freed; the next step's blocks of
the same sizes reuse it. Resident memory then stays at the step's peak between steps,
where it used to fall back (bench/bench_act_vs_lerobot.py's training rows and
bench/bench_roofline.py's training step run with it, as the trainer does).
"""

from __future__ import annotations

import ctypes
import ctypes.util
import functools
import logging

log = logging.getLogger(__name__)

# mallopt's parameter numbers (glibc's malloc.h).
M_TRIM_THRESHOLD = -1
M_MMAP_MAX = -4
# The largest trim threshold mallopt takes (an int): the heap is never trimmed in practice.
_NEVER_TRIM = 2 ** 31 - 1


@functools.cache
def keep_freed_memory() -> bool:
    """Sets glibc's malloc, for the whole process and from now on, to serve large blocks
    from its heap and keep freed memory there (module docstring). Returns True where it
    took effect; False where the C library is not glibc (no mallopt) or refused a setting,
    and then nothing changes. Blocks allocated before the call keep how they were made.
    Once per process (cached)."""
    name = ctypes.util.find_library('c')
    try:
        libc = ctypes.CDLL(name)
        mallopt = libc.mallopt
    except (OSError, AttributeError, TypeError):  # no C library found, or not glibc's
        log.debug('no mallopt in the C library (%s): the allocator keeps its defaults', name)
        return False
    mallopt.argtypes = (ctypes.c_int, ctypes.c_int)
    mallopt.restype = ctypes.c_int
    # mallopt returns 1 on success. Trim first: a refused trim threshold leaves mmap on.
    if mallopt(M_TRIM_THRESHOLD, _NEVER_TRIM) != 1:
        return False
    return mallopt(M_MMAP_MAX, 0) == 1
