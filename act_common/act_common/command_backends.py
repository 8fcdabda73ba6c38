"""Publishers that put one arm's command on the wire in the follower's own interface.

A command here is always the suite's arm vector: arm joint positions (rad) then the
gripper opening (0 closed .. 1 open). Each backend converts the gripper into the unit its
interface expects (CommandInterface.gripper_command) and builds the message type the
follower driver subscribes. Safety filtering happens before, in command_safety.
"""

from __future__ import annotations

from typing import Protocol, Sequence

import numpy as np
from rclpy.node import Node
from sensor_msgs.msg import JointState
from std_msgs.msg import Float64MultiArray
from trajectory_msgs.msg import JointTrajectory, JointTrajectoryPoint

from act_common.qos import COMMAND_QOS
from act_common.robot_config import ArmConfig, RobotConfig
from act_common.ros_time import s_to_sec_nanosec


class ArmCommandPublisher(Protocol):
    def send(self, arm_command: np.ndarray) -> None: ...


def _split(arm: ArmConfig, arm_command: np.ndarray) -> tuple[list[float], float]:
    command = np.asarray(arm_command, dtype=np.float64)
    if command.shape != (arm.dof,):
        raise ValueError(f'arm {arm.name!r} command needs {arm.dof} entries, got shape {command.shape}')
    return command[:-1].tolist(), arm.follower.command.gripper_command(float(command[-1]))


class Float64MultiArrayCommand:
    """ros2_control forward position controller (and act_sim): joints then gripper."""

    def __init__(self, node: Node, arm: ArmConfig):
        self.arm = arm
        self.publisher = node.create_publisher(Float64MultiArray, arm.follower.command.topic, COMMAND_QOS)

    def send(self, arm_command: np.ndarray) -> None:
        joints, gripper = _split(self.arm, arm_command)
        self.publisher.publish(Float64MultiArray(data=joints + [gripper]))


class JointTrajectoryCommand:
    """A one-point JointTrajectory reached one control period from now."""

    def __init__(self, node: Node, arm: ArmConfig, control_period_s: float):
        self.arm = arm
        self.names = list(arm.joint_names) + [arm.follower.command.gripper_joint]
        sec, nanosec = s_to_sec_nanosec(control_period_s)
        self.time_from_start = (sec, nanosec)
        self.publisher = node.create_publisher(JointTrajectory, arm.follower.command.topic, COMMAND_QOS)

    def send(self, arm_command: np.ndarray) -> None:
        joints, gripper = _split(self.arm, arm_command)
        point = JointTrajectoryPoint(positions=joints + [gripper])
        point.time_from_start.sec, point.time_from_start.nanosec = self.time_from_start
        # An empty header stamp means "start now" to joint_trajectory_controller.
        self.publisher.publish(JointTrajectory(joint_names=self.names, points=[point]))


class InterbotixCommand:
    """interbotix_xs_sdk: JointGroupCommand for the arm group, JointSingleCommand for the gripper."""

    def __init__(self, node: Node, arm: ArmConfig):
        try:
            from interbotix_xs_msgs.msg import JointGroupCommand, JointSingleCommand
        except ImportError as error:
            raise RuntimeError(
                f'arm {arm.name!r} is configured for interbotix_joint_group, but interbotix_xs_msgs is not '
                'installed: install the Interbotix ROS 2 packages (interbotix_ros_core) and source them, '
                'or choose another command interface in the robot config'
            ) from error
        self.arm = arm
        command = arm.follower.command
        self.group_type, self.single_type = JointGroupCommand, JointSingleCommand
        self.group_publisher = node.create_publisher(JointGroupCommand, command.topic, COMMAND_QOS)
        self.gripper_publisher = node.create_publisher(JointSingleCommand, command.gripper_topic, COMMAND_QOS)

    def send(self, arm_command: np.ndarray) -> None:
        joints, gripper = _split(self.arm, arm_command)
        command = self.arm.follower.command
        self.group_publisher.publish(self.group_type(name=command.group_name, cmd=joints))
        self.gripper_publisher.publish(self.single_type(name=command.gripper_joint, cmd=gripper))


def make_arm_command_publisher(node: Node, arm: ArmConfig, control_period_s: float) -> ArmCommandPublisher:
    interface = arm.follower.command.interface
    if interface == 'float64_multi_array':
        return Float64MultiArrayCommand(node, arm)
    if interface == 'joint_trajectory':
        return JointTrajectoryCommand(node, arm, control_period_s)
    if interface == 'interbotix_joint_group':
        return InterbotixCommand(node, arm)
    raise ValueError(f'arm {arm.name!r}: unknown command interface {interface!r}')


class RobotCommandPublisher:
    """Sends a whole robot vector: each arm through its own interface, and the vector itself
    on the robot's action topic (the commanded action a policy learns from)."""

    def __init__(self, node: Node, robot: RobotConfig):
        self.node = node
        self.robot = robot
        self.slices = robot.arm_slices()
        self.arms = [(arm, make_arm_command_publisher(node, arm, robot.control_period_s)) for arm in robot.arms]
        self.action_publisher = node.create_publisher(JointState, robot.action_topic, COMMAND_QOS)
        self.names: Sequence[str] = list(robot.vector_names)

    def send(self, command: np.ndarray, stamp=None) -> None:
        """Publishes `command` (robot.vector_size,), already filtered; stamp defaults to now."""
        command = np.asarray(command, dtype=np.float64)
        if command.shape != (self.robot.vector_size,):
            raise ValueError(f'robot command needs {self.robot.vector_size} entries, got shape {command.shape}')
        if not np.all(np.isfinite(command)):
            # CommandFilter never lets this through; refuse loudly if a caller skipped it.
            raise ValueError(f'refusing to send non-finite command entries {np.flatnonzero(~np.isfinite(command)).tolist()}')
        for arm, publisher in self.arms:
            publisher.send(command[self.slices[arm.name]])
        action = JointState(name=list(self.names), position=command.tolist())
        action.header.stamp = stamp if stamp is not None else self.node.get_clock().now().to_msg()
        self.action_publisher.publish(action)
