"""Temporal ensembling: one target per control tick from every chunk that covers the tick.

A chunk computed from the observation of tick t_c holds targets for ticks t_c, t_c + 1, ...,
t_c + S - 1 (S = chunk size). At tick t, each stored chunk c with 0 <= t - t_c < S proposes
its row t - t_c (act_policy_node.chunk_buffer finds these rows). The proposals are sorted by
the time of the observation they came from, OLDEST FIRST, and averaged:

    target_t = sum_i w_i * proposal_i / sum_i w_i,    w_i = exp(-m * i)

How i is counted is the whole difference between the weightings:

- `oldest_first` (default, m = 0.01): i = 0 is the OLDEST chunk covering t, i = 1 the next
  newer one, and so on; the newest chunk gets the smallest weight. This is the paper's
  definition ("w_i = exp(-m * i), where w_0 is the weight for the oldest action") and what
  the original code computes (imitate_episodes.py: `np.exp(-k * np.arange(n))` over the
  actions for the current step in query order, k = 0.01). With m = 0.01 the weights over
  the ~100 chunks that can cover a tick span only exp(-0.99) ~ 0.37 .. 1: a near-uniform
  average that smooths the motion; a larger m leans further on the older predictions.
- `newest_first`: i = 0 is the NEWEST chunk, as some secondary write-ups describe it; a
  larger m then makes the command follow the newest observation more quickly.
- `chunked`: no ensembling: the newest chunk that covers the tick alone gives the target
  (the paper's action chunking without temporal ensembling; the node then queries only
  every k ticks).

i is the rank among the chunks that cover the tick. The original code queries on every
tick, where that rank equals the query age in ticks; here queries come as fast as the
device allows (not every tick), and the rank keeps the paper's weights for any query rate.
"""

from __future__ import annotations

from enum import Enum

import numpy as np


class Weighting(str, Enum):
    OLDEST_FIRST = 'oldest_first'
    NEWEST_FIRST = 'newest_first'
    CHUNKED = 'chunked'

    @classmethod
    def parse(cls, value: str) -> 'Weighting':
        try:
            return cls(value)
        except ValueError:
            raise ValueError(f'unknown ensemble weighting {value!r}; one of {[w.value for w in cls]}') from None


# The weighting names, as parameters and flags take them.
WEIGHTINGS = tuple(w.value for w in Weighting)

# The paper's and original code's m (called k there).
DEFAULT_M = 0.01


def _check(count: int, m: float) -> None:
    if count < 1:
        raise ValueError(f'need at least one proposal to ensemble, got {count}')
    if not (np.isfinite(m) and m >= 0):
        raise ValueError(f'ensemble m must be finite and >= 0, got {m}')


def ensemble_weights(count: int, m: float, weighting: Weighting) -> np.ndarray:
    """Normalized weights of `count` proposals given OLDEST FIRST. (count,), sums to 1.
    Raises ValueError for no proposal or an m that is negative or not finite."""
    _check(count, m)
    if weighting is Weighting.CHUNKED:
        weights = np.zeros(count)
        weights[-1] = 1.0
        return weights
    rank = np.arange(count, dtype=np.float64)  # 0 = oldest
    if weighting is Weighting.NEWEST_FIRST:
        rank = rank[::-1]  # 0 = newest
    weights = np.exp(-m * rank)
    return weights / weights.sum()


def ensemble(proposals: np.ndarray, m: float, weighting: Weighting) -> np.ndarray:
    """The target of one tick from the proposals of the chunks covering it.

    proposals: (N, D), row 0 from the chunk with the OLDEST observation. Returns (D,).
    A non-finite proposal makes the result non-finite on purpose: CommandFilter then holds
    instead of silently averaging a broken model's output away.
    """
    proposals = np.asarray(proposals, dtype=np.float64)
    if proposals.ndim != 2:
        raise ValueError(f'proposals must be (N, D), got shape {proposals.shape}')
    if weighting is Weighting.CHUNKED:  # the newest chunk alone: no weights to compute
        _check(proposals.shape[0], m)
        return proposals[-1].copy()
    weights = ensemble_weights(proposals.shape[0], m, weighting)  # (N,)
    return weights @ proposals  # (N,) @ (N, D) -> (D,)
