"""A synthetic robot for the policy node tests: publishes cameras and follower joint states
at 50 Hz (wall clock), records what the policy node publishes.

The robot config is the installed aloha_sim.yaml; the images are noise-free gradients of
the configured size, the joint states the home pose. Switches make it publish NaN joint
states or stop publishing (stale data).
"""

from __future__ import annotations

import threading
import time
from typing import Callable

import numpy as np
from act_msgs.msg import ActionChunk, PolicyStatus
from rclpy.callback_groups import MutuallyExclusiveCallbackGroup
from rclpy.node import Node
from sensor_msgs.msg import Image, JointState
from std_msgs.msg import Float64MultiArray
from trajectory_msgs.msg import JointTrajectory

from act_common.config_paths import robot_config_path
from act_common.image_encoding import rgb_to_image_fields
from act_common.qos import COMMAND_QOS, SENSOR_QOS, STATUS_QOS
from act_common.robot_config import load_robot_config
from act_common.interfaces import POLICY_CHUNK_TOPIC as CHUNK_TOPIC
from act_common.interfaces import POLICY_STATUS_TOPIC as STATUS_TOPIC
from act_common.interfaces import POLICY_TRAJECTORY_TOPIC as TRAJECTORY_TOPIC
from condition_wait import wait_until

ROBOT_CONFIG = str(robot_config_path('aloha_sim'))
FOLLOWER_JOINTS = ['waist', 'shoulder', 'elbow', 'forearm_roll', 'wrist_angle', 'wrist_rotate', 'left_finger', 'right_finger']
HOME = [0.0, -0.96, 1.16, 0.0, -0.3, 0.0, 0.04, -0.04]


class SyntheticRobot(Node):
    """Publishes what a robot driver would; records the policy node's output with arrival times."""

    def __init__(self, cameras: list[str], **node_kwargs):
        super().__init__('synthetic_robot', **node_kwargs)
        self.robot = load_robot_config(ROBOT_CONFIG)
        self.publish_enabled = True
        self.nan_joint_states = False
        self._lock = threading.Condition()
        self.commands: dict[str, list[tuple[float, list[float]]]] = {arm.name: [] for arm in self.robot.arms}
        self.actions: list[tuple[float, JointState]] = []
        self.chunks: list[ActionChunk] = []
        self.trajectories: list[JointTrajectory] = []
        self.statuses: list[PolicyStatus] = []
        self._images = {}
        self._camera_pubs = {}
        for name in cameras:
            camera = self.robot.camera(name)
            gradient = np.linspace(0, 255, camera.width, dtype=np.uint8)
            rgb = np.broadcast_to(gradient[None, :, None], (camera.height, camera.width, 3))
            self._images[name] = rgb_to_image_fields(np.ascontiguousarray(rgb))
            self._camera_pubs[name] = (camera, self.create_publisher(Image, camera.topic, SENSOR_QOS))
        self._joint_pubs = [self.create_publisher(JointState, arm.follower.joint_states_topic, SENSOR_QOS)
                            for arm in self.robot.arms]
        group = MutuallyExclusiveCallbackGroup()
        for arm in self.robot.arms:
            self.create_subscription(Float64MultiArray, arm.follower.command.topic,
                                     lambda msg, name=arm.name: self._record(self.commands[name], (time.monotonic(), list(msg.data))),
                                     COMMAND_QOS, callback_group=group)
        self.create_subscription(JointState, self.robot.action_topic,
                                 lambda msg: self._record(self.actions, (time.monotonic(), msg)), COMMAND_QOS, callback_group=group)
        self.create_subscription(ActionChunk, CHUNK_TOPIC, lambda msg: self._record(self.chunks, msg), COMMAND_QOS,
                                 callback_group=group)
        self.create_subscription(JointTrajectory, TRAJECTORY_TOPIC, lambda msg: self._record(self.trajectories, msg),
                                 COMMAND_QOS, callback_group=group)
        self.create_subscription(PolicyStatus, STATUS_TOPIC, lambda msg: self._record(self.statuses, msg), STATUS_QOS,
                                 callback_group=group)
        self.create_timer(self.robot.control_period_s, self._publish, callback_group=MutuallyExclusiveCallbackGroup())

    def _publish(self) -> None:
        if not self.publish_enabled:
            return
        stamp = self.get_clock().now().to_msg()
        for name, (camera, publisher) in self._camera_pubs.items():
            image = Image(**self._images[name])
            image.header.stamp, image.header.frame_id = stamp, camera.frame_id
            publisher.publish(image)
        positions = [float('nan')] * len(HOME) if self.nan_joint_states else HOME
        for publisher in self._joint_pubs:
            state = JointState(name=FOLLOWER_JOINTS, position=positions)
            state.header.stamp = stamp
            publisher.publish(state)

    def _record(self, into: list, item) -> None:
        with self._lock:
            into.append(item)
            self._lock.notify_all()

    def wait_until(self, condition: Callable[[], bool], timeout_s: float = 30.0) -> bool:
        return wait_until(self._lock, condition, timeout_s)

    def all_command_values(self) -> np.ndarray:
        with self._lock:
            rows = [values for arm in self.commands.values() for _, values in arm]
        return np.asarray(rows, dtype=np.float64).reshape(-1, 7)
