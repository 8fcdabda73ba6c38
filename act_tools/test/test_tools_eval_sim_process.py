"""The evaluation's sim_node process ends with the `act eval` that started it, however that ends."""

import os
import signal
import subprocess
import sys
import time

import pytest

# A parent that starts a long-running child the way SimProcess starts sim_node, prints the
# child's pid, and waits.
PARENT = '''
import subprocess, sys, time
from act_tools.evaluation.sim_process import _end_with_parent
child = subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(120)'], preexec_fn=_end_with_parent)
print(child.pid, flush=True)
time.sleep(120)
'''


def _alive(pid: int) -> bool:
    try:
        with open(f'/proc/{pid}/stat') as stat:
            return stat.read().split(')')[-1].split()[0] != 'Z'  # a zombie has ended
    except FileNotFoundError:
        return False


@pytest.mark.skipif(not sys.platform.startswith('linux'), reason='the parent-death signal is Linux only')
@pytest.mark.timeout(60)
def test_a_killed_parent_takes_its_sim_process_with_it():
    parent = subprocess.Popen([sys.executable, '-c', PARENT], stdout=subprocess.PIPE, text=True)
    child_pid = int(parent.stdout.readline())
    assert _alive(child_pid)
    os.kill(parent.pid, signal.SIGKILL)  # no finally block, no close(): only the kernel can act
    parent.wait()
    deadline = time.monotonic() + 10
    while _alive(child_pid) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not _alive(child_pid), 'the child outlived its killed parent'
