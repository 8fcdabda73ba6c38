"""act_training.train.allocator: after keep_freed_memory, a large block freed and allocated
again costs no page faults (the memory stayed in the process), where glibc's default mmaps
and unmaps it each time. Run in a child process: the setting is for the whole process."""

import platform
import subprocess
import sys
import textwrap

import pytest

CHILD = textwrap.dedent('''
    import resource
    import torch
    from act_training.train.allocator import keep_freed_memory

    def faults_of_second_round():
        """Minor page faults of allocating, touching and freeing 64 MiB, the second time."""
        counts = []
        for _ in range(2):
            before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
            block = torch.empty(16 * 2 ** 20)  # 64 MiB of fp32, over glibc's largest mmap threshold (32 MiB)
            block.fill_(1.0)
            del block
            counts.append(resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before)
        return counts[1]

    torch.set_num_threads(1)
    default = faults_of_second_round()
    took = keep_freed_memory()
    faults_of_second_round()  # the heap grows once
    kept = faults_of_second_round()
    print(default, took, kept)
''')


@pytest.mark.skipif(platform.system() != 'Linux' or platform.libc_ver()[0] != 'glibc', reason='glibc malloc only')
def test_freed_memory_is_reused_without_page_faults():
    out = subprocess.run([sys.executable, '-c', CHILD], capture_output=True, text=True, check=True).stdout.split()
    default, took, kept = int(out[0]), out[1] == 'True', int(out[2])
    assert took
    # mmapped afresh each time: a fault per page, 16,384 of 4 KiB (32 where transparent huge
    # pages back it, 2 MiB each).
    assert default >= 32
    assert kept < max(default // 20, 8)


class _NoMallopt:
    """A C library without mallopt (not glibc)."""

    def __init__(self, name):
        pass


class _RefusingMallopt:
    """A C library whose mallopt refuses every setting (answers 0)."""

    def __init__(self, name):
        self.mallopt = lambda parameter, value: 0


@pytest.mark.parametrize('library', [_NoMallopt, _RefusingMallopt])
def test_keep_freed_memory_says_false_where_it_cannot_set(monkeypatch, library):
    import ctypes

    from act_training.train import allocator

    allocator.keep_freed_memory.cache_clear()
    monkeypatch.setattr(ctypes, 'CDLL', library)
    try:
        assert allocator.keep_freed_memory() is False
    finally:
        allocator.keep_freed_memory.cache_clear()
