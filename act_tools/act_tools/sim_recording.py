"""Recording scripted demonstrations in simulation, through the same path as a person:
scripted leader arms -> teleop -> simulated followers, recorded by the episode recorder.

`record_sim_episodes(SimRecordingConfig) -> list[EpisodeRecord]` runs act_sim's sim_node
and scripted leader, act_teleop's teleop and recorder nodes in one process (a NodeSet,
parameters from config/sim.yaml, teleop.yaml and recorder.yaml), and for each seed:
resets the sim with the seed, generates the scripted demo, starts the recorder and
teleop (a soft start from the home pose), plays the demo's rows as LEADER joint states,
and stops the recorder with success = the sim's task success. Failed episodes are
discarded unless keep_failed. `act record --sim` is the command line of it.

The sim runs in lockstep (real_time_factor 0): it steps as soon as teleop has commanded
each arm, so the recording is as dense as at real time however loaded the machine is.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from act_common.episode_format import EpisodeRecord
from act_common.errors import ConfigurationError, require_choice
from act_teleop.camera_compression import CAMERA_COMPRESSIONS


@dataclass(frozen=True)
class SimRecordingConfig:
    task: str
    # Episodes to keep (successful ones unless keep_failed).
    episodes: int
    output_dir: Path
    cameras: tuple[str, ...] = ('top',)
    seed_start: int = 0
    keep_failed: bool = False
    storage_id: str = 'mcap'
    robot: str = 'aloha_sim'
    # Seeds to try at most; None = 2 * episodes + 3.
    max_attempts: int | None = None
    # 0 = lockstep, as fast as the machine allows; 1 = real time.
    real_time_factor: float = 0.0
    # Cameras stored as: none (raw sensor_msgs/Image), png (lossless) or jpeg (the recorder's camera_compression).
    camera_compression: str = 'none'
    # Extra parameters per node, on top of the YAML files: {'teleop': {...}, 'recorder': {...}, 'sim_node': {...}}.
    overrides: dict = field(default_factory=dict)

    def __post_init__(self):
        if self.episodes < 1:
            raise ConfigurationError(f'episodes must be >= 1, got {self.episodes}')
        if not self.cameras:
            raise ConfigurationError('cameras must name at least one camera')
        if self.max_attempts is not None and self.max_attempts < self.episodes:
            raise ConfigurationError(f'max_attempts ({self.max_attempts}) must be >= episodes ({self.episodes})')
        require_choice('camera_compression', self.camera_compression, CAMERA_COMPRESSIONS)
        if self.real_time_factor < 0:
            raise ConfigurationError(f'real_time_factor must be >= 0, got {self.real_time_factor}')

    @property
    def attempts(self) -> int:
        return self.max_attempts if self.max_attempts is not None else 2 * self.episodes + 3


class _RecorderHooks:
    """Starts teleop and the recorder after each reset; stops them after the last row."""

    def __init__(self, recorder, teleop, render_settings: dict):
        self.recorder, self.teleop = recorder, teleop
        self.render_settings = render_settings
        self.records: list[EpisodeRecord] = []

    def begin(self, demo) -> None:
        # The episode remembers how its frames were rendered (training and `act eval` read it).
        self.recorder.start_episode(demo.task, -1, demo.seed, render_settings=self.render_settings)
        self.teleop.start_mirroring()

    def end(self, demo, result) -> None:
        self.teleop.stop_mirroring()
        record = self.recorder.stop_episode(success=result.success, discard=not result.kept)
        if result.kept:
            self.records.append(record)


def record_sim_episodes(config: SimRecordingConfig, on_episode: Callable[[object, bool], None] | None = None
                        ) -> list[EpisodeRecord]:
    """Records until `episodes` are kept or `attempts` seeds were tried; returns the kept
    episodes' records. on_episode(result, kept) is called after every seed (progress)."""
    from act_sim.episode_runner import EpisodeMonitorNode, EpisodeRunnerConfig, ScriptedEpisodeRunner, run_scripted_episodes
    from act_sim.scripted_leader import ScriptedLeaderNode
    from act_sim.sim_node import SimNode
    from act_teleop.recorder_node import RecorderNode
    from act_teleop.teleop_node import TeleopNode

    from act_common.node_set import NodeSet, NodeSpec
    from act_common.config_paths import robot_config_path
    from act_tools.paths import node_params_path

    robot = str(robot_config_path(config.robot))
    cameras = list(config.cameras)
    extra = config.overrides
    specs = [
        NodeSpec(SimNode, node_params_path('sim'), {'robot_config': robot, 'task': config.task, 'cameras': cameras,
                                                    'seed': config.seed_start, 'real_time_factor': config.real_time_factor,
                                                    **extra.get('sim_node', {})}),
        NodeSpec(ScriptedLeaderNode, node_params_path('sim'), {'robot_config': robot, 'use_sim_time': True}),
        NodeSpec(EpisodeMonitorNode),
        NodeSpec(TeleopNode, node_params_path('teleop'), {'robot_config': robot, 'use_sim_time': True, 'autostart': False,
                                                          **extra.get('teleop', {})}),
        NodeSpec(RecorderNode, node_params_path('recorder'), {
            'robot_config': robot, 'use_sim_time': True, 'output_dir': str(config.output_dir), 'cameras': cameras,
            'storage_id': config.storage_id, 'camera_compression': config.camera_compression,
            **extra.get('recorder', {})}),
    ]
    # Callbacks of all these nodes only store or enqueue: one thread spins them fastest.
    with NodeSet(specs, threads=1) as nodes:
        nodes.spin_in_background()
        leader = nodes.node(ScriptedLeaderNode)
        teleop = nodes.node(TeleopNode)
        hooks = _RecorderHooks(nodes.node(RecorderNode), teleop, nodes.node(SimNode).render_settings.to_dict())
        runner = ScriptedEpisodeRunner(nodes.node(EpisodeMonitorNode), leader, leader.robot,
                                       EpisodeRunnerConfig(keep_failed=config.keep_failed), hooks=hooks)
        seeds = range(config.seed_start, config.seed_start + config.attempts)
        for result in run_scripted_episodes(runner, config.task, seeds):
            if on_episode is not None:
                on_episode(result, result.kept and result.played)
            if len(hooks.records) >= config.episodes:
                break
        return hooks.records
