"""Tick decisions: seeding, stale data, no coverage, NaN from the model, limits, ensembling."""

import math

import numpy as np
import pytest

from act_common.command_safety import SafetyLimits
from act_policy_node.chunk_buffer import TimedChunk
from act_policy_node.control_loop import ControlLoop, ControlSettings
from act_policy_node.temporal_ensembler import Weighting

PERIOD = 20_000_000
T0 = 10 * 1_000_000_000
LIMITS = SafetyLimits(lower=np.full(2, -1.0), upper=np.full(2, 1.0), max_step=np.full(2, 0.5))
STATE = np.zeros(2)


def fresh(tick_ns):
    return {'/cam': tick_ns, '/joints': tick_ns}


def loop(**settings) -> ControlLoop:
    control = ControlLoop(LIMITS, PERIOD, ControlSettings(**settings))
    control.start()
    return control


def test_nothing_is_sent_before_joint_states_then_holds_until_a_chunk_covers():
    control = loop()
    first = control.decide(T0, None, 'no joint state yet on /joints', fresh(T0))
    assert first.command is None and first.held and '/joints' in first.reason
    second = control.decide(T0 + PERIOD, np.array([0.2, -0.2]), '', fresh(T0 + PERIOD))
    # Seeded from the measured position: holding means commanding where the robot is.
    assert second.held and 'no chunk' in second.reason
    np.testing.assert_array_equal(second.command, [0.2, -0.2])


def test_stale_source_holds_and_names_it():
    control = loop(observation_timeout_s=0.1)
    control.buffer.add(TimedChunk(T0, np.full((50, 2), 0.1)))
    stamps = {'/cam': T0 - 300_000_000, '/joints': T0, '/wrist': None}
    decision = control.decide(T0, STATE, '', stamps)
    assert decision.held
    assert '/cam 0.30 s old' in decision.reason and '/wrist never received' in decision.reason
    assert '/joints' not in decision.reason
    np.testing.assert_array_equal(decision.command, STATE)


def test_ensembled_target_goes_through_limits_and_max_step():
    control = loop(weighting=Weighting.OLDEST_FIRST, ensemble_m=0.5)
    control.buffer.add(TimedChunk(T0, np.tile([[0.2, 5.0]], (10, 1))))
    control.buffer.add(TimedChunk(T0 + 2 * PERIOD, np.tile([[0.4, 5.0]], (10, 1))))
    tick = T0 + 3 * PERIOD
    decision = control.decide(tick, STATE, '', fresh(tick))
    w = np.array([1.0, math.exp(-0.5)])
    expected_first = (w[0] * 0.2 + w[1] * 0.4) / w.sum()
    assert not decision.held and decision.ensemble_depth == 2
    assert decision.command[0] == pytest.approx(expected_first)
    # 5.0 is clamped to the upper limit 1.0, then to one max_step (0.5) from 0.
    assert decision.command[1] == pytest.approx(0.5)
    assert decision.report.clamped == (1,) and decision.report.rate_limited == (1,)
    assert [chunk.sequence for chunk in decision.first_used] == [0, 1]
    again = control.decide(tick + PERIOD, STATE, '', fresh(tick + PERIOD))
    assert again.first_used == ()


def test_nan_output_never_leaves():
    control = loop()
    control.buffer.add(TimedChunk(T0, np.full((10, 2), 0.1)))
    good = control.decide(T0, STATE, '', fresh(T0))
    control.buffer.add(TimedChunk(T0 + PERIOD, np.full((10, 2), np.nan)))
    bad = control.decide(T0 + PERIOD, STATE, '', fresh(T0 + PERIOD))
    assert bad.held and 'non-finite' in bad.reason
    np.testing.assert_array_equal(bad.command, good.command)
    assert np.all(np.isfinite(bad.command))


def test_invalid_joint_states_hold_the_last_command():
    control = loop()
    control.buffer.add(TimedChunk(T0, np.full((10, 2), 0.1)))
    sent = control.decide(T0, STATE, '', fresh(T0)).command
    held = control.decide(T0 + PERIOD, None, "/joints: joint 'waist' is nan", fresh(T0 + PERIOD))
    assert held.held and 'nan' in held.reason
    np.testing.assert_array_equal(held.command, sent)


def test_chunked_execution_uses_only_the_newest_chunk():
    control = loop(weighting=Weighting.CHUNKED)
    control.buffer.add(TimedChunk(T0, np.full((10, 2), 0.1)))
    control.buffer.add(TimedChunk(T0 + PERIOD, np.arange(20.0).reshape(10, 2) / 100))
    tick = T0 + 3 * PERIOD  # newest chunk row 2: [0.04, 0.05]
    decision = control.decide(tick, STATE, '', fresh(tick))
    np.testing.assert_allclose(decision.command, [0.04, 0.05])
    assert decision.ensemble_depth == 1 and [c.sequence for c in decision.first_used] == [1]


def test_start_forgets_everything():
    control = loop()
    control.buffer.add(TimedChunk(T0, np.full((10, 2), 0.1)))
    control.decide(T0, STATE, '', fresh(T0))
    control.start()
    assert len(control.buffer) == 0 and control.filter.last_command is None


def test_settings_are_validated():
    with pytest.raises(ValueError, match='observation_timeout_s'):
        ControlSettings(observation_timeout_s=0.0)
    with pytest.raises(ValueError, match='ensemble_m'):
        ControlSettings(ensemble_m=math.nan)


def test_settings_describe_how_chunks_become_commands():
    assert ControlSettings().describe_execution() == 'temporal ensembling (oldest_first, m = 0.01)'
    assert ControlSettings(weighting=Weighting.CHUNKED).describe_execution() == 'chunked execution'
    assert ControlSettings(weighting=Weighting.NEWEST_FIRST, ensemble_m=0.1).describe_execution() == \
        'temporal ensembling (newest_first, m = 0.1)'


def test_only_chunks_of_the_current_activation_from_observations_after_its_start_are_accepted():
    control = ControlLoop(LIMITS, PERIOD)
    control.start(activation=2, started_ns=T0)
    chunk = np.full((10, 2), 0.1)
    stored, reason = control.accept(TimedChunk(T0 + PERIOD, chunk, activation=2))
    assert stored is not None and reason == '' and len(control.buffer) == 1
    # In flight across a deactivate/activate: computed in activation 1.
    stored, reason = control.accept(TimedChunk(T0 + PERIOD, chunk, activation=1))
    assert stored is None and 'activation 1 arrived in activation 2' in reason
    # Right activation, but from an observation stamped before it began.
    stored, reason = control.accept(TimedChunk(T0 - PERIOD, chunk, activation=2))
    assert stored is None and 'before activation 2 began' in reason
    assert control.stale_chunks_dropped == 2 and len(control.buffer) == 1
    control.stop()
    stored, reason = control.accept(TimedChunk(T0 + 2 * PERIOD, chunk, activation=2))
    assert stored is None and 'while inactive' in reason and len(control.buffer) == 0
    decision = control.decide(T0 + 2 * PERIOD, STATE, '', fresh(T0 + 2 * PERIOD))
    assert decision.held and 'no chunk' in decision.reason
