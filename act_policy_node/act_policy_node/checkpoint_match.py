"""Does a loaded checkpoint fit the robot it is about to command?

A policy trained on other joints, another joint order, other cameras or another control
rate would command the wrong motors or see the wrong images: the node refuses to
configure (and so to activate) with a message that names both sides, checkpoint and robot
config, and every difference at once.
"""

from __future__ import annotations

import math
from typing import Mapping, Protocol, Sequence

from act_common.robot_config import CameraConfig, RobotConfig


class CheckpointMismatch(ValueError):
    """The checkpoint does not fit the robot config; the message lists every difference."""


class PolicyInterface(Protocol):
    """What this module reads from act_training.policy.ActPolicy."""

    camera_names: Sequence[str]
    vector_names: Sequence[str]
    state_dim: int
    action_dim: int
    control_period_s: float
    model_id: str


def parse_camera_remap(entries: Sequence[str]) -> dict[str, str]:
    """'policy_camera=robot_camera' entries -> {policy_camera: robot_camera}."""
    remap = {}
    for entry in entries:
        policy_camera, sep, robot_camera = entry.partition('=')
        if not sep or not policy_camera.strip() or not robot_camera.strip():
            raise ValueError(f'camera_remap entry {entry!r} must read policy_camera=robot_camera, e.g. top=angle')
        if policy_camera.strip() in remap:
            raise ValueError(f'camera_remap names policy camera {policy_camera.strip()!r} twice')
        remap[policy_camera.strip()] = robot_camera.strip()
    return remap


def match_checkpoint(policy: PolicyInterface, checkpoint: str, robot: RobotConfig,
                     camera_remap: Mapping[str, str] | None = None) -> dict[str, CameraConfig]:
    """The robot camera that feeds each camera of the policy, in the policy's order.

    Raises CheckpointMismatch naming the checkpoint and the robot config with every problem.
    """
    camera_remap = dict(camera_remap or {})
    checkpoint_side = f'checkpoint {checkpoint} (model {policy.model_id})'
    robot_side = f'robot {robot.name!r} ({robot.source_path or "no file"})'
    problems = []

    robot_names = list(robot.vector_names)
    policy_names = list(policy.vector_names)
    if policy_names != robot_names:
        missing = [name for name in robot_names if name not in policy_names]
        extra = [name for name in policy_names if name not in robot_names]
        detail = f'missing {missing}, unknown {extra}' if (missing or extra) else 'same names in another order'
        problems.append(f'joints differ ({detail}): checkpoint has {policy_names}, robot has {robot_names}')
    for what, size in (('state_dim', policy.state_dim), ('action_dim', policy.action_dim)):
        if size != robot.vector_size:
            problems.append(f'{what} {size} of the checkpoint != {robot.vector_size} entries of the robot vector')

    unknown_remap = [name for name in camera_remap if name not in policy.camera_names]
    if unknown_remap:
        problems.append(f'camera_remap names {unknown_remap}, which are not cameras of the checkpoint '
                        f'{list(policy.camera_names)}')
    cameras = {}
    for policy_camera in policy.camera_names:
        robot_camera = camera_remap.get(policy_camera, policy_camera)
        if robot_camera in robot.camera_names:
            cameras[policy_camera] = robot.camera(robot_camera)
        else:
            via = f' (camera_remap {policy_camera}={robot_camera})' if policy_camera in camera_remap else ''
            problems.append(f'checkpoint camera {policy_camera!r}{via} has no robot camera {robot_camera!r}; '
                            f'robot cameras are {list(robot.camera_names)} (map one with camera_remap)')

    if not math.isclose(policy.control_period_s, robot.control_period_s, rel_tol=1e-6):
        problems.append(f'checkpoint was trained at a control period of {policy.control_period_s:g} s '
                        f'({1 / policy.control_period_s:g} Hz), robot runs at {robot.control_period_s:g} s '
                        f'({robot.control_rate_hz:g} Hz)')

    if problems:
        raise CheckpointMismatch(f'{checkpoint_side} does not fit {robot_side}:\n  - ' + '\n  - '.join(problems))
    return cameras
