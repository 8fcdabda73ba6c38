"""Waiting in test harnesses whose callbacks store messages under a threading.Condition."""

from __future__ import annotations

import threading
import time
from typing import Callable


def wait_until(lock: threading.Condition, condition: Callable[[], bool], timeout_s: float) -> bool:
    """Waits on `lock` until condition() holds; False when timeout_s passes first. The
    condition is re-checked at least every 0.1 s, also without a notify (it may depend on
    time)."""
    deadline = time.monotonic() + timeout_s
    with lock:
        while not condition():
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return False
            lock.wait(timeout=min(remaining, 0.1))
        return True
