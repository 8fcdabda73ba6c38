"""Command backends publish the follower's own message types with converted grippers."""

import time
from pathlib import Path

import numpy as np
import pytest
import rclpy
from rclpy.context import Context
from rclpy.executors import SingleThreadedExecutor
from sensor_msgs.msg import JointState
from std_msgs.msg import Float64MultiArray
from trajectory_msgs.msg import JointTrajectory

from act_common.command_backends import InterbotixCommand, RobotCommandPublisher, make_arm_command_publisher
from act_common.qos import COMMAND_QOS
from act_common.robot_config import load_robot_config

ROBOTS = Path(__file__).resolve().parents[2] / 'act_common' / 'config' / 'robots'


@pytest.fixture
def node():
    context = Context()
    rclpy.init(context=context)
    node = rclpy.create_node('backend_test', context=context)
    executor = SingleThreadedExecutor(context=context)
    executor.add_node(node)
    node.spin_until = lambda done, timeout=5.0: _spin(executor, done, timeout)
    yield node
    executor.shutdown()
    node.destroy_node()
    rclpy.shutdown(context=context)


def _spin(executor, done, timeout):
    deadline = time.monotonic() + timeout
    while not done() and time.monotonic() < deadline:
        executor.spin_once(timeout_sec=0.05)
    return done()


def test_robot_publisher_sends_each_arm_and_the_action(node):
    robot = load_robot_config(ROBOTS / 'aloha_sim.yaml')
    received = {}
    node.create_subscription(Float64MultiArray, '/follower_right/commands/joint_positions',
                             lambda m: received.setdefault('right', m), COMMAND_QOS)
    node.create_subscription(JointState, robot.action_topic, lambda m: received.setdefault('action', m), COMMAND_QOS)
    publisher = RobotCommandPublisher(node, robot)
    command = np.linspace(-0.5, 0.5, 14)
    command[6], command[13] = 0.25, 0.75
    assert node.spin_until(lambda: (publisher.send(command) or len(received) == 2))
    np.testing.assert_allclose(received['right'].data, command[7:])
    assert list(received['action'].name) == list(robot.vector_names)
    np.testing.assert_allclose(received['action'].position, command)
    with pytest.raises(ValueError, match='non-finite'):
        publisher.send(np.full(14, np.nan))


def test_joint_trajectory_backend_converts_gripper(node):
    robot = load_robot_config(ROBOTS / 'single_arm.yaml')
    arm = robot.arms[0]
    from dataclasses import replace
    arm = replace(arm, follower=replace(arm.follower, command=replace(arm.follower.command, interface='joint_trajectory', topic='/traj')))
    received = []
    node.create_subscription(JointTrajectory, '/traj', received.append, COMMAND_QOS)
    backend = make_arm_command_publisher(node, arm, 0.02)
    command = np.array([0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 1.0])
    assert node.spin_until(lambda: (backend.send(command) or received))
    msg = received[0]
    assert msg.joint_names[-1] == 'gripper' and msg.joint_names[0] == 'waist'
    np.testing.assert_allclose(msg.points[0].positions, [0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 1.4910])
    assert msg.points[0].time_from_start.nanosec == 20_000_000


def test_interbotix_backend_without_interbotix_is_a_clear_error(node):
    robot = load_robot_config(ROBOTS / 'aloha.yaml')
    try:
        import interbotix_xs_msgs  # noqa: F401
    except ImportError:
        with pytest.raises(RuntimeError, match='interbotix_xs_msgs is not installed'):
            InterbotixCommand(node, robot.arms[0])
    else:
        backend = InterbotixCommand(node, robot.arms[0])
        backend.send(np.zeros(7))
