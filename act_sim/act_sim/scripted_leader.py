"""Nodes that play a joint trajectory one row per control tick of sim time.

- ScriptedLeaderNode (`scripted_leader`): stands in for a person with leader arms. It
  publishes each arm's LEADER joint states (sensor_msgs/JointState on the robot config's
  leader joint_states_topic, SENSOR_QOS: the arm joints and the leader gripper joint,
  the gripper denormalized with the leader calibration). The teleop node mirrors them
  onto the follower, exactly as with hardware.
- DirectPlayerNode: skips the leader and teleop. It publishes each arm's follower command
  (std_msgs/Float64MultiArray, COMMAND_QOS) and, as any commander does, the commanded
  targets on the robot config's action_topic (sensor_msgs/JointState named like the
  state vector). Used until the teleop node exists, and by tests and benchmarks.

Both run with use_sim_time: a timer at the control rate fires on every /clock tick and
publishes the row due at that time (act_sim.players). API: `load(rows)`, `start(start_ns)`
(or `play(rows, start_ns)`), `stop()`, and the `done` event. Starting publishes the row
due at once, so that a lockstep simulator waiting for it steps without delay.
Rows are in the robot config's vector order (RobotConfig.vector_names).

The console script runs scripted episodes against a running sim_node:
`ros2 run act_sim scripted_leader --ros-args -p robot_config:=... -p task:=transfer_cube
-p episodes:=5 -p use_sim_time:=true`.
"""

from __future__ import annotations

import threading

import numpy as np
from rcl_interfaces.msg import ParameterDescriptor
from rclpy.callback_groups import MutuallyExclusiveCallbackGroup
from rclpy.node import Node
from sensor_msgs.msg import JointState
from std_msgs.msg import Float64MultiArray

from act_common.qos import COMMAND_QOS, SENSOR_QOS
from act_common.robot_config import RobotConfig, load_robot_config
from act_common.ros_time import NS_PER_S, ns_to_sec_nanosec
from act_sim.episode_runner import EpisodeMonitorNode, ScriptedEpisodeRunner, run_scripted_episodes
from act_sim.players import TrajectoryPlayer, leader_joint_state


class TrajectoryPlayerNode(Node):
    """Plays rows on the sim clock; subclasses say what a row is published as."""

    def __init__(self, node_name: str, **node_kwargs):
        super().__init__(node_name, **node_kwargs)
        self.declare_parameter('robot_config', '', ParameterDescriptor(
            description='Path of the robot config YAML (act_common/config/robots/aloha_sim.yaml).', read_only=True))
        path = self.get_parameter('robot_config').value
        if not path:
            raise ValueError(f'{node_name}: parameter robot_config is empty: give the path of a robot config YAML')
        self.robot: RobotConfig = load_robot_config(path)
        if not self.get_parameter('use_sim_time').value:
            self.get_logger().warning('use_sim_time is false: rows follow the wall clock, not the simulator')
        self._player = TrajectoryPlayer(round(NS_PER_S / self.robot.control_rate_hz))
        self._loaded: np.ndarray | None = None
        self._lock = threading.Lock()
        self.done = threading.Event()
        self.done.set()
        self.rows_published = 0
        self.create_timer(self._player.period_ns / NS_PER_S, self._on_tick,
                          callback_group=MutuallyExclusiveCallbackGroup())

    def load(self, rows: np.ndarray) -> None:
        """Sets the trajectory (T, vector_size) that `start` plays."""
        rows = np.asarray(rows, dtype=np.float64)
        if rows.ndim != 2 or rows.shape[1] != self.robot.vector_size:
            raise ValueError(f'rows must be (T, {self.robot.vector_size}) for robot {self.robot.name!r}, got {rows.shape}')
        with self._lock:
            self._loaded = rows

    def start(self, start_ns: int | None = None) -> None:
        """Plays the loaded trajectory, row 0 due at sim time `start_ns` (None: now).

        `done` is set once the last row has been published (it acts during the next step).
        """
        with self._lock:
            if self._loaded is None:
                raise RuntimeError('no trajectory loaded: call load(rows) first')
            now_ns = self.get_clock().now().nanoseconds
            start_ns = now_ns if start_ns is None else int(start_ns)
            self._player.start(self._loaded, start_ns)
            self.done.clear()
            self.rows_published = 0
            self._publish_due(max(now_ns, start_ns))

    def play(self, rows: np.ndarray, start_ns: int | None = None) -> None:
        """load(rows) then start(start_ns)."""
        self.load(rows)
        self.start(start_ns)

    def stop(self) -> None:
        with self._lock:
            self._player.stop()
            self.done.set()

    def _on_tick(self) -> None:
        with self._lock:
            self._publish_due(self.get_clock().now().nanoseconds)

    def _publish_due(self, now_ns: int) -> None:
        due = self._player.due(now_ns)
        if due is not None:
            self.publish_row(due[1], now_ns)
            self.rows_published += 1
        if not self._player.playing:
            self.done.set()

    def publish_row(self, row: np.ndarray, now_ns: int) -> None:
        raise NotImplementedError

    def _arm_rows(self, row: np.ndarray):
        for arm, part in zip(self.robot.arms, np.split(row, np.cumsum([arm.dof for arm in self.robot.arms])[:-1])):
            yield arm, part


class DirectPlayerNode(TrajectoryPlayerNode):
    """Publishes rows as follower commands and as the commanded action."""

    def __init__(self, **node_kwargs):
        super().__init__('direct_player', **node_kwargs)
        interfaces = {arm.follower.command.interface for arm in self.robot.arms}
        if interfaces != {'float64_multi_array'}:
            raise ValueError(f'{self.robot.source_path}: the direct player publishes float64_multi_array commands; '
                             f'the config has {sorted(interfaces)}')
        self._command_pubs = [self.create_publisher(Float64MultiArray, arm.follower.command.topic, COMMAND_QOS)
                              for arm in self.robot.arms]
        self._action_pub = self.create_publisher(JointState, self.robot.action_topic, COMMAND_QOS)

    def publish_row(self, row: np.ndarray, now_ns: int) -> None:
        for (arm, part), publisher in zip(self._arm_rows(row), self._command_pubs):
            values = list(part[:-1]) + [arm.follower.command.gripper_command(float(part[-1]))]
            publisher.publish(Float64MultiArray(data=values))
        action = JointState(name=list(self.robot.vector_names), position=row.tolist())
        action.header.stamp.sec, action.header.stamp.nanosec = ns_to_sec_nanosec(now_ns)
        self._action_pub.publish(action)


class ScriptedLeaderNode(TrajectoryPlayerNode):
    """Publishes rows as the leader arms' joint states."""

    def __init__(self, **node_kwargs):
        super().__init__('scripted_leader', **node_kwargs)
        missing = [arm.name for arm in self.robot.arms if arm.leader is None]
        if missing:
            raise ValueError(f'{self.robot.source_path}: arms {missing} have no leader; the scripted leader needs one per arm')
        self._leader_pubs = [self.create_publisher(JointState, arm.leader.joint_states_topic, SENSOR_QOS)
                             for arm in self.robot.arms]

    def publish_row(self, row: np.ndarray, now_ns: int) -> None:
        sec, nanosec = ns_to_sec_nanosec(now_ns)
        for (arm, part), publisher in zip(self._arm_rows(row), self._leader_pubs):
            names, positions = leader_joint_state(arm, part)
            state = JointState(name=names, position=positions)
            state.header.stamp.sec, state.header.stamp.nanosec = sec, nanosec
            publisher.publish(state)


def main(args: list[str] | None = None) -> None:
    """Runs scripted episodes through the leader arms against a running sim_node."""
    import rclpy
    from rclpy.context import Context
    from rclpy.executors import MultiThreadedExecutor

    context = Context()
    rclpy.init(args=args, context=context)
    leader = ScriptedLeaderNode(context=context)
    leader.declare_parameter('task', 'transfer_cube', ParameterDescriptor(description='Task to demonstrate.'))
    leader.declare_parameter('episodes', 1, ParameterDescriptor(description='Seeded episodes to run.'))
    leader.declare_parameter('seed', 0, ParameterDescriptor(description='Seed of the first episode.'))
    monitor = EpisodeMonitorNode(context=context)
    executor = MultiThreadedExecutor(context=context)
    executor.add_node(leader)
    executor.add_node(monitor)
    spinner = threading.Thread(target=executor.spin, daemon=True)
    spinner.start()
    try:
        runner = ScriptedEpisodeRunner(monitor, leader, leader.robot)
        task = leader.get_parameter('task').value
        seeds = range(leader.get_parameter('seed').value,
                      leader.get_parameter('seed').value + leader.get_parameter('episodes').value)
        for result in run_scripted_episodes(runner, task, seeds):
            leader.get_logger().info(result.summary())
    except KeyboardInterrupt:
        pass
    finally:
        executor.shutdown()
        leader.destroy_node()
        monitor.destroy_node()
        rclpy.shutdown(context=context)
