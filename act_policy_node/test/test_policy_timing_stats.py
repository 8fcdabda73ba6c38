"""Tick accounting: lateness within a period, skipped periods counted as deadline misses."""

import math

import pytest

from act_policy_node.timing_stats import PolicyTimingStats, RollingStats, TickClock

PERIOD = 20_000_000


def test_ticks_lateness_and_misses():
    clock = TickClock(PERIOD)
    clock.start(1_000_000_000)
    first = clock.serve(1_000_000_000 + PERIOD + 300_000)  # tick 1, 0.3 ms late
    assert (first.tick, first.lateness_ns, first.missed) == (1, 300_000, 0)
    on_time = clock.serve(1_000_000_000 + 2 * PERIOD)
    assert (on_time.tick, on_time.lateness_ns, on_time.missed) == (2, 0, 0)
    # Ticks 3 and 4 never ran; the callback at 5.5 periods serves tick 5, 10 ms late.
    late = clock.serve(1_000_000_000 + 5 * PERIOD + 10_000_000)
    assert (late.tick, late.tick_ns, late.lateness_ns, late.missed) == (5, 1_000_000_000 + 5 * PERIOD, 10_000_000, 2)
    # A timer that wakes a hair before our t0-based tick time still serves that tick.
    early = clock.serve(1_000_000_000 + 6 * PERIOD - 5_000)
    assert (early.tick, early.missed) == (6, 0)


def test_policy_stats_report():
    clock = TickClock(PERIOD)
    clock.start(0)
    stats = PolicyTimingStats()
    for now in (PERIOD, 2 * PERIOD, 5 * PERIOD):
        stats.record_tick(clock.serve(now), duration_s=0.001, held=now == PERIOD, depth=3, reason='stale observation: /cam')
    stats.record_chunk(0.12)
    stats.record_first_use(0.13)
    report = stats.report()
    assert report['ticks'] == 3 and report['deadline_misses'] == 2 and report['held_ticks'] == 1
    assert report['hold_reasons'] == {'stale observation': 1}
    assert report['missed_fraction'] == pytest.approx(2 / 5)
    assert report['inference_latency_ms']['mean'] == pytest.approx(120.0)
    assert report['observation_to_command_ms']['max'] == pytest.approx(130.0)
    assert report['ensemble_depth']['mean'] == 3
    stats.reset()
    assert stats.report()['ticks'] == 0


def test_rolling_stats():
    stats = RollingStats(window=3)
    assert math.isnan(stats.mean) and math.isnan(stats.percentile(50))
    for value in (1.0, 2.0, 3.0, 10.0):
        stats.add(value)
    assert stats.count == 4 and stats.mean == 4.0 and stats.maximum == 10.0
    assert stats.percentile(50) == 3.0  # window holds 2, 3, 10
