"""builtin_interfaces Time/Duration <-> seconds and nanoseconds."""

from __future__ import annotations

NS_PER_S = 1_000_000_000


def stamp_to_ns(stamp) -> int:
    return int(stamp.sec) * NS_PER_S + int(stamp.nanosec)


def ns_to_sec_nanosec(ns: int) -> tuple[int, int]:
    """(sec, nanosec) with 0 <= nanosec < 1e9, also for negative durations."""
    sec, nanosec = divmod(int(ns), NS_PER_S)
    return sec, nanosec


def s_to_sec_nanosec(seconds: float) -> tuple[int, int]:
    return ns_to_sec_nanosec(round(seconds * NS_PER_S))
