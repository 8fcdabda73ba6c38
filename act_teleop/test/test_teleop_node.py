"""TeleopNode over DDS: leader joint states in, follower commands and the action out."""

import threading
import time
from pathlib import Path

import numpy as np
import pytest
import rclpy
from act_msgs.msg import PolicyStatus
from rclpy.context import Context
from rclpy.executors import SingleThreadedExecutor
from sensor_msgs.msg import JointState
from std_msgs.msg import Float64MultiArray
from std_srvs.srv import Trigger

from act_common.interfaces import TELEOP_START_SERVICE, TELEOP_STATUS_TOPIC, TELEOP_STOP_SERVICE
from act_common.qos import COMMAND_QOS, SENSOR_QOS, STATUS_QOS
from act_common.robot_config import load_robot_config
from act_teleop.teleop_node import TeleopNode

# The teleop node driven through seconds of leader streams.
pytestmark = pytest.mark.slow

ROBOT_PATH = Path(__file__).resolve().parents[2] / 'act_common' / 'config' / 'robots' / 'aloha_sim.yaml'
ROBOT = load_robot_config(ROBOT_PATH)
ARM = ['waist', 'shoulder', 'elbow', 'forearm_roll', 'wrist_angle', 'wrist_rotate']


class Rig:
    """A TeleopNode and a probe node (leader/follower publisher, command recorder) in one context."""

    def __init__(self, **parameters):
        self.context = Context()
        rclpy.init(context=self.context)
        args = ['--ros-args', '-p', f'robot_config:={ROBOT_PATH}']
        for name, value in parameters.items():
            args += ['-p', f'{name}:={value}']
        self.teleop = TeleopNode(context=self.context, cli_args=args)
        self.probe = rclpy.create_node('teleop_probe', context=self.context)
        self.lock = threading.Lock()
        self.commands = {'left': [], 'right': []}
        self.actions, self.statuses = [], []
        self.leader_pubs = {arm.name: self.probe.create_publisher(JointState, arm.leader.joint_states_topic, SENSOR_QOS)
                            for arm in ROBOT.arms}
        self.follower_pubs = {arm.name: self.probe.create_publisher(JointState, arm.follower.joint_states_topic, SENSOR_QOS)
                              for arm in ROBOT.arms}
        for arm in ROBOT.arms:
            self.probe.create_subscription(Float64MultiArray, arm.follower.command.topic,
                                           lambda m, n=arm.name: self._add(self.commands[n], list(m.data)), COMMAND_QOS)
        self.probe.create_subscription(JointState, ROBOT.action_topic, lambda m: self._add(self.actions, m), COMMAND_QOS)
        self.probe.create_subscription(PolicyStatus, TELEOP_STATUS_TOPIC, lambda m: self._add(self.statuses, m), STATUS_QOS)
        self.start_client = self.probe.create_client(Trigger, TELEOP_START_SERVICE)
        self.stop_client = self.probe.create_client(Trigger, TELEOP_STOP_SERVICE)
        self.executor = SingleThreadedExecutor(context=self.context)  # as teleop_node's main spins it
        self.executor.add_node(self.teleop)
        self.executor.add_node(self.probe)
        self.thread = threading.Thread(target=self.executor.spin, daemon=True)
        self.thread.start()

    def _add(self, into, item):
        with self.lock:
            into.append(item)

    def publish(self, joints, opening=0.5, follower_joints=None):
        for arm in ROBOT.arms:
            leader = JointState(name=ARM + ['gripper'],
                                position=list(joints) + [arm.leader.gripper.denormalize(opening)])
            self.leader_pubs[arm.name].publish(leader)
            finger = arm.follower.gripper.denormalize(0.5)
            follower = JointState(name=ARM + ['left_finger'],
                                  position=list(follower_joints if follower_joints is not None else joints) + [finger])
            self.follower_pubs[arm.name].publish(follower)

    def stream(self, seconds, joints, **kwargs):
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            self.publish(joints, **kwargs)
            time.sleep(0.01)

    def stream_until(self, done, joints, timeout_s=20.0, **kwargs):
        """Publish until done() holds (checked under the lock): a loaded CI machine may starve the executor."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            self.publish(joints, **kwargs)
            time.sleep(0.01)
            with self.lock:
                if done():
                    return

    def call(self, client):
        assert client.wait_for_service(timeout_sec=10)
        future = client.call_async(Trigger.Request())
        deadline = time.monotonic() + 10
        while not future.done() and time.monotonic() < deadline:
            time.sleep(0.01)
        return future.result()

    def close(self):
        self.executor.shutdown()
        self.thread.join(timeout=5)
        self.teleop.destroy_node()
        self.probe.destroy_node()
        rclpy.shutdown(context=self.context)


@pytest.fixture
def rig():
    made = []

    def make(**parameters):
        made.append(Rig(**parameters))
        return made[-1]

    yield make
    for each in made:
        each.close()


@pytest.mark.timeout(60)
def test_mirrors_leader_onto_both_followers_and_publishes_the_action(rig):
    # A generous leader timeout: this test is about mirroring, the next one about staleness.
    r = rig(soft_start_duration_s=0.0, leader_timeout_s=1.0)
    target = np.array([0.05, -0.1, 0.2, 0.0, 0.1, -0.05])
    r.stream_until(lambda: min(len(r.commands['left']), len(r.commands['right']), len(r.actions)) > 20,
                   target, opening=0.8)
    with r.lock:
        left, right, actions = list(r.commands['left']), list(r.commands['right']), list(r.actions)
    assert len(left) > 10 and len(right) > 10, 'teleop sent too few commands'
    np.testing.assert_allclose(left[-1], list(target) + [0.8], atol=1e-9)
    np.testing.assert_allclose(right[-1], list(target) + [0.8], atol=1e-9)
    assert list(actions[-1].name) == list(ROBOT.vector_names)
    np.testing.assert_allclose(actions[-1].position, list(target) + [0.8] + list(target) + [0.8], atol=1e-9)


@pytest.mark.timeout(60)
def test_stale_and_nan_leader_hold_then_stop_and_start(rig):
    r = rig(soft_start_duration_s=0.0, leader_timeout_s=0.1)
    r.stream_until(lambda: len(r.commands['left']) > 10, np.full(6, 0.05))
    # Leader data stops, then NaN arrives: teleop keeps sending the held command.
    time.sleep(0.5)
    for _ in range(20):
        r.publish([float('nan')] * 6)
        time.sleep(0.01)
    time.sleep(0.2)
    with r.lock:
        left = np.array(r.commands['left'])
        statuses = list(r.statuses)
    assert np.all(np.isfinite(left)), 'a non-finite value reached the follower'
    np.testing.assert_allclose(left[-1], [0.05] * 6 + [0.5])
    assert any(s.state == PolicyStatus.STATE_HOLDING and 'holding' in s.detail for s in statuses)

    assert r.call(r.stop_client).success
    time.sleep(0.3)
    with r.lock:
        count = len(r.commands['left'])
    r.stream(0.5, np.full(6, 0.3), follower_joints=np.full(6, 0.05))
    with r.lock:
        assert len(r.commands['left']) == count, 'teleop commanded while stopped'
    # Start again: a soft start from the follower pose (0.05) towards the leader (0.3).
    r.teleop.set_parameters([rclpy.parameter.Parameter('soft_start_duration_s', value=5.0)])
    assert r.call(r.start_client).success
    r.stream_until(lambda: len(r.commands['left']) > count + 10, np.full(6, 0.3), follower_joints=np.full(6, 0.05))
    with r.lock:
        after = np.array(r.commands['left'][count:])
    steps = np.abs(np.diff(after[:, 0]))
    assert after[0, 0] < 0.07 and steps.max() <= 0.1 * 0.1 + 1e-9, 'soft start moved faster than 0.1 x max_step'


def test_bad_parameters_are_refused(rig):
    r = rig()
    result = r.teleop.set_parameters([rclpy.parameter.Parameter('leader_timeout_s', value=-1.0)])[0]
    assert not result.successful and 'leader_timeout_s' in result.reason
    with pytest.raises(ValueError, match=r"\['middle'\] are not arms"):
        context = Context()
        rclpy.init(context=context)
        try:
            TeleopNode(context=context, cli_args=['--ros-args', '-p', f'robot_config:={ROBOT_PATH}', '-p', 'arms:=[middle]'])
        finally:
            rclpy.shutdown(context=context)
