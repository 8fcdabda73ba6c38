"""Robot configuration: arms, joints, grippers, cameras and the topics they speak on.

A robot config YAML (in act_common/config/robots/) is the one place where topic names,
joint order and gripper calibration are written down. Every node and tool of the suite
loads it through `load_robot_config`, so the sim, teleop, recorder, converter and policy
node cannot disagree about what the 14 numbers of an ALOHA state vector mean.

The state/action vector of a robot is the concatenation over arms, in config order, of
[arm joint positions (rad)..., gripper opening normalized to 0 = closed .. 1 = open].
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping, Sequence

import yaml

from act_common.errors import ConfigurationError

COMMAND_INTERFACES = ('float64_multi_array', 'joint_trajectory', 'interbotix_joint_group')
IMAGE_ENCODINGS = ('rgb8', 'bgr8', 'mono8')


class RobotConfigError(ConfigurationError):
    """A robot config is malformed; the message names the file and the field."""


@dataclass(frozen=True)
class GripperRange:
    """Maps a gripper joint's native unit onto the normalized opening 0 (closed) .. 1 (open).

    Calibration values differ between gripper hardware versions; wrong ones make the
    follower gripper chatter or never close, so they live in config, not in code.
    """

    joint: str
    closed: float
    open: float

    def normalize(self, value: float) -> float:
        return (value - self.closed) / (self.open - self.closed)

    def denormalize(self, opening: float) -> float:
        return self.closed + opening * (self.open - self.closed)


@dataclass(frozen=True)
class CommandInterface:
    """How follower targets reach the motors.

    interface:
      float64_multi_array: std_msgs/Float64MultiArray on `topic`, arm joints then gripper
        (ros2_control forward position controller; also what act_sim subscribes).
      joint_trajectory: trajectory_msgs/JointTrajectory with one point on `topic`.
      interbotix_joint_group: interbotix_xs_msgs/JointGroupCommand (group `group_name`)
        on `topic` for the arm, JointSingleCommand on `gripper_topic` for the gripper.
    gripper_joint: the gripper's name in JointTrajectory and JointSingleCommand.
    gripper_closed/gripper_open: the gripper value sent for opening 0 and 1, in the
      command's unit (the sim takes the normalized opening itself: 0 and 1).
    """

    interface: str
    topic: str
    gripper_closed: float
    gripper_open: float
    group_name: str = 'arm'
    gripper_topic: str = ''
    gripper_joint: str = 'gripper'

    def gripper_command(self, opening: float) -> float:
        return self.gripper_closed + opening * (self.gripper_open - self.gripper_closed)


@dataclass(frozen=True)
class FollowerArm:
    joint_states_topic: str
    command: CommandInterface
    gripper: GripperRange
    # Per arm joint (rad), then the gripper opening (normalized, within 0..1).
    lower_limits: tuple[float, ...]
    upper_limits: tuple[float, ...]
    # Largest change of a commanded target in one control tick: rad per arm joint,
    # normalized units for the gripper.
    max_step: tuple[float, ...]


@dataclass(frozen=True)
class LeaderArm:
    joint_states_topic: str
    gripper: GripperRange
    # follower joint = sign * leader joint + offset, per arm joint (not the gripper).
    signs: tuple[float, ...]
    offsets: tuple[float, ...]


@dataclass(frozen=True)
class ArmConfig:
    name: str
    # Arm joint names as they appear in JointState, gripper excluded.
    joint_names: tuple[str, ...]
    follower: FollowerArm
    leader: LeaderArm | None

    @property
    def dof(self) -> int:
        """Entries of this arm in the state/action vector: arm joints plus the gripper."""
        return len(self.joint_names) + 1

    @property
    def vector_names(self) -> tuple[str, ...]:
        return tuple(f'{self.name}_{joint}' for joint in self.joint_names) + (f'{self.name}_gripper',)


@dataclass(frozen=True)
class CameraConfig:
    name: str
    topic: str
    height: int
    width: int
    frame_id: str
    encoding: str = 'rgb8'
    # True when `topic` carries sensor_msgs/CompressedImage instead of sensor_msgs/Image.
    compressed: bool = False


@dataclass(frozen=True)
class RobotConfig:
    name: str
    control_rate_hz: float
    arms: tuple[ArmConfig, ...]
    cameras: tuple[CameraConfig, ...]
    simulated: bool
    clock_topic: str = '/clock'
    # sensor_msgs/JointState (names = vector_names) with the targets actually commanded to
    # the followers each tick, by teleop or by the policy node: the action a policy learns.
    action_topic: str = '/act/commanded_action'
    source_path: str = ''

    @property
    def control_period_s(self) -> float:
        return 1.0 / self.control_rate_hz

    @property
    def vector_names(self) -> tuple[str, ...]:
        """Names of the state/action vector entries, e.g. left_waist ... right_gripper."""
        return tuple(name for arm in self.arms for name in arm.vector_names)

    @property
    def vector_size(self) -> int:
        return sum(arm.dof for arm in self.arms)

    @property
    def camera_names(self) -> tuple[str, ...]:
        return tuple(camera.name for camera in self.cameras)

    def arm_slices(self) -> dict[str, slice]:
        """Where each arm's entries sit in the state/action vector."""
        slices, start = {}, 0
        for arm in self.arms:
            slices[arm.name] = slice(start, start + arm.dof)
            start += arm.dof
        return slices

    def camera(self, name: str) -> CameraConfig:
        for camera in self.cameras:
            if camera.name == name:
                return camera
        raise KeyError(f'robot {self.name!r} has no camera {name!r}; it has {list(self.camera_names)}')

    def with_cameras(self, names: Sequence[str]) -> 'RobotConfig':
        """A copy keeping only the named cameras, in the given order."""
        from dataclasses import replace
        return replace(self, cameras=tuple(self.camera(name) for name in names))


def load_robot_config(path: str | Path) -> RobotConfig:
    """Reads and validates a robot config YAML; errors name the file and the field."""
    path = Path(path)
    try:
        document = yaml.safe_load(path.read_text())
    except OSError as error:
        raise RobotConfigError(f'{path}: cannot read robot config: {error}') from error
    except yaml.YAMLError as error:
        raise RobotConfigError(f'{path}: not valid YAML: {error}') from error
    if not isinstance(document, Mapping) or 'robot' not in document:
        raise RobotConfigError(f'{path}: expected a top-level "robot:" mapping')
    return parse_robot_config(document['robot'], source=str(path))


def parse_robot_config(data: Mapping[str, Any], source: str = '<dict>') -> RobotConfig:
    reader = _Reader(source)
    arms = tuple(reader.arm(arm, f'robot.arms[{i}]') for i, arm in enumerate(reader.list(data, 'arms', 'robot')))
    cameras = tuple(
        reader.camera(camera, f'robot.cameras[{i}]')
        for i, camera in enumerate(data.get('cameras') or [])
    )
    config = RobotConfig(
        name=reader.str(data, 'name', 'robot'),
        control_rate_hz=reader.positive(data, 'control_rate_hz', 'robot'),
        arms=arms,
        cameras=cameras,
        simulated=bool(data.get('simulated', False)),
        clock_topic=reader.topic(data, 'clock_topic', 'robot') if 'clock_topic' in data else '/clock',
        action_topic=reader.topic(data, 'action_topic', 'robot') if 'action_topic' in data else '/act/commanded_action',
        source_path=source,
    )
    _check_unique(source, 'robot.arms[].name', [arm.name for arm in arms])
    _check_unique(source, 'robot.cameras[].name', [camera.name for camera in cameras])
    if not arms:
        raise RobotConfigError(f'{source}: robot.arms is empty; a robot needs at least one arm')
    return config


def _check_unique(source: str, field: str, names: list[str]) -> None:
    duplicates = sorted({name for name in names if names.count(name) > 1})
    if duplicates:
        raise RobotConfigError(f'{source}: {field} must be unique, got duplicates {duplicates}')


class _Reader:
    """Typed access to the YAML mapping, with errors that name file and field."""

    def __init__(self, source: str):
        self.source = source

    def fail(self, where: str, message: str) -> RobotConfigError:
        return RobotConfigError(f'{self.source}: {where}: {message}')

    def get(self, data: Mapping[str, Any], key: str, where: str) -> Any:
        if not isinstance(data, Mapping):
            raise self.fail(where, f'expected a mapping, got {type(data).__name__}')
        if key not in data:
            raise self.fail(f'{where}.{key}', 'missing')
        return data[key]

    def str(self, data: Mapping[str, Any], key: str, where: str) -> str:
        value = self.get(data, key, where)
        if not isinstance(value, str) or not value:
            raise self.fail(f'{where}.{key}', f'expected a non-empty string, got {value!r}')
        return value

    def topic(self, data: Mapping[str, Any], key: str, where: str) -> str:
        value = self.str(data, key, where)
        if not value.startswith('/'):
            raise self.fail(f'{where}.{key}', f'topic must be absolute (start with "/"), got {value!r}')
        return value

    def number(self, data: Mapping[str, Any], key: str, where: str) -> float:
        value = self.get(data, key, where)
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
            raise self.fail(f'{where}.{key}', f'expected a finite number, got {value!r}')
        return float(value)

    def positive(self, data: Mapping[str, Any], key: str, where: str) -> float:
        value = self.number(data, key, where)
        if value <= 0:
            raise self.fail(f'{where}.{key}', f'must be > 0, got {value}')
        return value

    def list(self, data: Mapping[str, Any], key: str, where: str) -> list:
        value = self.get(data, key, where)
        if not isinstance(value, list):
            raise self.fail(f'{where}.{key}', f'expected a list, got {value!r}')
        return value

    def numbers(self, data: Mapping[str, Any], key: str, where: str, length: int) -> tuple[float, ...]:
        values = self.get(data, key, where)
        if isinstance(values, (int, float)) and not isinstance(values, bool):
            values = [values] * length
        if not isinstance(values, list) or len(values) != length:
            raise self.fail(f'{where}.{key}', f'expected {length} numbers (one per entry), got {values!r}')
        for value in values:
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
                raise self.fail(f'{where}.{key}', f'expected finite numbers, got {values!r}')
        return tuple(float(value) for value in values)

    def gripper(self, data: Mapping[str, Any], where: str) -> GripperRange:
        gripper = GripperRange(
            joint=self.str(data, 'joint', where),
            closed=self.number(data, 'closed', where),
            open=self.number(data, 'open', where),
        )
        if gripper.closed == gripper.open:
            raise self.fail(where, f'closed and open must differ, both are {gripper.closed}')
        return gripper

    def command(self, data: Mapping[str, Any], where: str) -> CommandInterface:
        interface = self.str(data, 'interface', where)
        if interface not in COMMAND_INTERFACES:
            raise self.fail(f'{where}.interface', f'must be one of {COMMAND_INTERFACES}, got {interface!r}')
        command = CommandInterface(
            interface=interface,
            topic=self.topic(data, 'topic', where),
            gripper_closed=self.number(data, 'gripper_closed', where),
            gripper_open=self.number(data, 'gripper_open', where),
            group_name=str(data.get('group_name', 'arm')),
            gripper_topic=str(data.get('gripper_topic', '')),
            gripper_joint=str(data.get('gripper_joint', 'gripper')),
        )
        if interface == 'interbotix_joint_group' and not command.gripper_topic.startswith('/'):
            raise self.fail(f'{where}.gripper_topic', 'interbotix_joint_group needs an absolute gripper_topic')
        return command

    def arm(self, data: Mapping[str, Any], where: str) -> ArmConfig:
        name = self.str(data, 'name', where)
        joint_names = tuple(self.list(data, 'joint_names', where))
        if not joint_names or not all(isinstance(joint, str) and joint for joint in joint_names):
            raise self.fail(f'{where}.joint_names', f'expected non-empty joint name strings, got {list(joint_names)}')
        _check_unique(self.source, f'{where}.joint_names', list(joint_names))
        dof = len(joint_names) + 1
        follower_data = self.get(data, 'follower', where)
        fwhere = f'{where}.follower'
        follower = FollowerArm(
            joint_states_topic=self.topic(follower_data, 'joint_states_topic', fwhere),
            command=self.command(self.get(follower_data, 'command', fwhere), f'{fwhere}.command'),
            gripper=self.gripper(self.get(follower_data, 'gripper', fwhere), f'{fwhere}.gripper'),
            lower_limits=self.numbers(follower_data, 'lower_limits', fwhere, dof),
            upper_limits=self.numbers(follower_data, 'upper_limits', fwhere, dof),
            max_step=self.numbers(follower_data, 'max_step', fwhere, dof),
        )
        bad = [i for i in range(dof) if follower.lower_limits[i] >= follower.upper_limits[i]]
        if bad:
            raise self.fail(fwhere, f'lower_limits must be below upper_limits, not at entries {bad}')
        if any(step <= 0 for step in follower.max_step):
            raise self.fail(f'{fwhere}.max_step', f'must be > 0, got {list(follower.max_step)}')
        leader = None
        if data.get('leader') is not None:
            leader_data = data['leader']
            lwhere = f'{where}.leader'
            leader = LeaderArm(
                joint_states_topic=self.topic(leader_data, 'joint_states_topic', lwhere),
                gripper=self.gripper(self.get(leader_data, 'gripper', lwhere), f'{lwhere}.gripper'),
                signs=self.numbers(leader_data, 'signs', lwhere, len(joint_names)) if 'signs' in leader_data
                else (1.0,) * len(joint_names),
                offsets=self.numbers(leader_data, 'offsets', lwhere, len(joint_names)) if 'offsets' in leader_data
                else (0.0,) * len(joint_names),
            )
        return ArmConfig(name=name, joint_names=joint_names, follower=follower, leader=leader)

    def camera(self, data: Mapping[str, Any], where: str) -> CameraConfig:
        camera = CameraConfig(
            name=self.str(data, 'name', where),
            topic=self.topic(data, 'topic', where),
            height=int(self.positive(data, 'height', where)),
            width=int(self.positive(data, 'width', where)),
            frame_id=str(data.get('frame_id', f"{data.get('name', 'camera')}_optical_frame")),
            encoding=str(data.get('encoding', 'rgb8')),
            compressed=bool(data.get('compressed', False)),
        )
        if camera.encoding not in IMAGE_ENCODINGS:
            raise self.fail(f'{where}.encoding', f'must be one of {IMAGE_ENCODINGS}, got {camera.encoding!r}')
        return camera
