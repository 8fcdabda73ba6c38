"""The results of an evaluation: each episode's outcome, and the report `act eval`
prints and writes as <task>_results.json (success with its Wilson interval, rewards,
inference latency and control-loop timing).
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from act_common.success_rate import SuccessRate

@dataclass(frozen=True)
class EpisodeOutcome:
    index: int
    seed: int
    success: bool
    episode_max_reward: float
    final_reward: float
    max_reward: float
    steps: int
    wall_s: float
    # The policy node's timing for this episode (PolicyTimingStats.report()).
    policy: dict
    video: str | None = None
    trace: str | None = None


@dataclass
class EvalReport:
    checkpoint: str
    model_id: str
    task: str
    seeds: list[int]
    episode_steps: int
    mode: str
    real_time_factor: float
    device: str
    policy_parameters: dict
    # The sim's render settings (act_sim.rendering.RenderSettings.to_dict()).
    render_settings: dict
    episodes: list[EpisodeOutcome]
    # How the policy node turned chunks into commands (ControlSettings.describe_execution):
    # success depends on it as much as on the mode.
    execution: str = ''

    @property
    def success_rate(self) -> float:
        return sum(e.success for e in self.episodes) / len(self.episodes) if self.episodes else 0.0

    @property
    def success(self) -> SuccessRate | None:
        """The rate with its Wilson interval, episodes, seeds and mode; None before an episode."""
        if not self.episodes:
            return None
        return SuccessRate.from_outcomes([e.success for e in self.episodes], [e.seed for e in self.episodes], self.mode)

    @property
    def mean_max_reward(self) -> float:
        return float(np.mean([e.episode_max_reward for e in self.episodes])) if self.episodes else 0.0

    @property
    def max_max_reward(self) -> float:
        return float(max(e.episode_max_reward for e in self.episodes)) if self.episodes else 0.0

    def control_loop(self) -> dict:
        """Timing over all episodes: sums, count-weighted means, worst percentiles and maxima."""
        reports = [e.policy for e in self.episodes]
        ticks = sum(r['ticks'] for r in reports)
        misses = sum(r['deadline_misses'] for r in reports)
        summary = {
            'ticks': ticks,
            'deadline_misses': misses,
            'missed_fraction': misses / (ticks + misses) if ticks + misses else 0.0,
            'held_ticks': sum(r['held_ticks'] for r in reports),
            'hold_reasons': _sum_counts(r.get('hold_reasons', {}) for r in reports),
            'chunks_computed': sum(r['chunks_computed'] for r in reports),
        }
        for key in ('tick_lateness_ms', 'tick_duration_ms', 'inference_latency_ms', 'observation_to_command_ms'):
            parts = [r[key] for r in reports if r[key]['count']]
            count = sum(p['count'] for p in parts)
            summary[key] = {
                'count': count,
                'mean': sum(p['mean'] * p['count'] for p in parts) / count if count else math.nan,
                'worst_p99': max((p['p99'] for p in parts), default=math.nan),
                'max': max((p['max'] for p in parts), default=math.nan),
            }
        return summary

    def describe_success(self) -> str:
        """'14/20 = 70 % (95 % CI 48-85 %), realtime, seeds 100000..100019, chunked execution'."""
        if not self.episodes:
            return 'no episodes'
        text = self.success.describe()
        return f'{text}, {self.execution}' if self.execution else text

    def to_dict(self) -> dict:
        return {
            'checkpoint': self.checkpoint, 'model_id': self.model_id, 'task': self.task,
            'episodes_run': len(self.episodes), 'seeds': self.seeds, 'episode_steps': self.episode_steps,
            'mode': self.mode, 'real_time_factor': self.real_time_factor if self.mode == 'realtime' else 0.0,
            'device': self.device, 'policy_parameters': self.policy_parameters, 'execution': self.execution,
            'render_settings': self.render_settings,
            'success_rate': self.success_rate,
            'success': {**self.success.to_dict(), 'text': self.describe_success()} if self.episodes else None,
            'mean_max_reward': self.mean_max_reward,
            'max_max_reward': self.max_max_reward,
            'control_loop': self.control_loop(),
            'per_episode': [asdict(e) for e in self.episodes],
        }

    def write_json(self, path: Path) -> Path:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix('.json.tmp')
        tmp.write_text(json.dumps(self.to_dict(), indent=2, default=_json_default) + '\n')
        tmp.replace(path)
        return path

    def table(self) -> str:
        lines = [f'{"episode":>7} {"seed":>8} {"success":>7} {"max reward":>10} {"final":>6} {"chunks":>6} '
                 f'{"infer ms":>8} {"held":>5} {"missed":>6}']
        for e in self.episodes:
            lines.append(f'{e.index:>7} {e.seed:>8} {"yes" if e.success else "no":>7} {e.episode_max_reward:>10g} '
                         f'{e.final_reward:>6g} {e.policy["chunks_computed"]:>6} '
                         f'{e.policy["inference_latency_ms"]["mean"]:>8.1f} {e.policy["held_ticks"]:>5} '
                         f'{e.policy["deadline_misses"]:>6}')
        loop = self.control_loop()
        success = self.describe_success()
        lines.append(f'{self.task}: success {success}; mean max reward {self.mean_max_reward:.2f}, '
                     f'best {self.max_max_reward:g}')
        lines.append(
            f'inference {loop["inference_latency_ms"]["mean"]:.1f} ms mean ({loop["inference_latency_ms"]["max"]:.1f} max); '
            f'observation->command {loop["observation_to_command_ms"]["mean"]:.1f} ms mean; '
            f'{loop["deadline_misses"]} missed of {loop["ticks"] + loop["deadline_misses"]} ticks '
            f'({100 * loop["missed_fraction"]:.2f}%), {loop["held_ticks"]} held')
        return '\n'.join(lines)


def _sum_counts(counts) -> dict[str, int]:
    total: dict[str, int] = {}
    for count in counts:
        for key, value in count.items():
            total[key] = total.get(key, 0) + value
    return total


def _json_default(value):
    if isinstance(value, Path):
        return str(value)
    if isinstance(value, np.generic):
        return value.item()
    raise TypeError(f'not JSON serializable: {type(value).__name__}')
