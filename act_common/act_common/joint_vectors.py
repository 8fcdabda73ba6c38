"""JointState entries <-> the robot's state/action vector, without ROS types.

Functions take plain name and position sequences so they serve live messages, rosbag
records and tests alike. The gripper entry is always the normalized opening; which joint
it is read from and its calibration come from the robot config.
"""

from __future__ import annotations

from typing import Mapping, Sequence

import numpy as np

from act_common.robot_config import ArmConfig, GripperRange, RobotConfig


class JointStateError(ValueError):
    """A JointState lacks a configured joint or holds a non-finite value."""


def _positions_by_name(names: Sequence[str], positions: Sequence[float], source: str) -> dict[str, float]:
    if len(names) != len(positions):
        raise JointStateError(f'{source}: {len(names)} names but {len(positions)} positions')
    return dict(zip(names, positions))


def _read(by_name: Mapping[str, float], joint: str, source: str) -> float:
    if joint not in by_name:
        raise JointStateError(f'{source}: joint {joint!r} missing; has {sorted(by_name)}')
    value = float(by_name[joint])
    if not np.isfinite(value):
        raise JointStateError(f'{source}: joint {joint!r} is {value}')
    return value


def arm_vector(
    arm: ArmConfig,
    gripper: GripperRange,
    names: Sequence[str],
    positions: Sequence[float],
    source: str = 'joint_states',
) -> np.ndarray:
    """One arm's entries: arm joints in config order, then the normalized gripper. (dof,)"""
    by_name = _positions_by_name(names, positions, source)
    values = [_read(by_name, joint, source) for joint in arm.joint_names]
    values.append(gripper.normalize(_read(by_name, gripper.joint, source)))
    if not np.isfinite(values[-1]):  # a huge finite reading overflows the normalization
        raise JointStateError(f'{source}: gripper joint {gripper.joint!r} normalizes to {values[-1]}')
    return np.asarray(values, dtype=np.float64)


def follower_vector(arm: ArmConfig, names: Sequence[str], positions: Sequence[float]) -> np.ndarray:
    """The observed follower state of one arm. (dof,)"""
    return arm_vector(arm, arm.follower.gripper, names, positions, f'{arm.follower.joint_states_topic}')


def leader_vector(arm: ArmConfig, names: Sequence[str], positions: Sequence[float]) -> np.ndarray:
    """The leader arm's raw joints and normalized gripper, before sign/offset. (dof,)"""
    if arm.leader is None:
        raise JointStateError(f'arm {arm.name!r} has no leader configured')
    return arm_vector(arm, arm.leader.gripper, names, positions, f'{arm.leader.joint_states_topic}')


def robot_vector(robot: RobotConfig, arm_vectors: Mapping[str, np.ndarray]) -> np.ndarray:
    """Concatenates per-arm vectors in config order. (robot.vector_size,)"""
    missing = [arm.name for arm in robot.arms if arm.name not in arm_vectors]
    if missing:
        raise JointStateError(f'no joint state yet for arms {missing}')
    return np.concatenate([arm_vectors[arm.name] for arm in robot.arms])


def split_robot_vector(robot: RobotConfig, vector: np.ndarray) -> dict[str, np.ndarray]:
    """Inverse of robot_vector: per-arm views of a (vector_size,) array."""
    vector = np.asarray(vector)
    if vector.shape[-1] != robot.vector_size:
        raise ValueError(f'expected {robot.vector_size} entries for robot {robot.name!r}, got {vector.shape[-1]}')
    return {name: vector[..., index] for name, index in robot.arm_slices().items()}
