"""Closed-loop episodes of a policy against `AlohaSim` in plain Python, in lockstep.

The paper's evaluation protocol: the sim waits for the policy, so inference latency costs
no sim time and the figure does not depend on the machine's speed. No ROS, no threads:
the reference that `act eval` (the same loop through the policy node and sim_node) is
checked against, and the fast screen for training recipes (about 1 s per chunked episode
of the CPU demo model: 8 inferences, 400 physics steps, 8 renders).

Each tick t: if t is a multiple of `query_period_ticks`, render the policy's cameras and
predict a chunk from (images, qpos) of tick t; then the target of tick t is the
temporal-ensembling result over every stored chunk covering t
(act_policy_node.temporal_ensembler, the policy node's own function), or with `chunked`
the newest covering chunk's row; the sim holds it for one control period.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np

from act_policy_node.inference_worker import effective_query_period
from act_policy_node.temporal_ensembler import DEFAULT_M, Weighting, ensemble


@dataclass(frozen=True)
class RolloutConfig:
    """How the policy is run. query_period_ticks 0 means what it means to the policy node
    (act_policy_node.inference_worker.effective_query_period): the chunk size when chunked,
    every tick when ensembling."""

    query_period_ticks: int = 0
    weighting: Weighting = Weighting.CHUNKED
    ensemble_m: float = DEFAULT_M

    def __post_init__(self):
        if self.query_period_ticks < 0:
            raise ValueError(f'query_period_ticks must be >= 0 (0 = chunk size), got {self.query_period_ticks}')

    def period(self, chunk_size: int) -> int:
        period = effective_query_period(self.query_period_ticks, self.weighting is Weighting.CHUNKED, chunk_size)
        if period > chunk_size:
            raise ValueError(f'query_period_ticks {period} exceeds chunk_size {chunk_size}: ticks would have no target')
        return period


@dataclass
class RolloutResult:
    """One episode: the seed, the per-tick rewards, what the policy commanded."""

    seed: int
    success: bool  # the task's one success definition (act_sim.tasks.TaskSpec.success)
    rewards: np.ndarray  # (T,) reward after each tick
    commands: np.ndarray  # (T, Da) targets sent to the sim, robot units
    inference_s: list[float] = field(default_factory=list)

    @property
    def max_reward(self) -> float:
        return float(self.rewards.max()) if self.rewards.size else 0.0


def run_episode(policy, sim, renderer, seed: int, config: RolloutConfig = RolloutConfig(),
                steps: int | None = None) -> RolloutResult:
    """One lockstep episode of `policy` (an ActPolicy) in `sim` (an AlohaSim).

    renderer: an act_sim.rendering.CameraRenderer holding the policy's cameras. steps
    defaults to the task's episode length (400 ticks for both sim tasks).
    """
    chunk_size = policy.chunk_size
    period = config.period(chunk_size)
    steps = sim.task.episode_length if steps is None else steps
    sim.reset(seed)
    # covering[t]: rows proposed for tick t by every chunk covering it, oldest first.
    covering: list[list[np.ndarray]] = [[] for _ in range(steps + chunk_size)]
    rewards = np.zeros(steps)
    commands = np.zeros((steps, policy.action_dim))
    inference_s = []
    for tick in range(steps):
        if tick % period == 0:
            images = {name: renderer.render(sim.data, name) for name in policy.camera_names}
            started = time.perf_counter()
            chunk = policy.predict_chunk(images, sim.state_vector())  # (S, Da)
            inference_s.append(time.perf_counter() - started)
            for row in range(chunk_size):
                covering[tick + row].append(chunk[row])
        commands[tick] = ensemble(np.stack(covering[tick]), config.ensemble_m, config.weighting)
        covering[tick] = []
        rewards[tick] = sim.step(commands[tick])
    return RolloutResult(seed=seed, success=sim.task.episode_success(rewards), rewards=rewards, commands=commands,
                         inference_s=inference_s)


def evaluate(checkpoint: str, task: str, seeds: list[int], config: RolloutConfig = RolloutConfig(),
             render_settings=None, camera_size: tuple[int, int] = (480, 640), precision: str = 'auto',
             device: str = 'cpu') -> list[RolloutResult]:
    """Loads the checkpoint once and runs one lockstep episode per seed, in this process.

    render_settings: an act_sim.rendering.RenderSettings; None uses the checkpoint's (how its
    training episodes were rendered, as `act eval` does), else RenderSettings().
    camera_size: (H, W) the cameras render at: the recording's size, never the model's.
    A frame rendered small is not the frame rendered large and then downsampled as
    training did (edges alias differently), and the policy must see what it trained on.
    """
    from act_sim.rendering import CameraRenderer, CameraSpec, RenderSettings
    from act_sim.sim import AlohaSim
    from act_training.policy import ActPolicy

    policy = ActPolicy.load(checkpoint, device=device, precision=precision)
    sim = AlohaSim(task)
    height, width = camera_size
    cameras = [CameraSpec(name, height, width) for name in policy.camera_names]
    if render_settings is None:
        from act_training.train.checkpoint import load_checkpoint_dataset

        recorded = load_checkpoint_dataset(checkpoint).render_settings
        render_settings = RenderSettings.from_dict(recorded) if recorded is not None else RenderSettings()
    renderer = CameraRenderer(sim.model, cameras, render_settings)
    try:
        return [run_episode(policy, sim, renderer, seed, config) for seed in seeds]
    finally:
        renderer.close()
