"""Facts about gym-aloha's bimanual ViperX scenes: where each arm's joints, fingers and
actuators sit in the MuJoCo arrays, the home pose, and the gripper calibration.

Both arms are ViperX 300 S followers with Interbotix joint names under a `vx300s_<arm>/`
prefix. The MuJoCo gripper is two slide joints (left_finger, right_finger = -left_finger,
metres); the Interbotix `gripper` motor joint does not exist in the scene and is derived.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import mujoco
import numpy as np

from act_common.robot_config import GripperRange

ARMS = ('left', 'right')
ARM_JOINTS = ('waist', 'shoulder', 'elbow', 'forearm_roll', 'wrist_angle', 'wrist_rotate')
# Joint names a follower's JointState carries, as the Interbotix driver names them.
FOLLOWER_JOINT_NAMES = ARM_JOINTS + ('gripper', 'left_finger', 'right_finger')
# Entries per arm in the state/action vector: 6 joints + normalized gripper.
ARM_DOF = len(ARM_JOINTS) + 1
VECTOR_SIZE = ARM_DOF * len(ARMS)

# Where each arm's waist axis meets the table (m, world frame); the right arm faces -x.
ARM_BASE_XY = {'left': np.array([-0.469, 0.5]), 'right': np.array([0.469, 0.5])}

# The paper's start pose of each arm (rad) and its finger opening (m).
HOME_ARM_POSE = np.array([0.0, -0.96, 1.16, 0.0, -0.3, 0.0])
HOME_FINGER_M = 0.02239

# The follower's observed gripper: left finger position (m) normalized to 0 = closed,
# 1 = open. These equal the follower gripper block of config/robots/aloha_sim.yaml (a test
# checks it); commands in the sim use the same range, as gym-aloha does.
FOLLOWER_FINGER = GripperRange(joint='left_finger', closed=0.01844, open=0.05800)
# The ViperX gripper motor angle (rad) at the same closed/open positions, from the ALOHA
# calibration: the `gripper` joint published by the sim maps the finger onto this range.
FOLLOWER_GRIPPER_MOTOR = GripperRange(joint='gripper', closed=-0.6213, open=1.4910)


class SceneError(ValueError):
    """A scene lacks a joint, body or actuator the simulation needs."""


@dataclass(frozen=True)
class ArmIndex:
    """Where one arm lives in the MuJoCo arrays."""

    name: str
    arm_qpos: np.ndarray  # (6,) qpos addresses of the arm joints, ARM_JOINTS order
    arm_dof: np.ndarray  # (6,) qvel addresses
    finger_qpos: np.ndarray  # (2,) qpos of left_finger, right_finger
    finger_dof: np.ndarray  # (2,)
    # ctrl indices of the position actuators: (6,) arm (empty in the end-effector scene)
    # and (2,) fingers.
    arm_actuators: np.ndarray
    finger_actuators: np.ndarray
    gripper_body: str


def load_model(path: Path) -> mujoco.MjModel:
    try:
        return mujoco.MjModel.from_xml_path(str(path))
    except (ValueError, OSError) as error:  # mujoco raises ValueError for XML errors
        raise SceneError(f'cannot load MuJoCo scene {path}: {error}') from error


def _joint_id(model: mujoco.MjModel, name: str) -> int:
    joint_id = mujoco.mj_name2id(model, mujoco.mjtObj.mjOBJ_JOINT, name)
    if joint_id < 0:
        raise SceneError(f'scene has no joint {name!r}')
    return joint_id


def _actuators_by_joint(model: mujoco.MjModel) -> dict[int, int]:
    """ctrl index of the actuator driving each joint (the scenes' actuators are unnamed)."""
    return {
        int(model.actuator_trnid[i, 0]): i
        for i in range(model.nu)
        if model.actuator_trntype[i] == mujoco.mjtTrn.mjTRN_JOINT
    }


def arm_index(model: mujoco.MjModel, arm: str) -> ArmIndex:
    arm_ids = [_joint_id(model, f'vx300s_{arm}/{joint}') for joint in ARM_JOINTS]
    finger_ids = [_joint_id(model, f'vx300s_{arm}/{joint}') for joint in ('left_finger', 'right_finger')]
    by_joint = _actuators_by_joint(model)
    missing_fingers = [i for i in finger_ids if i not in by_joint]
    if missing_fingers:
        raise SceneError(f'scene has no actuator for the {arm} fingers')
    has_arm_actuators = all(i in by_joint for i in arm_ids)
    return ArmIndex(
        name=arm,
        arm_qpos=model.jnt_qposadr[arm_ids].copy(),
        arm_dof=model.jnt_dofadr[arm_ids].copy(),
        finger_qpos=model.jnt_qposadr[finger_ids].copy(),
        finger_dof=model.jnt_dofadr[finger_ids].copy(),
        arm_actuators=np.array([by_joint[i] for i in arm_ids] if has_arm_actuators else [], dtype=int),
        finger_actuators=np.array([by_joint[i] for i in finger_ids], dtype=int),
        gripper_body=f'vx300s_{arm}/gripper_link',
    )


def object_qpos_slices(model: mujoco.MjModel, free_joints: tuple[str, ...]) -> list[slice]:
    """qpos ranges of the objects' free joints (7 each: position, quaternion)."""
    slices = []
    for name in free_joints:
        joint_id = _joint_id(model, name)
        if model.jnt_type[joint_id] != mujoco.mjtJoint.mjJNT_FREE:
            raise SceneError(f'object joint {name!r} is not a free joint')
        start = int(model.jnt_qposadr[joint_id])
        slices.append(slice(start, start + 7))
    return slices


def reset_scene(model: mujoco.MjModel, data: mujoco.MjData, arms: list[ArmIndex], object_slices: list[slice],
                poses) -> None:
    """The start of an episode in either scene (joint or end effector): MuJoCo's reset, the
    arms at rest in the home pose, the objects at `poses` ((n_obj, 7), one per slice of
    object_qpos_slices)."""
    mujoco.mj_resetData(model, data)
    for arm in arms:
        data.qpos[arm.arm_qpos] = HOME_ARM_POSE
        data.qpos[arm.finger_qpos] = (HOME_FINGER_M, -HOME_FINGER_M)
        data.qvel[arm.arm_dof] = 0.0
        data.qvel[arm.finger_dof] = 0.0
    for pose, qpos in zip(poses, object_slices):
        data.qpos[qpos] = pose
