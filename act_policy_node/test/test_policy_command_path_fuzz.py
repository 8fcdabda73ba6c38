"""Property-based tests of the command path (test/command_path_fuzz.py has the harness and
the rules): generated sensor sequences, model outputs and inference delays never make a
command unsafe, and every hold says why. A fixed, seeded budget runs in CI;
bench/bench_fuzz_command_path.py runs a larger one."""

import pytest
from hypothesis import HealthCheck, given, seed, settings

from command_path_fuzz import SOURCES, Counts, Scenario, run_scenario, scenarios

CI_SETTINGS = settings(max_examples=100, derandomize=True, deadline=None, database=None,
                       suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
TOTALS = Counts()


@pytest.mark.slow  # 100 generated command-path sequences (12 s here)
@CI_SETTINGS
@seed(13)
@given(scenarios())
def test_no_generated_sequence_makes_a_command_unsafe(scenario):
    TOTALS.merge(run_scenario(scenario))


def test_the_generated_sequences_reach_both_commands_and_every_kind_of_hold():
    """The fuzz run above is only worth something if it commands and holds for each reason."""
    if TOTALS.sequences == 0:
        pytest.skip('runs after test_no_generated_sequence_makes_a_command_unsafe')
    assert TOTALS.commanded > 0 and TOTALS.chunks_added > 0 and TOTALS.chunks_refused > 0
    assert TOTALS.observations_skipped > 0
    for reason in ('stale observation', 'joint states unusable', 'no chunk covers this tick yet',
                   'policy output rejected'):
        assert TOTALS.holds.get(reason, 0) > 0, (reason, TOTALS.holds)


def _steady(ticks, override=None):
    """A clean sequence: every source on time with good content each tick."""
    events = [{source: ('on_time', 'ok', 0.0, k) for source in SOURCES} for k in range(ticks)]
    for (tick, source), event in (override or {}).items():
        events[tick][source] = event
    return events


def test_a_camera_silent_for_one_second_holds_then_resumes_from_new_chunks_within_max_step():
    camera = SOURCES[0]
    events = _steady(200)
    for tick in range(60, 110):  # 1 s at 50 Hz
        events[tick][camera] = None
    counts = run_scenario(Scenario(events, [('ok', 100, 5, 1)]))
    assert counts.holds.get('stale observation', 0) >= 35  # 1 s minus the 0.2 s timeout
    assert counts.commanded > 100


def test_a_clock_jump_forward_is_not_fresh_data():
    joint = SOURCES[1]
    events = _steady(120, {(50, joint): ('forwards', 'ok', 1.0, 3)})  # stamped 1 s ahead
    for tick in range(51, 120):
        events[tick][joint] = ('on_time', 'ok', 0.0, tick)  # older than the jumped stamp: dropped as reordered
    counts = run_scenario(Scenario(events, [('ok', 100, 2, 1)]))
    assert counts.holds.get('stale observation', 0) >= 35  # until it is within the 0.2 s timeout


@pytest.mark.parametrize('kind', ['narrow', 'wide', 'flat', 'cube', 'empty', 'nan_rows', 'huge'])
def test_each_broken_model_output_is_refused_or_held_never_sent(kind):
    counts = run_scenario(Scenario(_steady(80), [(kind, 50, 3, 2)]))
    assert counts.commanded == 0 or kind in ('nan_rows', 'huge')
    assert counts.chunks_refused > 0 or kind in ('nan_rows', 'huge')
