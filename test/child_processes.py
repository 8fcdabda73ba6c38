"""Tests against node processes they started: spinning until the peer's messages are in,
and ending the processes: SIGINT first (a node shuts down cleanly on it, as under
`ros2 launch`), SIGKILL for any that has not ended in time."""

from __future__ import annotations

import signal
import subprocess
import time
from contextlib import contextmanager
from typing import Callable, Iterable, Iterator


def interrupt_all(processes: Iterable[subprocess.Popen], timeout_s: float = 30.0) -> None:
    """SIGINT to every process still running, then waits up to timeout_s for each and kills
    (and reaps) the ones that are still there."""
    processes = list(processes)
    for process in processes:
        if process.poll() is None:
            process.send_signal(signal.SIGINT)
    for process in processes:
        try:
            process.wait(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def spin_until(executor, condition: Callable[[], bool], timeout_s: float, process: subprocess.Popen) -> bool:
    """Spins `executor` until condition() holds, timeout_s passes or `process` (the peer the
    messages come from) ends; returns condition(). The first seconds go to discovery."""
    deadline = time.monotonic() + timeout_s
    while not condition() and time.monotonic() < deadline and process.poll() is None:
        executor.spin_once(timeout_sec=0.1)
    return condition()


@contextmanager
def context_beside(peer: subprocess.Popen, timeout_s: float) -> Iterator:
    """A private rclpy Context for this test's probe nodes while `peer` (the process under
    test) runs; on the way out the context shuts down and the peer is terminated (SIGTERM)
    and waited for up to timeout_s."""
    import rclpy
    from rclpy.context import Context

    context = Context()
    rclpy.init(context=context)
    try:
        yield context
    finally:
        rclpy.shutdown(context=context)
        peer.terminate()
        peer.wait(timeout=timeout_s)
