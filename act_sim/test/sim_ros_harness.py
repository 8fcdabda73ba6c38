"""A running sim_node plus a probe node that records what it publishes, for the tests.

Both run in one NodeSet (one process, messages still over DDS) spun on a background
thread; the tests drive them from the main thread.
"""

from __future__ import annotations

import threading
from typing import Callable

import numpy as np
from act_msgs.msg import TaskReward
from act_msgs.srv import ResetSim
from rclpy.node import Node
from rosgraph_msgs.msg import Clock
from sensor_msgs.msg import Image, JointState
from std_msgs.msg import Float64MultiArray

from act_common.node_set import NodeSet, NodeSpec
from act_common.config_paths import robot_config_path
from act_common.interfaces import SIM_RESET_SERVICE, TASK_REWARD_TOPIC
from act_common.qos import CLOCK_QOS, COMMAND_QOS, SENSOR_QOS, STATUS_QOS
from act_common.robot_config import load_robot_config
from act_common.service_calls import call
from act_sim.sim_node import SimNode
from condition_wait import wait_until

ROBOT_CONFIG = str(robot_config_path('aloha_sim'))


class ProbeNode(Node):
    """Records clock, joint states and rewards; publishes commands; calls reset."""

    def __init__(self, **node_kwargs):
        super().__init__('sim_probe', **node_kwargs)
        self.robot = load_robot_config(ROBOT_CONFIG)
        self._lock = threading.Condition()
        self.clocks: list[int] = []
        self.joint_states: dict[str, list[JointState]] = {arm.name: [] for arm in self.robot.arms}
        self.rewards: list[TaskReward] = []
        self.images: list[Image] = []
        self.create_subscription(Clock, self.robot.clock_topic, self._store_clock, CLOCK_QOS)
        for arm in self.robot.arms:
            self.create_subscription(JointState, arm.follower.joint_states_topic,
                                     lambda msg, name=arm.name: self._store(self.joint_states[name], msg), SENSOR_QOS)
        self.create_subscription(TaskReward, TASK_REWARD_TOPIC, lambda msg: self._store(self.rewards, msg), STATUS_QOS)
        self.command_pubs = {arm.name: self.create_publisher(Float64MultiArray, arm.follower.command.topic, COMMAND_QOS)
                             for arm in self.robot.arms}
        self.reset_client = self.create_client(ResetSim, SIM_RESET_SERVICE)

    def _store_clock(self, msg: Clock) -> None:
        self._store(self.clocks, msg.clock.sec * 1_000_000_000 + msg.clock.nanosec)

    def _store(self, into: list, msg) -> None:
        with self._lock:
            into.append(msg)
            self._lock.notify_all()

    def subscribe_images(self, topic: str) -> None:
        self.create_subscription(Image, topic, lambda msg: self._store(self.images, msg), SENSOR_QOS)

    def wait_until(self, condition: Callable[[], bool], timeout_s: float = 20.0) -> bool:
        return wait_until(self._lock, condition, timeout_s)

    def latest_positions(self, arm: str) -> dict[str, float]:
        with self._lock:
            msg = self.joint_states[arm][-1]
        return dict(zip(msg.name, msg.position))

    def reset(self, task: str = '', seed: int = 0, timeout_s: float = 30.0) -> ResetSim.Response:
        assert self.reset_client.wait_for_service(timeout_sec=timeout_s), 'no /sim/reset service'
        response = call(self.reset_client, ResetSim.Request(task=task, seed=seed), timeout_s)
        assert response is not None, f'{SIM_RESET_SERVICE} did not answer'
        return response

    def command(self, arm: str, values) -> None:
        self.command_pubs[arm].publish(Float64MultiArray(data=[float(v) for v in values]))


class SimHarness:
    """sim_node (with parameter overrides) and a ProbeNode, spinning in the background."""

    def __init__(self, **overrides):
        parameters = {'robot_config': ROBOT_CONFIG, 'real_time_factor': 4.0, 'cameras': ['top']}
        parameters.update(overrides)
        self.nodes = NodeSet([NodeSpec(SimNode, overrides=parameters), NodeSpec(ProbeNode)], threads=1)
        self.nodes.spin_in_background()
        self.sim: SimNode = self.nodes.node(SimNode)
        self.probe: ProbeNode = self.nodes.node(ProbeNode)

    def close(self) -> None:
        self.nodes.close()


def joint_vector(positions: dict[str, float], names) -> np.ndarray:
    return np.array([positions[name] for name in names])
