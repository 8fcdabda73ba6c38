"""Configuration of a closed-loop evaluation (`act eval`): the seeds, the mode, what is
recorded, and the error the evaluation raises.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping

from act_common.errors import ActError, ConfigurationError
from act_common.success_rate import EVAL_MODES

EVAL_SEED_START = 100_000


class EvalError(ActError, RuntimeError):
    """The evaluation could not run (sim did not start, checkpoint refused, timeout)."""


@dataclass(frozen=True)
class EvalConfig:
    checkpoint: Path
    task: str = 'transfer_cube'
    episodes: int = 50
    seed_start: int = EVAL_SEED_START
    # Control steps per episode; None = the task's episode length (400 = 8 s at 50 Hz).
    episode_steps: int | None = None
    robot: str = 'aloha_sim'
    device: str = 'cpu'
    # realtime or lockstep (see the module docstring).
    mode: str = 'realtime'
    # realtime mode: sim seconds per wall second (> 0; the sim paces itself).
    real_time_factor: float = 1.0
    # Where the JSON report (and the sim's log) go.
    output_dir: Path = Path('eval')
    # One mp4 per episode in this folder, from video_camera (None = no video).
    video_dir: Path | None = None
    video_camera: str | None = None
    # Film only the first this many episodes (None = all of them).
    video_episodes: int | None = None
    # Trace commanded vs measured joint positions of the first this many episodes
    # (output_dir/trajectory_episode<index>.npz, see act_tools.trajectory_trace).
    trace_episodes: int = 0
    # Policy node parameters on top of config/policy.yaml (e.g. ensemble_weighting).
    policy_parameters: Mapping[str, Any] = field(default_factory=dict)
    # Sim node parameters on top of config/sim.yaml and the checkpoint's render settings
    # (shadow_map_size, multisamples: a value unlike the checkpoint's is warned about).
    sim_parameters: Mapping[str, Any] = field(default_factory=dict)
    # Wall-clock limit for the sim to come up and for each reset.
    startup_timeout_s: float = 120.0

    def __post_init__(self):
        object.__setattr__(self, 'checkpoint', Path(self.checkpoint))
        object.__setattr__(self, 'output_dir', Path(self.output_dir))
        if self.video_dir is not None:
            object.__setattr__(self, 'video_dir', Path(self.video_dir))
        from act_sim.tasks import TASK_NAMES

        if self.task not in TASK_NAMES:
            raise ConfigurationError(f'unknown task {self.task!r}; known tasks: {list(TASK_NAMES)}')
        if self.episodes < 1:
            raise ConfigurationError(f'episodes must be >= 1, got {self.episodes}')
        if self.seed_start < 0:
            raise ConfigurationError(f'seed_start must be >= 0, got {self.seed_start}')
        if self.video_episodes is not None and self.video_episodes < 0:
            raise ConfigurationError(f'video_episodes must be >= 0, got {self.video_episodes}')
        if self.trace_episodes < 0:
            raise ConfigurationError(f'trace_episodes must be >= 0, got {self.trace_episodes}')
        if self.episode_steps is not None and self.episode_steps < 1:
            raise ConfigurationError(f'episode_steps must be >= 1, got {self.episode_steps}')
        if self.mode not in EVAL_MODES:
            raise ConfigurationError(f'mode must be one of {list(EVAL_MODES)}, got {self.mode!r}')
        if not (math.isfinite(self.real_time_factor) and 0 < self.real_time_factor <= 100):
            raise ConfigurationError(f'real_time_factor must be in (0, 100], got {self.real_time_factor} '
                             '(for the sim waiting on the policy use mode lockstep)')
        if not self.checkpoint.is_dir():
            raise ConfigurationError(f'checkpoint {self.checkpoint} is not a folder')

    @property
    def seeds(self) -> range:
        return range(self.seed_start, self.seed_start + self.episodes)
