"""The C allocator's settings for a CPU training process: freed memory is kept for the next
step instead of going back to the operating system.

Why: glibc's malloc serves every block over its mmap threshold (at most 32 MiB on 64-bit
Linux) with a fresh mmap and unmaps it on free. A paper-config training step (batch 8,
480x640) allocates its largest activations and their gradients, 157 MB each at the stem
(8 x 64 x 240 x 320 fp32), anew at every step, and the kernel zeroes every 4 KiB page of
them at first touch. Measured on the AVX512-BF16 AMD EPYC (family 25 model 17, 2 threads;
scratch scripts, their output in bench/results/training_scratch_epyc_avx512bf16_model17.txt):
91,820-104,350 page faults a step before, 0-3 after (a later check saw up to 2,797 in a step:
a freed block is not always reused at the next request: torch asks for 64-byte-aligned memory
and glibc 2.36's posix_memalign needs size + alignment + a minimum chunk from one free block, so
in test_training_allocator.py's 64 MiB rounds the heap grows a few times until freed neighbours
have merged, likely the same here); `torch.zeros` of the stem's size 55 ms,
5.3 ms with the memory kept. With mmap off (M_MMAP_MAX = 0) blocks come from the heap, and
with trimming off (M_TRIM_THRESHOLD = -1, mallopt(3): "disables trimming completely") the heap
keeps what a step freed; the next step's blocks of the same sizes reuse it.

What it costs and where it reaches:
- Resident memory stays at the process's peak from then on (data preparation and checkpoint
  writes included), where it used to fall back between steps.
- It holds for the main thread's heap, where the training loop allocates. A thread other than
  the main one still gets a request larger than its own heap (64 MiB) by mmap; processes forked
  afterwards (data-loader workers) inherit the setting.
- bench/bench_act_vs_lerobot.py's training rows and bench/bench_roofline.py's training step
  run with it, as the trainer does; LeRobot's side runs with glibc's defaults, which any
  PyTorch process can change the same way (MALLOC_MMAP_MAX_=0 MALLOC_TRIM_THRESHOLD_=-1 in
  its environment).
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
# mallopt(M_TRIM_THRESHOLD, -1) turns trimming off (glibc stores it as SIZE_MAX).
_NEVER_TRIM = -1


def _glibc_function(name: str):
    """The C library's function `name` through ctypes, or None where no C library is found or
    it has no such function (not glibc)."""
    library = ctypes.util.find_library('c')
    try:
        return getattr(ctypes.CDLL(library), name)
    except (OSError, AttributeError, TypeError):
        log.debug('no %s in the C library (%s)', name, library)
        return None


def release_freed_memory() -> bool:
    """Hands the heap's freed memory back to the system now (glibc's malloc_trim(0)), for
    measuring resident memory. Returns False where there is no malloc_trim to call."""
    malloc_trim = _glibc_function('malloc_trim')
    if malloc_trim is None:
        return False
    malloc_trim(0)  # 1 if it released memory, 0 if there was none to release
    return True


@functools.cache
def keep_freed_memory() -> bool:
    """Sets glibc's malloc, from now on, to serve large blocks from its heap and keep freed
    memory there (module docstring). Returns True where both settings took effect; False
    where the C library is not glibc (no mallopt: nothing changes) or refused a setting (the
    trim threshold may then be set while mmap stays on). Blocks allocated before the call keep
    how they were made. Once per process (cached)."""
    mallopt = _glibc_function('mallopt')
    if mallopt is None:  # the allocator keeps its defaults
        return False
    mallopt.argtypes = (ctypes.c_int, ctypes.c_int)
    mallopt.restype = ctypes.c_int
    # mallopt returns 1 on success. Trim first: with mmap off and trimming on, freed blocks
    # at the heap's top would still go back to the system.
    if mallopt(M_TRIM_THRESHOLD, _NEVER_TRIM) != 1:
        return False
    return mallopt(M_MMAP_MAX, 0) == 1
