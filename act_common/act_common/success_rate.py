"""A success rate as the suite reports it: successes / episodes, the 95 % Wilson score
interval, the seeds, and how the episodes were run.

    rate = SuccessRate.from_outcomes([True, False, ...], seeds=range(100000, 100010), mode='lockstep')
    print(rate.describe())   # 1/10 = 10 % (95 % CI 2-40 %), lockstep, seeds 100000..100009

Why Wilson and not p +- 1.96 sqrt(p(1-p)/n): the normal approximation collapses to a zero
width at 0/n and n/n and leaves [0, 1] near them, exactly where small evaluations land.
The Wilson score interval (Wilson 1927; Brown, Cai & DasGupta 2001, "Interval Estimation
for a Binomial Proportion", recommend it for small n) inverts the score test instead:

    center = (p + z^2 / 2n) / (1 + z^2 / n)
    half   = z / (1 + z^2 / n) * sqrt(p (1 - p) / n + z^2 / 4n^2)

with z = 1.959964 (the 97.5 % normal quantile). 1/10 gives [0.018, 0.404]: ten episodes
cannot tell 10 % from 40 %.

Evaluation modes, stated with every figure (act_tools.evaluation runs both):
- `realtime`: the deployment figure. The sim runs at real-time factor 1 and inference
  latency costs sim time, as on the robot; it depends on the machine's speed.
- `lockstep`: the paper's protocol. The sim waits for the policy's command of each tick,
  so latency costs nothing and the figure does not depend on the machine.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Iterable, Sequence

# Two-sided 95 %: the 0.975 quantile of the standard normal distribution.
Z_95 = 1.959963984540054
EVAL_MODES = ('realtime', 'lockstep')


def wilson_interval(successes: int, episodes: int, z: float = Z_95) -> tuple[float, float]:
    """The Wilson score interval of successes/episodes, as (low, high) in [0, 1].

    Raises ValueError for episodes < 1 or successes outside 0..episodes.
    """
    if episodes < 1:
        raise ValueError(f'a success rate needs at least one episode, got {episodes}')
    if not 0 <= successes <= episodes:
        raise ValueError(f'successes must be in 0..{episodes}, got {successes}')
    p = successes / episodes
    z2 = z * z
    denominator = 1.0 + z2 / episodes
    center = (p + z2 / (2 * episodes)) / denominator
    half = z / denominator * math.sqrt(p * (1 - p) / episodes + z2 / (4 * episodes * episodes))
    # Exact at the edges: at 0/n the low end is 0 and at n/n the high end is 1.
    low = 0.0 if successes == 0 else max(0.0, center - half)
    high = 1.0 if successes == episodes else min(1.0, center + half)
    return low, high


def describe_seeds(seeds: Sequence[int]) -> str:
    """'100000..100019' for a consecutive run, else the list."""
    seeds = list(seeds)
    if not seeds:
        return 'none'
    if len(seeds) > 2 and seeds == list(range(seeds[0], seeds[0] + len(seeds))):
        return f'{seeds[0]}..{seeds[-1]}'
    return ', '.join(str(seed) for seed in seeds)


@dataclass(frozen=True)
class SuccessRate:
    """successes of episodes (seeds in order), run in `mode` (one of EVAL_MODES)."""

    successes: int
    episodes: int
    seeds: tuple[int, ...]
    mode: str

    def __post_init__(self):
        if self.mode not in EVAL_MODES:
            raise ValueError(f'evaluation mode must be one of {list(EVAL_MODES)}, got {self.mode!r}')
        if len(self.seeds) != self.episodes:
            raise ValueError(f'{self.episodes} episodes need {self.episodes} seeds, got {len(self.seeds)}')
        wilson_interval(self.successes, self.episodes)  # validates the counts

    @classmethod
    def from_outcomes(cls, successes: Iterable[bool], seeds: Iterable[int], mode: str) -> 'SuccessRate':
        outcomes = [bool(s) for s in successes]
        return cls(successes=sum(outcomes), episodes=len(outcomes), seeds=tuple(int(s) for s in seeds), mode=mode)

    @property
    def rate(self) -> float:
        return self.successes / self.episodes

    @property
    def interval(self) -> tuple[float, float]:
        """95 % Wilson score interval, fractions."""
        return wilson_interval(self.successes, self.episodes)

    def describe(self) -> str:
        low, high = self.interval
        return (f'{self.successes}/{self.episodes} = {100 * self.rate:.0f} % (95 % CI {100 * low:.0f}-{100 * high:.0f} %), '
                f'{self.mode}, seeds {describe_seeds(self.seeds)}')

    def to_dict(self) -> dict:
        low, high = self.interval
        return {'successes': self.successes, 'episodes': self.episodes, 'rate': self.rate,
                'ci95_low': low, 'ci95_high': high, 'interval': 'wilson', 'mode': self.mode,
                'seeds': list(self.seeds)}
