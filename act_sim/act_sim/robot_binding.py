"""How a robot config's arms, joints, commands and cameras map onto the simulated scene.

The robot config (act_common/config/robots/aloha_sim.yaml) names the topics, the joint
order of command vectors and the follower gripper calibration; the scene has two ViperX
arms named left and right. `bind_robot` checks that the config describes this robot and
says which config field is wrong when it does not. Pure Python: the node and the tests
share it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np

from act_common.robot_config import ArmConfig, GripperRange, RobotConfig
from act_sim.scene import ARM_DOF, ARM_JOINTS, ARMS, FOLLOWER_FINGER, VECTOR_SIZE


class SimConfigError(ValueError):
    """The robot config does not describe the simulated robot; names file and field."""


class ArmCommandError(ValueError):
    """A follower command has the wrong length or a non-finite value."""


@dataclass(frozen=True)
class ArmBinding:
    arm: ArmConfig
    # Index of this arm in the scene (0 left, 1 right) and its slice of a (14,) target.
    scene_index: int
    # For each scene joint (ARM_JOINTS order), its position in the config's joint_names.
    config_joint_index: np.ndarray

    @property
    def scene_slice(self) -> slice:
        return slice(self.scene_index * ARM_DOF, (self.scene_index + 1) * ARM_DOF)

    def scene_command(self, values: Sequence[float]) -> np.ndarray:
        """A follower command (config joint order, then the gripper) in scene order. (7,)"""
        values = np.asarray(values, dtype=np.float64)
        expected = len(self.arm.joint_names) + 1
        topic = self.arm.follower.command.topic
        if values.shape != (expected,):
            raise ArmCommandError(
                f'{topic}: expected {expected} values ({", ".join(self.arm.joint_names)}, gripper), got {values.size}')
        if not np.all(np.isfinite(values)):
            raise ArmCommandError(f'{topic}: values must be finite, got {values.tolist()}')
        return np.concatenate([values[self.config_joint_index], values[-1:]])


def bind_robot(config: RobotConfig) -> list[ArmBinding]:
    """The config's arms bound to the scene's; raises SimConfigError naming the field."""
    source = config.source_path or config.name
    bindings = []
    for i, arm in enumerate(config.arms):
        where = f'{source}: robot.arms[{i}]'
        if arm.name not in ARMS:
            raise SimConfigError(f'{where}.name: the simulated ALOHA has arms {list(ARMS)}, got {arm.name!r}')
        if sorted(arm.joint_names) != sorted(ARM_JOINTS):
            raise SimConfigError(f'{where}.joint_names: must name the ViperX joints {list(ARM_JOINTS)}, got {list(arm.joint_names)}')
        command = arm.follower.command
        if command.interface != 'float64_multi_array':
            raise SimConfigError(f'{where}.follower.command.interface: the sim takes float64_multi_array, got {command.interface!r}')
        if (command.gripper_closed, command.gripper_open) != (0.0, 1.0):
            raise SimConfigError(
                f'{where}.follower.command: the sim takes the normalized gripper opening; gripper_closed/gripper_open '
                f'must be 0 and 1, got {command.gripper_closed} and {command.gripper_open}')
        gripper = arm.follower.gripper
        if gripper.joint != FOLLOWER_FINGER.joint:
            raise SimConfigError(f'{where}.follower.gripper.joint: the sim observes {FOLLOWER_FINGER.joint!r}, got {gripper.joint!r}')
        bindings.append(ArmBinding(
            arm=arm,
            scene_index=ARMS.index(arm.name),
            config_joint_index=np.array([arm.joint_names.index(joint) for joint in ARM_JOINTS]),
        ))
    calibrations = {binding.arm.follower.gripper for binding in bindings}
    if len(calibrations) > 1:
        raise SimConfigError(f'{source}: robot.arms[].follower.gripper: the simulated arms are identical and need one '
                             f'finger calibration, got {sorted(calibrations, key=str)}')
    for i, camera in enumerate(config.cameras):
        if camera.compressed or camera.encoding != 'rgb8':
            raise SimConfigError(
                f'{source}: robot.cameras[{i}]: the sim publishes raw rgb8 images, got encoding {camera.encoding!r}'
                f'{" (compressed)" if camera.compressed else ""}')
    return bindings


def finger_calibration(bindings: list[ArmBinding]) -> GripperRange:
    """The follower finger calibration of the bound arms (the scene's default if none)."""
    return bindings[0].arm.follower.gripper if bindings else FOLLOWER_FINGER


def scene_to_config_vector(bindings: list[ArmBinding], scene_vector: np.ndarray) -> np.ndarray:
    """A (14,) scene-order vector in the config's order (arms and joints as configured)."""
    parts = []
    for binding in bindings:
        arm = scene_vector[binding.scene_slice]
        joints = np.empty(len(ARM_JOINTS))
        joints[binding.config_joint_index] = arm[:-1]
        parts.append(np.concatenate([joints, arm[-1:]]))
    return np.concatenate(parts) if parts else np.zeros(0)


def config_to_scene_vector(bindings: list[ArmBinding], config_vector: np.ndarray, base: np.ndarray) -> np.ndarray:
    """A config-order vector as a (14,) scene-order one; arms the config lacks keep `base`."""
    scene = np.array(base, dtype=np.float64, copy=True).reshape(VECTOR_SIZE)
    start = 0
    for binding in bindings:
        dof = binding.arm.dof
        scene[binding.scene_slice] = binding.scene_command(config_vector[start:start + dof])
        start += dof
    return scene
