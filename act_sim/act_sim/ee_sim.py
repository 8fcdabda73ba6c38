"""The end-effector (mocap) variant of a task's scene, driven directly through MuJoCo.

gym-aloha ships these scenes but its gym env refuses them; scripted demonstrations are
made here. Each gripper is welded to a mocap body: moving the mocap pose moves the arm,
MuJoCo solving the joint angles. The arm joints have no actuators in this scene; only the
fingers are position-controlled, with the same normalized command as the joint scene.

Three measured departures from the stock scene, all about how the arm follows its mocap:
- The stock weld (solimp 0.25 0.25) is so soft that the gripper trails its mocap and sags
  under load: our scripted policies succeeded in 35 of 50 transfer-cube and 0 of 50
  insertion episodes with it (bench/bench_scripted_demos.py --ablations). It is
  stiffened to solimp 0.9 0.95 (0.001 width): 50 of 50 for both.
- MuJoCo computes each weld's relative pose from the model's reference configuration: the
  controlled point sits 0.1347 m ahead of `gripper_link` along the gripper's x axis, between
  the fingertips, and both mocap frames are world-aligned at qpos0 (the right gripper is
  turned 180 degrees about z relative to its mocap). That pose is kept: waypoints name
  where the fingers grasp. At reset each mocap is placed where the weld already holds, so
  the arm does not jump (a port that puts the mocap at the `gripper_link` position, as
  the original scripts' start pose does, pulls the hand 13.5 cm at the first step).
- A weak spring pulls each forearm_roll toward 0. When the wrist passes straight
  (wrist_angle 0), forearm_roll and wrist_rotate are coaxial and the weld solver, lagging
  behind a fast target, sometimes turned both by half a turn in opposite directions (the
  same hand pose, a flipped forearm). The joint-space replay cannot follow such a flip
  (kp 10 on forearm_roll): without the spring, 39 of 50 insertion replays succeeded;
  with it 50 of 50. The spring (20 N m/rad) is small next to the weld and the joint
  friction (30 N m), so hand poses do not change.
"""

from __future__ import annotations

import mujoco
import numpy as np

from act_common.robot_config import GripperRange
from act_sim.rewards import REWARD_FACTORIES
from act_sim.scene import (
    ARMS,
    FOLLOWER_FINGER,
    arm_index,
    load_model,
    object_qpos_slices,
    reset_scene,
)
from act_sim.sim import substeps_per_control_step
from act_sim.tasks import TaskSpec, task_spec

# solimp (dmin, dmax, width) of the mocap welds; see the module docstring.
STIFF_WELD_SOLIMP = (0.9, 0.95, 0.001)
# Stiffness (N m/rad) of the spring pulling forearm_roll toward 0; see the module docstring.
FOREARM_ROLL_SPRING = 20.0
MOCAP_BODIES = ('mocap_left', 'mocap_right')


def _compose(pos_a, quat_a, pos_b, quat_b) -> tuple[np.ndarray, np.ndarray]:
    """Pose a * pose b."""
    quat = np.zeros(4)
    mujoco.mju_mulQuat(quat, quat_a, quat_b)
    offset = np.zeros(3)
    mujoco.mju_rotVecQuat(offset, pos_b, quat_a)
    return pos_a + offset, quat


def _invert(pos, quat) -> tuple[np.ndarray, np.ndarray]:
    inverse = np.zeros(4)
    mujoco.mju_negQuat(inverse, quat)
    offset = np.zeros(3)
    mujoco.mju_rotVecQuat(offset, -np.asarray(pos, dtype=float), inverse)
    return offset, inverse


class EndEffectorSim:
    """A task's mocap scene: reset to a seeded object pose, step with gripper poses."""

    def __init__(self, task: str, control_period_s: float = 0.02, finger: GripperRange = FOLLOWER_FINGER,
                 weld_solimp: tuple[float, float, float] | None = STIFF_WELD_SOLIMP,
                 forearm_roll_spring: float = FOREARM_ROLL_SPRING):
        self.task: TaskSpec = task_spec(task)
        self.model = load_model(self.task.scene_path(end_effector=True))
        if weld_solimp is not None:
            welds = self.model.eq_type == mujoco.mjtEq.mjEQ_WELD
            self.model.eq_solimp[welds, :3] = weld_solimp
        for arm in ARMS:
            roll = self.model.joint(f'vx300s_{arm}/forearm_roll').id
            self.model.jnt_stiffness[roll] = forearm_roll_spring
            self.model.qpos_spring[self.model.jnt_qposadr[roll]] = 0.0
        self.data = mujoco.MjData(self.model)
        self.substeps = substeps_per_control_step(self.model, control_period_s)
        self.finger = finger
        self.arms = [arm_index(self.model, arm) for arm in ARMS]
        self._mocap_ids = [int(self.model.body(name).mocapid[0]) for name in MOCAP_BODIES]
        self._welds = [self._weld_of(arm.gripper_body) for arm in self.arms]
        self._objects = object_qpos_slices(self.model, self.task.object_joints)
        self._reward_fn = REWARD_FACTORIES[self.task.name](self.model)
        self.reward = 0.0

    def _weld_of(self, gripper_body: str) -> int:
        body_id = self.model.body(gripper_body).id
        for eq in range(self.model.neq):
            if self.model.eq_type[eq] == mujoco.mjtEq.mjEQ_WELD and body_id in (self.model.eq_obj1id[eq], self.model.eq_obj2id[eq]):
                return eq
        raise ValueError(f'{self.task.ee_scene} has no weld on {gripper_body}')

    def reset(self, seed: int) -> np.ndarray:
        """Home pose, seeded objects, grippers closed, mocaps where the welds hold. (n_obj, 7)"""
        poses = self.task.sample_object_poses(int(seed))
        reset_scene(self.model, self.data, self.arms, self._objects, poses)
        mujoco.mj_kinematics(self.model, self.data)
        for arm, mocap, weld in zip(self.arms, self._mocap_ids, self._welds):
            gripper = self.data.body(arm.gripper_body)
            relative = self.model.eq_data[weld, 3:6], self.model.eq_data[weld, 6:10]
            # The weld holds gripper = mocap * relative, so mocap = gripper * relative^-1.
            self.data.mocap_pos[mocap], self.data.mocap_quat[mocap] = _compose(
                gripper.xpos, gripper.xquat, *_invert(*relative))
        self.set_grippers(np.zeros(len(ARMS)))
        mujoco.mj_forward(self.model, self.data)
        self.reward = self._reward_fn(self.data)
        return poses

    def mocap_poses(self) -> np.ndarray:
        """Current target pose per arm: x, y, z, qw, qx, qy, qz. (2, 7)"""
        return np.stack([np.concatenate([self.data.mocap_pos[i], self.data.mocap_quat[i]]) for i in self._mocap_ids])

    def set_grippers(self, openings: np.ndarray) -> None:
        for arm, opening in zip(self.arms, openings):
            left = self.finger.denormalize(float(opening))
            self.data.ctrl[arm.finger_actuators] = (left, -left)

    def step(self, poses: np.ndarray, openings: np.ndarray) -> float:
        """Moves the mocaps to `poses` (2, 7), fingers to `openings` (2,), for one step."""
        for mocap, pose in zip(self._mocap_ids, poses):
            self.data.mocap_pos[mocap] = pose[:3]
            self.data.mocap_quat[mocap] = pose[3:] / np.linalg.norm(pose[3:])
        self.set_grippers(openings)
        mujoco.mj_step(self.model, self.data, nstep=self.substeps)
        self.reward = self._reward_fn(self.data)
        return self.reward

    def arm_positions(self) -> np.ndarray:
        """Joint angles the welds produced, per arm. (2, 6)"""
        return np.stack([self.data.qpos[arm.arm_qpos] for arm in self.arms])

    def object_poses(self) -> np.ndarray:
        return np.stack([self.data.qpos[qpos] for qpos in self._objects])
