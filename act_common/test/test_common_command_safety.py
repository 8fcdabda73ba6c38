import numpy as np
import pytest

from act_common.command_safety import CommandFilter, SafetyLimits, is_stale

LIMITS = SafetyLimits(lower=np.array([-1.0, 0.0]), upper=np.array([1.0, 1.0]), max_step=np.array([0.1, 0.5]))


def test_nothing_is_sent_before_reset():
    command, report = CommandFilter(LIMITS).step(np.array([0.0, 0.5]))
    assert command is None and report.held and 'not reset' in report.reason


def test_step_limit_applies_from_the_measured_position():
    filt = CommandFilter(LIMITS)
    filt.reset(np.array([0.0, 0.2]))
    command, report = filt.step(np.array([0.5, 0.3]))
    np.testing.assert_allclose(command, [0.1, 0.3])
    assert report.rate_limited == (0,) and not report.held
    command, _ = filt.step(np.array([0.5, 0.3]))
    np.testing.assert_allclose(command, [0.2, 0.3])


def test_limits_clamp_and_are_reported():
    filt = CommandFilter(LIMITS)
    filt.reset(np.array([0.95, 0.9]))
    command, report = filt.step(np.array([3.0, 2.0]))
    np.testing.assert_allclose(command, [1.0, 1.0])
    assert report.clamped == (0, 1)


@pytest.mark.parametrize('bad', [np.nan, np.inf, -np.inf])
def test_non_finite_target_holds_the_previous_command(bad):
    filt = CommandFilter(LIMITS)
    filt.reset(np.array([0.0, 0.5]))
    first, _ = filt.step(np.array([0.05, 0.5]))
    command, report = filt.step(np.array([bad, 0.6]))
    np.testing.assert_array_equal(command, first)
    assert report.held and 'non-finite target at entries [0]' in report.reason
    assert np.all(np.isfinite(command))


def test_missing_target_holds_and_scale_slows():
    filt = CommandFilter(LIMITS)
    filt.reset(np.array([0.0, 0.0]))
    command, report = filt.step(None)
    np.testing.assert_array_equal(command, [0.0, 0.0])
    assert report.held
    command, _ = filt.step(np.array([1.0, 1.0]), max_step_scale=0.1)
    np.testing.assert_allclose(command, [0.01, 0.05])


def test_bad_shapes_and_reset_values_are_rejected():
    filt = CommandFilter(LIMITS)
    with pytest.raises(ValueError, match='non-finite'):
        filt.reset(np.array([np.nan, 0.0]))
    filt.reset(np.array([0.0, 0.0]))
    with pytest.raises(ValueError, match='expected a vector of 2 entries'):
        filt.step(np.zeros(3))
    with pytest.raises(ValueError, match='lower must be below upper'):
        SafetyLimits(lower=np.array([1.0]), upper=np.array([0.0]), max_step=np.array([1.0]))


def test_is_stale():
    assert is_stale(None, 10.0, 0.5)
    assert is_stale(9.0, 10.0, 0.5)
    assert not is_stale(9.6, 10.0, 0.5)
