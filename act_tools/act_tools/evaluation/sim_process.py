"""sim_node in its own process for an evaluation, as a real robot's drivers would run.
"""

from __future__ import annotations

import ctypes
import os
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any, Mapping

from act_tools.evaluation.config import EvalError


# prctl(2) option: the signal the kernel sends a process when its parent ends (Linux).
_PR_SET_PDEATHSIG = 1


def _end_with_parent() -> None:
    """Runs in the child between fork and exec: SIGTERM when the parent ends, whichever way
    (SIGKILL, a crash), so that an `act eval` stopped with kill leaves no sim_node behind
    (one did, spinning at 67 % of a core). Linux only; elsewhere close() alone ends it."""
    if sys.platform.startswith('linux'):
        ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, int(signal.SIGTERM), 0, 0, 0)


class SimProcess:
    """`sim_node` in its own process with launch-style parameters; its output goes to a log."""

    def __init__(self, parameters: Mapping[str, Any], log_path: Path):
        from ament_index_python.packages import get_package_prefix

        from act_common.node_set import NodeSpec, ros_arguments
        from act_tools.paths import node_params_path

        executable = Path(get_package_prefix('act_sim')) / 'lib' / 'act_sim' / 'sim_node'
        arguments = ros_arguments(NodeSpec(node_class=None, params_file=node_params_path('sim'), overrides=parameters))
        log_path.parent.mkdir(parents=True, exist_ok=True)
        self.log_path = log_path
        self._log = open(log_path, 'w')
        # The kernel sends the death signal when the *thread* that started the child ends:
        # make a SimProcess on a thread that outlives it (act eval and act demo: the main one).
        self.process = subprocess.Popen([str(executable), *arguments], stdout=self._log, stderr=subprocess.STDOUT,
                                        env={**os.environ, 'PYTHONUNBUFFERED': '1'}, preexec_fn=_end_with_parent)

    def check_alive(self) -> None:
        if self.process.poll() is not None:
            tail = self.log_path.read_text()[-2000:]
            raise EvalError(f'sim_node exited with code {self.process.returncode}; its log ({self.log_path}) ends:\n{tail}')

    def close(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self._log.close()
