"""Timing of a running policy: control ticks (lateness, missed deadlines) and inference.

The control timer is scheduled at t0 + k * period. A callback that runs at `now` serves the
newest scheduled tick k = floor((now - t0) / period); its lateness is now - (t0 + k * period),
always less than one period. When a callback comes so late that a whole period passed,
the ticks in between never ran: each of those counts as a deadline miss (a tick that would
have started more than one period late). Under sim time the clock advances in whole
periods, so lateness is 0 and a miss is a /clock tick the node did not serve.
"""

from __future__ import annotations

import math
import threading
from collections import deque
from dataclasses import dataclass

import numpy as np

# Samples kept for percentiles: at 50 Hz, the last 100 s of ticks.
DEFAULT_WINDOW = 5000
# A timer callback may wake this early relative to our own notion of t0 (the timer's base
# time is taken a few microseconds apart from ours).
TICK_TOLERANCE_NS = 1_000_000


class RollingStats:
    """Count, mean and max since reset, percentiles over the last `window` samples."""

    def __init__(self, window: int = DEFAULT_WINDOW):
        self._recent: deque[float] = deque(maxlen=window)
        self.count = 0
        self.total = 0.0
        self.maximum = -math.inf
        self.last = math.nan

    def add(self, value: float) -> None:
        value = float(value)
        self._recent.append(value)
        self.count += 1
        self.total += value
        self.maximum = max(self.maximum, value)
        self.last = value

    @property
    def mean(self) -> float:
        return self.total / self.count if self.count else math.nan

    def percentile(self, q: float) -> float:
        return float(np.percentile(np.asarray(self._recent), q)) if self._recent else math.nan

    def summary(self, scale: float = 1.0) -> dict[str, float]:
        """count, mean, p50, p99, max (values multiplied by `scale`, e.g. 1e3 for ms)."""
        return {
            'count': self.count,
            'mean': self.mean * scale,
            'p50': self.percentile(50) * scale,
            'p99': self.percentile(99) * scale,
            'max': (self.maximum if self.count else math.nan) * scale,
        }


@dataclass(frozen=True)
class TickTiming:
    tick: int  # index of the served tick since start
    tick_ns: int  # its nominal time t0 + tick * period
    lateness_ns: int
    missed: int  # ticks skipped since the previous callback


class TickClock:
    """Assigns timer callbacks to nominal ticks and counts the missed ones."""

    def __init__(self, period_ns: int):
        if period_ns <= 0:
            raise ValueError(f'control period must be > 0 ns, got {period_ns}')
        self.period_ns = int(period_ns)
        self.t0_ns: int | None = None
        self._last_tick = -1

    def start(self, t0_ns: int) -> None:
        """Tick 0 is at t0_ns (the moment the timer was (re)started)."""
        self.t0_ns = int(t0_ns)
        self._last_tick = -1

    def serve(self, now_ns: int) -> TickTiming:
        if self.t0_ns is None:
            raise RuntimeError('TickClock.serve before start')
        tick = max(0, (now_ns - self.t0_ns + TICK_TOLERANCE_NS) // self.period_ns)
        tick_ns = self.t0_ns + tick * self.period_ns
        # A first callback at tick k > 0 is normal (timers fire one period after the start).
        missed = max(0, tick - self._last_tick - 1) if self._last_tick >= 0 else 0
        self._last_tick = max(self._last_tick, tick)
        return TickTiming(tick=tick, tick_ns=tick_ns, lateness_ns=max(0, now_ns - tick_ns), missed=missed)


class PolicyTimingStats:
    """Everything PolicyStatus and `act eval` report about timing; thread-safe."""

    def __init__(self, window: int = DEFAULT_WINDOW):
        self._lock = threading.Lock()
        self._window = window
        self.reset()

    def reset(self) -> None:
        with self._lock:
            self.ticks = 0
            self.deadline_misses = 0
            self.held_ticks = 0
            self.chunks_computed = 0
            # Chunks of an earlier activation, or from an observation older than this one's
            # start, that arrived and were dropped (control_loop.stale_chunk_reason).
            self.stale_chunks_dropped = 0
            self.tick_lateness_s = RollingStats(self._window)
            self.tick_duration_s = RollingStats(self._window)
            self.inference_latency_s = RollingStats(self._window)
            # Image stamp -> the first published command that used the chunk from it.
            self.observation_to_command_s = RollingStats(self._window)
            self.ensemble_depth = RollingStats(self._window)
            # Held ticks by the kind of reason (the reason's text before the first colon).
            self.hold_reasons: dict[str, int] = {}

    def record_tick(self, timing: TickTiming, duration_s: float, held: bool, depth: int, reason: str = '') -> None:
        with self._lock:
            self.ticks += 1
            self.deadline_misses += timing.missed
            self.held_ticks += int(held)
            if held:
                kind = reason.split(':', 1)[0]
                self.hold_reasons[kind] = self.hold_reasons.get(kind, 0) + 1
            self.tick_lateness_s.add(timing.lateness_ns * 1e-9)
            self.tick_duration_s.add(duration_s)
            if not held:
                self.ensemble_depth.add(depth)

    def record_chunk(self, inference_latency_s: float) -> None:
        with self._lock:
            self.chunks_computed += 1
            self.inference_latency_s.add(inference_latency_s)

    def record_stale_chunk(self) -> None:
        with self._lock:
            self.stale_chunks_dropped += 1

    def record_first_use(self, observation_to_command_s: float) -> None:
        with self._lock:
            self.observation_to_command_s.add(observation_to_command_s)

    @property
    def missed_fraction(self) -> float:
        """Missed ticks over scheduled ticks (served + missed)."""
        scheduled = self.ticks + self.deadline_misses
        return self.deadline_misses / scheduled if scheduled else 0.0

    def report(self) -> dict:
        """A JSON-ready summary (milliseconds for durations)."""
        with self._lock:
            return {
                'ticks': self.ticks,
                'deadline_misses': self.deadline_misses,
                'missed_fraction': self.missed_fraction,
                'held_ticks': self.held_ticks,
                'hold_reasons': dict(self.hold_reasons),
                'chunks_computed': self.chunks_computed,
                'stale_chunks_dropped': self.stale_chunks_dropped,
                'tick_lateness_ms': self.tick_lateness_s.summary(1e3),
                'tick_duration_ms': self.tick_duration_s.summary(1e3),
                'inference_latency_ms': self.inference_latency_s.summary(1e3),
                'observation_to_command_ms': self.observation_to_command_s.summary(1e3),
                'ensemble_depth': self.ensemble_depth.summary(),
            }

