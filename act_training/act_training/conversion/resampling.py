"""Putting streams sampled at their own times onto the control clock, without ROS.

All times are integer nanoseconds. The control grid is t0 + k * period; each stream is
resampled onto it the way its data behaves:
- joint states: linear interpolation between the samples around the tick;
- images: the newest frame not after the tick (what a policy could have seen then);
- commanded actions: the command nearest to the tick, within half a period (the teleop
  or policy node stamps the command it sends at a tick with that tick's time).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


def control_grid(first_ns: int, last_ns: int, period_ns: int) -> np.ndarray:
    """Ticks first_ns, first_ns + period, ... up to last_ns inclusive. (T,) int64"""
    if period_ns <= 0:
        raise ValueError(f'period_ns must be > 0, got {period_ns}')
    if last_ns < first_ns:
        return np.empty(0, dtype=np.int64)
    return first_ns + period_ns * np.arange((last_ns - first_ns) // period_ns + 1, dtype=np.int64)


def interpolate(times_ns: np.ndarray, values: np.ndarray, ticks_ns: np.ndarray) -> np.ndarray:
    """Linear interpolation of (N, D) samples at (T,) ticks inside [times[0], times[-1]]. (T, D)"""
    if len(times_ns) == 0:
        raise ValueError('cannot interpolate a stream without samples')
    if len(ticks_ns) and (ticks_ns[0] < times_ns[0] or ticks_ns[-1] > times_ns[-1]):
        raise ValueError('ticks outside the sampled time range')
    t = (times_ns - times_ns[0]).astype(np.float64)
    q = (ticks_ns - times_ns[0]).astype(np.float64)
    return np.stack([np.interp(q, t, values[:, column]) for column in range(values.shape[1])], axis=1)


def newest_not_after(times_ns: np.ndarray, ticks_ns: np.ndarray) -> np.ndarray:
    """Index of the newest sample with time <= tick, -1 where there is none. (T,) int"""
    return np.searchsorted(times_ns, ticks_ns, side='right') - 1


def nearest_within(times_ns: np.ndarray, ticks_ns: np.ndarray, tolerance_ns: int) -> np.ndarray:
    """Index of the sample nearest each tick, -1 where none is within tolerance. (T,) int"""
    if len(times_ns) == 0:
        return np.full(len(ticks_ns), -1)
    right = np.clip(np.searchsorted(times_ns, ticks_ns), 0, len(times_ns) - 1)
    left = np.clip(right - 1, 0, len(times_ns) - 1)
    pick = np.where(np.abs(times_ns[left] - ticks_ns) <= np.abs(times_ns[right] - ticks_ns), left, right)
    return np.where(np.abs(times_ns[pick] - ticks_ns) <= tolerance_ns, pick, -1)


@dataclass(frozen=True)
class StreamTiming:
    """How regularly a stream arrived: for the per-episode report and the gap check."""

    topic: str
    count: int
    median_period_s: float
    max_gap_s: float
    # Messages missing judging by the median period (a gap of 3 periods = 2 missing).
    missing: int

    def summary(self) -> str:
        text = f'{self.topic}: {self.count} msgs, median period {self.median_period_s * 1e3:.1f} ms, max gap {self.max_gap_s * 1e3:.1f} ms'
        return text + (f', ~{self.missing} missing' if self.missing else '')


def stream_timing(topic: str, times_ns: np.ndarray) -> StreamTiming:
    if len(times_ns) < 2:
        return StreamTiming(topic, len(times_ns), 0.0, 0.0, 0)
    intervals = np.diff(times_ns).astype(np.float64) / 1e9
    median = float(np.median(intervals))
    missing = int(np.sum(np.maximum(np.round(intervals / median) - 1, 0))) if median > 0 else 0
    return StreamTiming(topic, len(times_ns), median, float(intervals.max()), missing)


def frame_ages_s(frame_times_ns: np.ndarray, picked: np.ndarray, ticks_ns: np.ndarray) -> np.ndarray:
    """Age of the frame used at each tick, seconds. (T,)"""
    return (ticks_ns - frame_times_ns[picked]).astype(np.float64) / 1e9
