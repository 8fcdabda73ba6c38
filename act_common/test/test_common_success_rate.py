"""The Wilson score interval against values computed by hand, and SuccessRate's report.

Hand values: the score test |p_hat - p| = z sqrt(p (1 - p) / n) solved for p (z = 1.959964).
1/10: roots 0.017876 and 0.404150 (scipy brentq on the same equation agrees to 1e-9).
0/n:  p = 0 or p = z^2 / (n + z^2): 0/20 -> [0, 3.84146 / 23.84146 = 0.161125].
n/n:  mirrored: 20/20 -> [0.838875, 1].
"""

import pytest

from act_common.success_rate import EVAL_MODES, SuccessRate, describe_seeds, wilson_interval


@pytest.mark.parametrize('successes, episodes, low, high', [
    (1, 10, 0.017876, 0.404150),
    (0, 20, 0.0, 0.161125),
    (20, 20, 0.838875, 1.0),
    (3, 20, 0.052369, 0.360419),
    (15, 30, 0.331541, 0.668459),
])
def test_wilson_interval_matches_the_hand_computed_roots_of_the_score_test(successes, episodes, low, high):
    assert wilson_interval(successes, episodes) == pytest.approx((low, high), abs=2e-6)


def test_ten_episodes_cannot_tell_ten_from_forty_percent():
    low, high = wilson_interval(1, 10)
    assert low < 0.1 < 0.4 < high + 0.01 and high > 0.40


def test_the_interval_narrows_with_more_episodes_at_the_same_rate():
    widths = [high - low for low, high in (wilson_interval(n // 2, n) for n in (10, 30, 100))]
    assert widths[0] > widths[1] > widths[2]


@pytest.mark.parametrize('successes, episodes', [(0, 0), (-1, 10), (11, 10)])
def test_impossible_counts_are_refused(successes, episodes):
    with pytest.raises(ValueError):
        wilson_interval(successes, episodes)


def test_success_rate_states_count_interval_mode_and_seeds():
    rate = SuccessRate.from_outcomes([True] + [False] * 9, seeds=range(100000, 100010), mode='lockstep')
    assert (rate.successes, rate.episodes, rate.rate) == (1, 10, 0.1)
    assert rate.describe() == '1/10 = 10 % (95 % CI 2-40 %), lockstep, seeds 100000..100009'
    data = rate.to_dict()
    assert data['ci95_low'] == pytest.approx(0.017876, abs=2e-6) and data['ci95_high'] == pytest.approx(0.40415, abs=2e-6)
    assert data['mode'] == 'lockstep' and data['seeds'] == list(range(100000, 100010))


def test_success_rate_refuses_an_unknown_mode_or_missing_seeds():
    assert EVAL_MODES == ('realtime', 'lockstep')
    with pytest.raises(ValueError, match='mode'):
        SuccessRate.from_outcomes([True], seeds=[0], mode='fast')
    with pytest.raises(ValueError, match='seeds'):
        SuccessRate(successes=1, episodes=2, seeds=(0,), mode='realtime')


def test_seeds_are_described_as_a_range_when_consecutive():
    assert describe_seeds([5, 6, 7, 8]) == '5..8'
    assert describe_seeds([1, 5, 9]) == '1, 5, 9'
