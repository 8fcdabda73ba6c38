"""Temporal ensembling against weighted averages computed by hand."""

import math

import numpy as np
import pytest

from act_policy_node.chunk_buffer import ChunkBuffer, TimedChunk, chunk_row
from act_policy_node.temporal_ensembler import Weighting, ensemble, ensemble_weights

PERIOD_NS = 20_000_000  # 50 Hz


def chunk_from(tick: int, values, size: int = 10) -> TimedChunk:
    """A chunk observed at `tick` whose row k holds values[k] in both of two entries."""
    actions = np.zeros((size, 2))
    actions[:len(values), 0] = values
    actions[:len(values), 1] = [-v for v in values]
    return TimedChunk(observation_stamp_ns=tick * PERIOD_NS, actions=actions)


def test_oldest_first_weights_are_the_papers():
    # w_i = exp(-m i), i = 0 the OLDEST: with m = 0.5 and three chunks, 1, e^-0.5, e^-1.
    weights = ensemble_weights(3, 0.5, Weighting.OLDEST_FIRST)
    expected = np.array([1.0, math.exp(-0.5), math.exp(-1.0)])
    np.testing.assert_allclose(weights, expected / expected.sum())
    assert weights[0] > weights[1] > weights[2]


def test_newest_first_reverses_the_ranks():
    weights = ensemble_weights(3, 0.5, Weighting.NEWEST_FIRST)
    expected = np.array([math.exp(-1.0), math.exp(-0.5), 1.0])
    np.testing.assert_allclose(weights, expected / expected.sum())


def test_m_zero_is_a_plain_average_and_chunked_takes_the_newest():
    proposals = np.array([[1.0, 10.0], [2.0, 20.0], [6.0, 60.0]])
    np.testing.assert_allclose(ensemble(proposals, 0.0, Weighting.OLDEST_FIRST), [3.0, 30.0])
    np.testing.assert_allclose(ensemble(proposals, 0.7, Weighting.CHUNKED), [6.0, 60.0])


def test_overlapping_chunks_hand_computed_with_latency_alignment():
    """Three chunks observed at ticks 0, 2 and 5; the tick being commanded is 7.

    Chunk A (observed at 0) proposes its row 7, B (at 2) its row 5, C (at 5) its row 2.
    Row k of A is 100 + k, of B 200 + k, of C 300 + k, so the proposals are 107, 205, 302.
    """
    buffer = ChunkBuffer(PERIOD_NS)
    buffer.add(chunk_from(0, [100 + k for k in range(10)]))
    buffer.add(chunk_from(5, [300 + k for k in range(10)]))  # arrival order does not matter
    buffer.add(chunk_from(2, [200 + k for k in range(10)]))
    proposals = buffer.proposals(7 * PERIOD_NS)
    assert proposals.row_indices == (7, 5, 2)
    np.testing.assert_allclose(proposals.rows[:, 0], [107, 205, 302])

    m = 0.3
    w = [1.0, math.exp(-0.3), math.exp(-0.6)]  # oldest (A) first
    by_hand = (w[0] * 107 + w[1] * 205 + w[2] * 302) / sum(w)
    target = ensemble(proposals.rows, m, Weighting.OLDEST_FIRST)
    assert target[0] == pytest.approx(by_hand)
    assert target[1] == pytest.approx(-by_hand)

    w_new = [math.exp(-0.6), math.exp(-0.3), 1.0]  # newest (C) gets 1
    assert ensemble(proposals.rows, m, Weighting.NEWEST_FIRST)[0] == pytest.approx(
        (w_new[0] * 107 + w_new[1] * 205 + w_new[2] * 302) / sum(w_new))
    assert ensemble(proposals.rows, m, Weighting.CHUNKED)[0] == 302


def test_a_chunk_that_took_120_ms_contributes_its_step_6():
    # Observation at t = 1.000 s; inference done 120 ms later; the tick then is 1.120 s.
    observed = 1_000_000_000
    assert chunk_row(observed, observed + 120_000_000, PERIOD_NS) == 6
    buffer = ChunkBuffer(PERIOD_NS)
    buffer.add(TimedChunk(observed, np.arange(10.0)[:, None]))
    proposals = buffer.proposals(observed + 120_000_000)
    assert proposals.row_indices == (6,) and proposals.rows[0, 0] == 6.0
    # Stamps jitter: a tick 4 ms late or early still maps to the same row.
    assert chunk_row(observed, observed + 124_000_000, PERIOD_NS) == 6
    assert chunk_row(observed, observed + 116_000_000, PERIOD_NS) == 6


def test_a_non_finite_proposal_poisons_the_ensemble():
    # The safety filter must see it and hold; averaging it away would hide a broken model.
    proposals = np.array([[1.0], [np.nan]])
    assert np.isnan(ensemble(proposals, 0.01, Weighting.OLDEST_FIRST)[0])


def test_bad_arguments_are_named():
    with pytest.raises(ValueError, match='at least one'):
        ensemble_weights(0, 0.01, Weighting.OLDEST_FIRST)
    with pytest.raises(ValueError, match='m must be'):
        ensemble_weights(2, -1.0, Weighting.OLDEST_FIRST)
    with pytest.raises(ValueError, match="unknown ensemble weighting 'newest'"):
        Weighting.parse('newest')
