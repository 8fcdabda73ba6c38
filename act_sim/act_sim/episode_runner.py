"""Scripted episodes over ROS: reset the sim, play a demo's rows, judge the outcome.

The runner talks to a running sim_node only through its interface: the /sim/reset
service, the /sim/task_reward topic and the clock stamps. The rows reach the robot through
a trajectory player node (act_sim.scripted_leader): the direct player (follower command
topics) or the scripted leader (leader joint states, mirrored by teleop), whichever the
caller built; that choice is the `command_path` of `act sim`.

An episode succeeds when the task's highest reward was reached at some step
(TaskSpec.success, the one definition; the sim's TaskReward carries it). It is kept as a
demonstration only when it is also usable: the objects are still held at the last step
(TaskSpec.demo_is_usable). Demos whose end-effector run was not usable are not played, and
unusable episodes are reported as not kept, unless `keep_failed` is set (the original
recorder kept everything).
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from typing import Iterable, Iterator, Protocol

from act_msgs.msg import TaskReward
from act_msgs.srv import ResetSim
from rclpy.callback_groups import MutuallyExclusiveCallbackGroup
from rclpy.node import Node

from act_common.errors import ActError
from act_common.interfaces import SIM_RESET_SERVICE, TASK_REWARD_TOPIC
from act_common.qos import EPISODE_FOLLOW_QOS
from act_common.robot_config import RobotConfig
from act_common.ros_time import stamp_to_ns
from act_common.service_calls import call, wait_until_answering
from act_sim.ee_sim import EndEffectorSim
from act_sim.robot_binding import bind_robot, scene_to_config_vector
from act_sim.scripted import ScriptedDemo, generate_demo
from act_sim.tasks import task_spec


# Not a task name (no task has spaces): the sim refuses it and resets nothing.
RESET_PROBE_TASK = 'not a task: a probe of the reset service'


class EpisodeError(ActError, RuntimeError):
    """The sim did not answer as expected (no reset service, no reward, timeout)."""


class EpisodeMonitorNode(Node):
    """A client's view of the sim's episodes: reset one, follow its steps and reward.

    For anything that runs episodes against sim_node (the scripted runner here, `act eval`):
    `reset_episode(task, seed)` resets and returns the new episode's first TaskReward (its
    stamp is the sim time of step 0); `wait_for_step(seed, step)` returns the TaskReward of
    a later step, which carries the highest reward so far and success. TaskReward comes
    with act_common.qos.REWARD_QOS; this node follows it with EPISODE_FOLLOW_QOS: every
    step from its start on, no history from before it.
    """

    def __init__(self, **node_kwargs):
        super().__init__('scripted_episodes', **node_kwargs)
        group = MutuallyExclusiveCallbackGroup()
        self.reset_client = self.create_client(ResetSim, SIM_RESET_SERVICE, callback_group=group)
        self._reset_answers = False  # True once one request has been answered
        self._rewards: list[TaskReward] = []
        self._changed = threading.Condition()
        self.create_subscription(TaskReward, TASK_REWARD_TOPIC, self._on_reward, EPISODE_FOLLOW_QOS,
                                 callback_group=group)

    def _on_reward(self, msg: TaskReward) -> None:
        with self._changed:
            self._rewards.append(msg)
            del self._rewards[:-1000]
            self._changed.notify_all()

    def clear(self) -> None:
        with self._changed:
            self._rewards.clear()

    def reset_episode(self, task: str, seed: int, timeout_s: float = 30.0) -> TaskReward:
        """Resets the sim (task '' keeps the current one) and returns step 0's reward."""
        if not self._reset_answers:
            # A request that only names an unknown task, until one answer proves the reset
            # service's responses reach this node (act_common.service_calls says why).
            probe = ResetSim.Request(task=RESET_PROBE_TASK, seed=0)
            if wait_until_answering(self.reset_client, probe, timeout_s) is None:
                raise EpisodeError(f'no answer from the {SIM_RESET_SERVICE} service within {timeout_s} s: '
                                   'is sim_node running?')
            self._reset_answers = True
        self.clear()
        response = call(self.reset_client, ResetSim.Request(task=task, seed=seed), timeout_s)
        if response is None:
            raise EpisodeError(f'{SIM_RESET_SERVICE} did not answer within {timeout_s} s')
        if response.result != ResetSim.Response.RESULT_OK:
            raise EpisodeError(f'{SIM_RESET_SERVICE} failed: {response.message}')
        first = self.wait_for_reward(lambda msg: (not task or msg.task == task) and msg.seed == seed and msg.step == 0,
                                     timeout_s)
        if first is None:
            raise EpisodeError(f'no {TASK_REWARD_TOPIC} for step 0 of {task or "the task"} seed {seed} after the reset')
        return first

    def received(self, seed: int) -> list[TaskReward]:
        """The rewards received since the last reset for the episode with `seed`."""
        with self._changed:
            return [msg for msg in self._rewards if msg.seed == seed]

    def wait_for_step(self, seed: int, step: int, timeout_s: float) -> TaskReward | None:
        """The reward of the episode with `seed` at `step` or later; None on timeout."""
        return self.wait_for_reward(lambda msg: msg.seed == seed and msg.step >= step, timeout_s)

    def wait_for_reward(self, accept, timeout_s: float) -> TaskReward | None:
        """The first stored reward (since clear) for which `accept(msg)` holds."""
        deadline = time.monotonic() + timeout_s
        with self._changed:
            while True:
                for msg in self._rewards:
                    if accept(msg):
                        return msg
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return None
                self._changed.wait(timeout=remaining)


class RowPlayer(Protocol):
    """What plays a demo's rows to the robot: act_sim.scripted_leader's TrajectoryPlayerNode
    (the direct player or the scripted leader). A protocol, so that this module does not
    import the players, whose `scripted_leader` executable runs episodes through it."""

    def play(self, rows, start_ns: int | None = None) -> None: ...

    def stop(self) -> None: ...


class EpisodeHooks(Protocol):
    """Called around each played episode, e.g. to start and stop a recorder."""

    def begin(self, demo: ScriptedDemo) -> None: ...

    def end(self, demo: ScriptedDemo, result: 'EpisodeResult') -> None: ...


@dataclass(frozen=True)
class EpisodeRunnerConfig:
    # Wall-clock limits: the reset (a task change loads a scene), and one episode (the sim
    # may run slower than real time, e.g. while rendering four cameras).
    reset_timeout_s: float = 30.0
    episode_timeout_s: float = 300.0
    # Keep (report as kept) episodes that failed, as the original recorder did.
    keep_failed: bool = False

    def __post_init__(self):
        if self.reset_timeout_s <= 0 or self.episode_timeout_s <= 0:
            raise ValueError(f'timeouts must be > 0, got reset {self.reset_timeout_s} s, episode {self.episode_timeout_s} s')


@dataclass(frozen=True)
class EpisodeResult:
    task: str
    seed: int
    # The end-effector run was usable (the demo was worth playing).
    demo_usable: bool
    played: bool
    # Played through ROS: the highest reward reached at some step (TaskSpec.success).
    success: bool
    # ... and the objects still held at the last step (TaskSpec.demo_is_usable): worth keeping.
    usable: bool
    episode_max_reward: float
    final_reward: float
    steps: int
    wall_s: float
    kept: bool

    def summary(self) -> str:
        if not self.played:
            return f'{self.task} seed {self.seed}: end-effector demo not usable, not played'
        verdict = 'success' if self.success else 'FAILED'
        if self.success and not self.usable:
            verdict += ', not held at the end'
        return (f'{self.task} seed {self.seed}: {verdict} (max reward {self.episode_max_reward:g}, final '
                f'{self.final_reward:g}, {self.steps} steps in {self.wall_s:.1f} s), {"kept" if self.kept else "discarded"}')


class ScriptedEpisodeRunner:
    """Plays scripted demos on the sim through ROS, one episode at a time."""

    def __init__(self, monitor: EpisodeMonitorNode, player: RowPlayer, robot: RobotConfig,
                 config: EpisodeRunnerConfig = EpisodeRunnerConfig(), hooks: EpisodeHooks | None = None):
        self.monitor = monitor
        self.player = player
        self.robot = robot
        self.config = config
        self.hooks = hooks
        self._bindings = bind_robot(robot)

    def play(self, demo: ScriptedDemo) -> EpisodeResult:
        """Resets the sim to the demo's seed, plays its rows, and judges the last step."""
        spec = task_spec(demo.task)
        started = time.monotonic()
        first = self.monitor.reset_episode(demo.task, demo.seed, self.config.reset_timeout_s)
        if self.hooks is not None:
            self.hooks.begin(demo)
        rows = [scene_to_config_vector(self._bindings, row) for row in demo.joint_targets]
        self.player.play(rows, stamp_to_ns(first.header.stamp))
        length = len(rows)
        last = self.monitor.wait_for_step(demo.seed, length, self.config.episode_timeout_s)
        self.player.stop()
        if last is None:
            raise EpisodeError(f'{demo.task} seed {demo.seed}: step {length} not reached within '
                               f'{self.config.episode_timeout_s} s of wall time')
        success = spec.success(last.episode_max_reward)
        usable = success and spec.held_at_end(last.reward)
        result = EpisodeResult(
            task=demo.task, seed=demo.seed, demo_usable=demo.usable, played=True, success=success, usable=usable,
            episode_max_reward=last.episode_max_reward, final_reward=last.reward, steps=int(last.step),
            wall_s=time.monotonic() - started, kept=usable or self.config.keep_failed)
        if self.hooks is not None:
            self.hooks.end(demo, result)
        return result


def run_scripted_episodes(runner: ScriptedEpisodeRunner, task: str, seeds: Iterable[int]) -> Iterator[EpisodeResult]:
    """Generates and plays one scripted episode per seed."""
    scene = EndEffectorSim(task)  # loaded once, reset per demo
    for seed in seeds:
        demo = generate_demo(task, seed, scene)
        if demo.usable or runner.config.keep_failed:
            yield runner.play(demo)
        else:
            yield EpisodeResult(task=task, seed=seed, demo_usable=False, played=False, success=False, usable=False,
                                episode_max_reward=float(demo.rewards.max()), final_reward=float(demo.rewards[-1]),
                                steps=0, wall_s=0.0, kept=False)
