"""Closed-loop evaluation of a checkpoint on the simulated ALOHA, over ROS (`act eval`).

    report = evaluate(EvalConfig(checkpoint='runs/cube/best', task='transfer_cube', episodes=50))

The robot is act_sim's `sim_node` in its own process, as a real robot's drivers would be;
the policy node and act_sim's episode monitor (reset service, rewards) run in this
process. The separate process keeps the simulator's rendering and physics off this
process's GIL, so the policy's control loop is timed as it would be next to real
hardware, and the figures (deadline misses, latency) mean the same as on a robot.
Messages cross processes over DDS (loopback, shared memory for the camera images: see
act_bringup/config/fastdds_large_data.xml).

Each episode: deactivate the policy; reset the sim with the episode's seed (robot home,
objects at the seeded pose); wait for the first state of the episode; activate the policy
(it starts from the measured position, with no chunk from the previous episode); run
`episode_steps` control steps of sim time; deactivate. The policy node runs on the sim's
clock (use_sim_time), so its 50 Hz control ticks are sim ticks. Two modes
(act_common.success_rate.EVAL_MODES), stated with every figure:
- `realtime` (the deployment figure): the sim paces itself to the wall clock
  (real_time_factor, 1.0 = real time); inference latency costs sim time as it would on
  the robot; a factor below 1 gives a slow computer the time a faster one has.
- `lockstep` (the paper's protocol): sim_node runs with real_time_factor 0 and waits for
  the command of every tick; the policy node (its `lockstep` parameter) commands a tick on
  which a query is due only once the chunk of that tick's observation is in. Inference
  latency costs no sim time and the figure does not depend on the machine's speed: the
  same commands as act_bringup.lockstep_rollout's plain-Python loop.

Success is the paper's sim criterion, defined once in act_sim.tasks.TaskSpec.success: the
task's maximum reward was reached at some step of the episode. The rate is reported with
its 95 % Wilson interval, the episode count and the seeds (act_common.success_rate).

Rendering: the sim renders with the checkpoint's render settings (the ones its training
episodes were recorded with, carried from episode.json through the HDF5 attributes into
the checkpoint's dataset info); `sim_parameters` that differ are used, with a warning.

Seeds: episode i uses seed seed_start + i. Training demonstrations are recorded from seed
0 upward (`act record --seed-start 0`, the default, tries seeds 0 .. 2N+2 for N episodes;
`act sim --seed 0`), so evaluation starts at EVAL_SEED_START = 100000 by default and never
meets a training scene unless a data set was recorded from that high a seed.
"""

from __future__ import annotations

import json
import math
import os
import subprocess
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Callable, Mapping

import numpy as np
from rclpy.callback_groups import MutuallyExclusiveCallbackGroup
from rclpy.lifecycle import TransitionCallbackReturn
from rclpy.node import Node
from sensor_msgs.msg import Image

from act_common.errors import ActError, ConfigurationError
from act_common.image_encoding import image_msg_to_rgb
from act_common.qos import SENSOR_QOS
from act_common.ros_time import stamp_to_ns
from act_common.success_rate import EVAL_MODES, SuccessRate

EVAL_SEED_START = 100_000
# Lockstep: the longest the sim waits for one command (an inference, wall time), seconds.
LOCKSTEP_TIMEOUT_S = 30.0
# Frames are stored at half the camera resolution: 400 full 480x640 frames would hold
# 370 MB per episode in memory until the video is written.
VIDEO_DOWNSCALE = 2


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
    # (output_dir/trajectory_episode<index>.npz, see act_bringup.trajectory_trace).
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

    def to_dict(self) -> dict:
        return {
            'checkpoint': self.checkpoint, 'model_id': self.model_id, 'task': self.task,
            'episodes_run': len(self.episodes), 'seeds': self.seeds, 'episode_steps': self.episode_steps,
            'mode': self.mode, 'real_time_factor': self.real_time_factor if self.mode == 'realtime' else 0.0,
            'device': self.device, 'policy_parameters': self.policy_parameters,
            'render_settings': self.render_settings,
            'success_rate': self.success_rate,
            'success': {**self.success.to_dict(), 'text': self.success.describe()} if self.episodes else None,
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
        success = self.success.describe() if self.episodes else 'no episodes'
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


class EvalVideoNode(Node):
    """Keeps the frames of one camera during an episode, for its mp4 (only with --video).

    Resets and rewards go through act_sim's EpisodeMonitorNode, the sim's episode API."""

    def __init__(self, **node_kwargs):
        super().__init__('act_eval_video', **node_kwargs)
        self._frames: list[tuple[int, np.ndarray]] | None = None  # (stamp ns, frame)
        self._subscription = None

    def record_camera(self, topic: str) -> None:
        self._subscription = self.create_subscription(
            Image, topic, self._on_frame, SENSOR_QOS, callback_group=MutuallyExclusiveCallbackGroup())

    def matched(self) -> bool:
        """True once the camera's publisher is matched."""
        return self._subscription is not None and self._subscription.get_publisher_count() > 0

    def _on_frame(self, msg: Image) -> None:
        frames = self._frames
        if frames is not None:
            frame = image_msg_to_rgb(msg)[::VIDEO_DOWNSCALE, ::VIDEO_DOWNSCALE].copy()
            frames.append((stamp_to_ns(msg.header.stamp), frame))

    def start_frames(self) -> None:
        self._frames = []

    def take_frames(self) -> list[tuple[int, np.ndarray]]:
        frames, self._frames = self._frames or [], None
        return frames


class SimProcess:
    """`sim_node` in its own process with launch-style parameters; its output goes to a log."""

    def __init__(self, parameters: Mapping[str, Any], log_path: Path):
        from ament_index_python.packages import get_package_prefix

        from act_bringup.node_set import NodeSpec, ros_arguments
        from act_bringup.paths import node_params_path

        executable = Path(get_package_prefix('act_sim')) / 'lib' / 'act_sim' / 'sim_node'
        arguments = ros_arguments(NodeSpec(node_class=None, params_file=node_params_path('sim'), overrides=parameters))
        log_path.parent.mkdir(parents=True, exist_ok=True)
        self.log_path = log_path
        self._log = open(log_path, 'w')
        self.process = subprocess.Popen([str(executable), *arguments], stdout=self._log, stderr=subprocess.STDOUT,
                                        env={**os.environ, 'PYTHONUNBUFFERED': '1'})

    def check_alive(self) -> None:
        if self.process.poll() is not None:
            tail = self.log_path.read_text()[-2000:]
            raise EvalError(f'sim_node exited with code {self.process.returncode}; its log ({self.log_path}) ends:\n{tail}')

    def close(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self._log.close()


def frames_on_grid(stamped: list[tuple[int, np.ndarray]], period_ns: int) -> list[np.ndarray]:
    """One frame per control period from the first stamp to the last: a frame dropped on
    the way (camera topics are best effort) repeats the one before, so the video keeps
    the episode's timing."""
    if not stamped:
        return []
    stamped = sorted(stamped, key=lambda item: item[0])
    first, last = stamped[0][0], stamped[-1][0]
    frames, index = [], 0
    for tick_ns in range(first, last + 1, period_ns):
        while index + 1 < len(stamped) and stamped[index + 1][0] <= tick_ns + period_ns // 2:
            index += 1
        frames.append(stamped[index][1])
    return frames


def write_video(path: Path, frames: list[np.ndarray], fps: float) -> Path:
    import imageio.v2 as imageio

    path.parent.mkdir(parents=True, exist_ok=True)
    with imageio.get_writer(path, fps=fps, codec='libx264', macro_block_size=8, quality=7) as writer:
        for frame in frames:
            writer.append_data(frame)
    return path


def evaluate(config: EvalConfig, progress: Callable[[str], None] = print,
             on_episode: Callable[[EpisodeOutcome], None] | None = None) -> EvalReport:
    """Runs config.episodes closed-loop episodes and returns (and writes) the report.
    progress(line) tells what is happening; on_episode(outcome) follows each episode."""
    from act_bringup.node_set import NodeSet, NodeSpec
    from act_bringup.paths import node_params_path, robot_config_path, use_large_data_dds_profile
    from act_policy_node.policy_node import PolicyNode
    from act_sim.episode_runner import EpisodeMonitorNode
    from act_sim.tasks import task_spec

    from act_bringup.trajectory_trace import TrajectoryTraceNode

    use_large_data_dds_profile()  # camera images to this process; the sim process inherits it
    spec = task_spec(config.task)
    steps = config.episode_steps or spec.episode_length
    robot_path = str(robot_config_path(config.robot))
    lockstep = config.mode == 'lockstep'
    # Lockstep: all of a step's messages carry one stamp, so an observation is never a mix
    # of two steps (max_skew_s 0).
    mode_parameters = {'lockstep': True, 'max_skew_s': 0.0} if lockstep else {}
    policy_parameters = {**dict(config.policy_parameters), **mode_parameters, 'robot_config': robot_path,
                         'checkpoint': str(config.checkpoint), 'device': config.device, 'use_sim_time': True}
    specs = [NodeSpec(PolicyNode, params_file=node_params_path('policy'), overrides=policy_parameters),
             NodeSpec(EpisodeMonitorNode)]
    if config.video_dir is not None:
        specs.append(NodeSpec(EvalVideoNode))
    if config.trace_episodes:
        specs.append(NodeSpec(TrajectoryTraceNode, overrides={'use_sim_time': True}))
    # Store-only callbacks: one executor thread serves them fastest (see PolicyNode).
    with NodeSet(specs, threads=1) as nodes:
        nodes.spin_in_background()
        policy: PolicyNode = nodes.node(PolicyNode)
        monitor: EpisodeMonitorNode = nodes.node(EpisodeMonitorNode)
        video: EvalVideoNode | None = nodes.node(EvalVideoNode) if config.video_dir is not None else None
        trace: TrajectoryTraceNode | None = nodes.node(TrajectoryTraceNode) if config.trace_episodes else None
        progress(f'loading {config.checkpoint} on {config.device}')
        if policy.trigger_configure() != TransitionCallbackReturn.SUCCESS:
            raise EvalError(f'the policy node refused the checkpoint: {policy.status_detail}')
        cameras = [camera.name for camera in policy.camera_configs.values()]
        video_camera = config.video_camera or cameras[0]
        if video is not None and video_camera not in cameras:
            cameras.append(video_camera)
        render = eval_render_settings(config.checkpoint, config.sim_parameters, progress)
        _warn_on_camera_size(config.checkpoint, policy.camera_configs, progress)
        # The sim starts on a seed no episode uses, so that nothing it publishes before the
        # first reset can pass for that episode's first step. In lockstep it waits for each
        # command as long as an inference can take.
        timing = ({'real_time_factor': 0.0, 'lockstep_timeout_s': LOCKSTEP_TIMEOUT_S} if lockstep
                  else {'real_time_factor': config.real_time_factor})
        sim_parameters = {**dict(config.sim_parameters), **render, 'robot_config': robot_path,
                          'task': config.task, 'seed': config.seed_start + config.episodes, 'cameras': cameras,
                          **timing}
        output_dir = config.output_dir
        sim = SimProcess(sim_parameters, output_dir / 'sim_node.log')
        try:
            if video is not None:
                video.record_camera(policy.robot.camera(video_camera).topic)
            if trace is not None:
                trace.watch(policy.robot)
            # In lockstep the sim publishes a step only after a command (or a reset): a reset
            # repeats the first state for subscribers that discovery matched late.
            refresh = (lambda: monitor.reset_episode(config.task, config.seed_start + config.episodes,
                                                     config.startup_timeout_s)) if lockstep else None
            _wait_for_streams(policy, video, sim, config.startup_timeout_s, refresh)
            report = EvalReport(
                checkpoint=str(config.checkpoint), model_id=policy.policy.model_id, task=config.task,
                seeds=list(config.seeds), episode_steps=steps, mode=config.mode,
                real_time_factor=config.real_time_factor, device=config.device,
                policy_parameters=dict(config.policy_parameters), render_settings=render, episodes=[])
            pacing = 'lockstep (sim waits for the policy)' if lockstep else \
                f'realtime (real-time factor {config.real_time_factor:g})'
            progress(f'evaluating {policy.policy.model_id} on {config.task}: {config.episodes} episodes of {steps} '
                     f'steps, seeds {config.seed_start}..{config.seed_start + config.episodes - 1}, {pacing}, '
                     f'render {render}')
            for index, seed in enumerate(config.seeds):
                filmed = video if config.video_episodes is None or index < config.video_episodes else None
                traced = trace if index < config.trace_episodes else None
                outcome = _run_episode(config, index, seed, steps, spec.max_reward, policy, monitor, filmed, traced, sim)
                report.episodes.append(outcome)
                progress(f'episode {index} seed {seed}: {"success" if outcome.success else "failure"} '
                         f'(max reward {outcome.episode_max_reward:g}, {outcome.policy["chunks_computed"]} chunks, '
                         f'{outcome.wall_s:.1f} s)')
                report.write_json(output_dir / f'{config.task}_results.json')
                if on_episode is not None:
                    on_episode(outcome)
        finally:
            sim.close()
    return report


def eval_render_settings(checkpoint: Path, sim_parameters: Mapping[str, Any],
                         warn: Callable[[str], None] = print) -> dict:
    """The render settings to evaluate with: the checkpoint's (those of its training
    episodes), each overridden by sim_parameters with a warning when it differs.

    A checkpoint whose episodes did not record them (older data, real cameras) gets
    act_sim.rendering.RenderSettings' defaults, also with a warning. Returns
    RenderSettings.to_dict()."""
    from act_sim.rendering import RenderSettings
    from act_training.train.checkpoint import load_checkpoint_dataset

    recorded = load_checkpoint_dataset(checkpoint).render_settings
    if recorded is None:
        settings = RenderSettings().to_dict()
        warn(f'warning: {checkpoint} does not say how its training images were rendered; '
             f'evaluating with the default render settings {settings}')
    else:
        settings = RenderSettings.from_dict(recorded).to_dict()
    asked = {key: sim_parameters[key] for key in settings if key in sim_parameters}
    differing = {key: value for key, value in asked.items() if value != settings[key]}
    if differing and recorded is not None:
        warn(f'warning: rendering with {differing}, not as the training episodes of {checkpoint} were '
             f'({ {key: settings[key] for key in differing} }): the policy sees another scene than it learned')
    return RenderSettings.from_dict({**settings, **asked}).to_dict()


def _warn_on_camera_size(checkpoint: Path, cameras: Mapping[str, Any], warn: Callable[[str], None]) -> None:
    """Warns when the sim's cameras (the robot config's) render at another size than the
    training episodes' frames: downsampled as training did, a frame rendered small is not
    the same image."""
    from act_training.train.checkpoint import load_checkpoint_dataset

    recorded = load_checkpoint_dataset(checkpoint).camera_sizes
    for name, camera in cameras.items():
        size = recorded.get(name)
        if size is not None and tuple(size) != (camera.height, camera.width):
            warn(f'warning: camera {name} renders at {camera.height}x{camera.width}, the training episodes of '
                 f'{checkpoint} at {size[0]}x{size[1]}')


def _wait_for_streams(policy, video: EvalVideoNode | None, sim: SimProcess, timeout_s: float,
                      refresh: Callable[[], object] | None = None) -> None:
    """Until the policy has heard every camera and joint state topic, and the video
    subscription (if any) is matched: discovery across processes takes a second or two,
    and an episode must not start before its first frames can arrive. refresh(), if
    given, makes the sim publish again (every 2 s while something is silent)."""
    deadline = time.monotonic() + timeout_s
    silent: list[str] = []
    next_refresh = time.monotonic() + 2.0
    while time.monotonic() < deadline:
        sim.check_alive()
        silent = [topic for topic, stamp in policy.observation_stamps().items() if stamp is None]
        if not silent and (video is None or video.matched()):
            return
        if refresh is not None and time.monotonic() > next_refresh:
            refresh()
            next_refresh = time.monotonic() + 2.0
        time.sleep(0.1)
    raise EvalError(f'no messages from the sim on {silent or "the video camera"} within {timeout_s:g} s')


def _wait_for_first_observation(policy, stamp_ns: int, timeout_s: float, sim: SimProcess) -> None:
    """Lockstep: until the policy node's clock and every one of its inputs show the reset
    state (stamp_ns), so that its tick 0 is that state and its first query that observation.
    The sim waits for the first command meanwhile."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        stamps = policy.observation_stamps()
        if policy.get_clock().now().nanoseconds == stamp_ns and all(stamp == stamp_ns for stamp in stamps.values()):
            return
        sim.check_alive()
        time.sleep(0.002)
    raise EvalError(f'the policy did not receive the reset state (stamp {stamp_ns} ns) within {timeout_s:g} s: '
                    f'its inputs are at {policy.observation_stamps()}, its clock at {policy.get_clock().now().nanoseconds}')


def _run_episode(config: EvalConfig, index: int, seed: int, steps: int, max_reward: float, policy,
                 monitor, video: EvalVideoNode | None, trace, sim: SimProcess) -> EpisodeOutcome:
    from act_sim.episode_runner import EpisodeError
    from act_sim.tasks import task_spec

    sim.check_alive()
    if policy.is_active:
        policy.trigger_deactivate()
    started = time.monotonic()
    try:
        first = monitor.reset_episode(config.task, seed, config.startup_timeout_s)
    except EpisodeError as error:
        sim.check_alive()
        raise EvalError(str(error)) from error
    if config.mode == 'lockstep':
        _wait_for_first_observation(policy, stamp_to_ns(first.header.stamp), config.startup_timeout_s, sim)
    if video is not None:
        video.start_frames()
    if trace is not None:
        trace.start()
    if policy.trigger_activate() != TransitionCallbackReturn.SUCCESS:
        raise EvalError(f'the policy node did not activate: {policy.status_detail}')
    # Sim time runs at real_time_factor: allow 3x the nominal wall time, plus a margin; in
    # lockstep each tick may wait for an inference.
    if config.mode == 'lockstep':
        timeout_s = steps * LOCKSTEP_TIMEOUT_S + 30.0
    else:
        timeout_s = 3.0 * steps * policy.robot.control_period_s / config.real_time_factor + 30.0
    last = monitor.wait_for_step(seed, steps, timeout_s)
    policy.trigger_deactivate()
    frames = video.take_frames() if video is not None else []
    trajectory = trace.take() if trace is not None else None
    if last is None:
        sim.check_alive()
        raise EvalError(f'episode seed {seed}: step {steps} not reached within {timeout_s:.0f} s of wall time')
    video_path = None
    if frames:
        period_ns = round(policy.robot.control_period_s * 1e9)
        video_path = str(write_video(config.video_dir / f'{config.task}_episode{index:03d}_seed{seed}.mp4',
                                     frames_on_grid(frames, period_ns), fps=policy.robot.control_rate_hz))
    trace_path = None
    if trajectory is not None:
        trace_path = str(trajectory.save(config.output_dir / f'trajectory_episode{index:03d}.npz'))
    return EpisodeOutcome(
        index=index, seed=seed, success=task_spec(config.task).success(last.episode_max_reward),
        episode_max_reward=float(last.episode_max_reward), final_reward=float(last.reward), max_reward=max_reward,
        steps=int(last.step), wall_s=time.monotonic() - started, policy=policy.stats.report(), video=video_path,
        trace=trace_path)
