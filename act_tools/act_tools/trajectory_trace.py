"""What the policy commanded next to what the robot did, over one episode.

The policy node publishes every ensembled command on the robot's action topic
(sensor_msgs/JointState, the state/action vector's names); the followers publish their
joint states. TrajectoryTraceNode keeps both, stamped with the node's clock (sim time in
evaluation), so `act demo` can plot predicted vs executed joint trajectories. Stored as
an .npz of plain float arrays (no pickle).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
from rclpy.callback_groups import MutuallyExclusiveCallbackGroup
from rclpy.node import Node
from sensor_msgs.msg import JointState

from act_common.joint_vectors import JointStateError, follower_vector
from act_common.qos import COMMAND_QOS, SENSOR_QOS
from act_common.robot_config import RobotConfig


@dataclass(frozen=True)
class Trajectory:
    names: tuple[str, ...]  # the action vector's entries, D of them
    command_t: np.ndarray  # (N,) seconds since the first sample of either stream
    command: np.ndarray  # (N, D) what the policy commanded
    measured_t: np.ndarray  # (M,)
    measured: np.ndarray  # (M, D) follower positions; NaN in arms that had not reported at that time

    def save(self, path: Path) -> Path:
        path.parent.mkdir(parents=True, exist_ok=True)
        np.savez(path, names=np.array(self.names), command_t=self.command_t, command=self.command,
                 measured_t=self.measured_t, measured=self.measured)
        return path

    @classmethod
    def load(cls, path: Path) -> 'Trajectory':
        with np.load(path, allow_pickle=False) as data:
            return cls(tuple(str(n) for n in data['names']), data['command_t'], data['command'],
                       data['measured_t'], data['measured'])


class TrajectoryTraceNode(Node):
    """Subscribes to the robot's action topic and follower joint states once watch() is
    called; records between start() and take()."""

    def __init__(self, **node_kwargs):
        super().__init__('act_trajectory_trace', **node_kwargs)
        self._robot: RobotConfig | None = None
        self._commands: list[tuple[int, np.ndarray]] | None = None
        self._measured: list[tuple[int, np.ndarray]] = []
        self._latest: np.ndarray | None = None

    def watch(self, robot: RobotConfig) -> None:
        self._robot = robot
        group = MutuallyExclusiveCallbackGroup()
        self.create_subscription(JointState, robot.action_topic, self._on_command, COMMAND_QOS, callback_group=group)
        for arm in robot.arms:
            self.create_subscription(JointState, arm.follower.joint_states_topic,
                                     lambda msg, arm=arm: self._on_joint_state(arm, msg), SENSOR_QOS,
                                     callback_group=group)

    def start(self) -> None:
        self._latest = np.full(self._robot.vector_size, np.nan)
        self._measured = []
        self._commands = []

    def _now_ns(self) -> int:
        return self.get_clock().now().nanoseconds

    def _on_command(self, msg: JointState) -> None:
        if self._commands is None:
            return
        if list(msg.name) != list(self._robot.vector_names) or len(msg.position) != self._robot.vector_size:
            self.get_logger().warning(f'{self._robot.action_topic}: unexpected names {list(msg.name)}; not traced',
                                      throttle_duration_sec=5.0)
            return
        self._commands.append((self._now_ns(), np.asarray(msg.position, dtype=np.float64)))

    def _on_joint_state(self, arm, msg: JointState) -> None:
        if self._commands is None:
            return
        try:
            vector = follower_vector(arm, msg.name, msg.position)
        except JointStateError:
            return  # a partial joint state: the policy node reports those; the plot just skips it
        self._latest[self._robot.arm_slices()[arm.name]] = vector
        self._measured.append((self._now_ns(), self._latest.copy()))

    def take(self) -> Trajectory:
        """The trace since start(); recording stops."""
        commands, measured = self._commands or [], self._measured
        self._commands, self._measured = None, []
        stamps = [t for t, _ in commands] + [t for t, _ in measured]
        origin = min(stamps) if stamps else 0
        size = self._robot.vector_size

        def arrays(samples):
            times = np.array([(t - origin) * 1e-9 for t, _ in samples], dtype=np.float64)
            values = np.array([v for _, v in samples], dtype=np.float64).reshape(len(samples), size)
            return times, values

        command_t, command = arrays(commands)
        measured_t, measured_values = arrays(measured)
        return Trajectory(tuple(self._robot.vector_names), command_t, command, measured_t, measured_values)
