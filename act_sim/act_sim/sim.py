"""The joint-position-controlled bimanual ALOHA in MuJoCo, without ROS.

`AlohaSim` loads a task's joint-controlled gym-aloha scene, resets it to a seeded object
pose, and advances it one control step (0.02 s = 10 MuJoCo steps of 2 ms) per `step`,
holding the commanded joint targets for the whole step as a position-controlled servo
would. The sim node, the scripted-demo replay and the benchmarks all drive this class.

Vectors follow the robot config's state/action convention: per arm (left, right) the six
arm joints (rad) then the gripper opening normalized with the follower finger calibration
(0 = closed, 1 = open). (14,) for the two arms.
"""

from __future__ import annotations

import mujoco
import numpy as np

from act_common.robot_config import GripperRange
from act_sim.rewards import REWARD_FACTORIES
from act_sim.scene import (
    ARM_DOF,
    ARMS,
    FOLLOWER_FINGER,
    FOLLOWER_GRIPPER_MOTOR,
    HOME_ARM_POSE,
    HOME_FINGER_M,
    VECTOR_SIZE,
    arm_index,
    load_model,
    object_qpos_slices,
    reset_scene,
)
from act_sim.tasks import POSE_SIZE, TaskSpec, task_spec


class CommandError(ValueError):
    """A joint target vector has the wrong size or a non-finite entry."""


def home_targets(finger: GripperRange = FOLLOWER_FINGER) -> np.ndarray:
    """The command that holds both arms at the home pose. (14,)"""
    arm = np.concatenate([HOME_ARM_POSE, [finger.normalize(HOME_FINGER_M)]])
    return np.tile(arm, len(ARMS))


def substeps_per_control_step(model: mujoco.MjModel, control_period_s: float) -> int:
    substeps = round(control_period_s / model.opt.timestep)
    if substeps < 1 or abs(substeps * model.opt.timestep - control_period_s) > 1e-9:
        raise ValueError(
            f'control period {control_period_s} s is not a multiple of the scene timestep {model.opt.timestep} s')
    return substeps


class AlohaSim:
    """One task's joint-controlled scene: reset, step, observe, reward."""

    def __init__(self, task: str, control_period_s: float = 0.02, finger: GripperRange = FOLLOWER_FINGER):
        self.task: TaskSpec = task_spec(task)
        self.model = load_model(self.task.scene_path(end_effector=False))
        self.data = mujoco.MjData(self.model)
        self.control_period_s = control_period_s
        self.substeps = substeps_per_control_step(self.model, control_period_s)
        self.finger = finger
        self.arms = [arm_index(self.model, arm) for arm in ARMS]
        for arm in self.arms:
            if len(arm.arm_actuators) != len(HOME_ARM_POSE):
                raise ValueError(f'{self.task.joint_scene} has no position actuators on the {arm.name} arm joints')
        self._objects = object_qpos_slices(self.model, self.task.object_joints)
        self._reward_fn = REWARD_FACTORIES[self.task.name](self.model)
        self.seed: int | None = None
        self.step_count = 0
        self.reward = 0.0
        self.episode_max_reward = 0.0
        self.targets = home_targets(finger)
        self.reset(0)

    # --- episode ---

    def reset(self, seed: int) -> np.ndarray:
        """Home pose, objects at the seeded pose, time of the episode at zero. -> (n_obj, 7)"""
        poses = self.task.sample_object_poses(int(seed))
        reset_scene(self.model, self.data, self.arms, self._objects, poses)
        self.targets = home_targets(self.finger)
        self._apply_targets()
        mujoco.mj_forward(self.model, self.data)
        self.seed = int(seed)
        self.step_count = 0
        self.reward = self._reward_fn(self.data)
        self.episode_max_reward = self.reward
        return poses

    def step(self, targets: np.ndarray) -> float:
        """Holds `targets` (14,) for one control period; returns the reward after it."""
        self.targets = validate_targets(targets)
        self._apply_targets()
        mujoco.mj_step(self.model, self.data, nstep=self.substeps)
        self.step_count += 1
        self.reward = self._reward_fn(self.data)
        self.episode_max_reward = max(self.episode_max_reward, self.reward)
        return self.reward

    def _apply_targets(self) -> None:
        for arm, values in zip(self.arms, self.targets.reshape(len(ARMS), ARM_DOF)):
            self.data.ctrl[arm.arm_actuators] = values[:-1]
            left = self.finger.denormalize(values[-1])
            # MuJoCo clips to the actuators' ctrlrange (0.021 .. 0.057 m), as the servo would.
            self.data.ctrl[arm.finger_actuators] = (left, -left)

    # --- observation ---

    @property
    def time_s(self) -> float:
        """Simulated time since the reset."""
        return self.data.time

    @property
    def success(self) -> bool:
        """The task's maximum reward was reached since the reset (TaskSpec.success)."""
        return self.task.success(self.episode_max_reward)

    def state_vector(self) -> np.ndarray:
        """Observed joint positions, normalized finger opening per arm. (14,)"""
        parts = []
        for arm in self.arms:
            parts.append(self.data.qpos[arm.arm_qpos])
            parts.append([self.finger.normalize(self.data.qpos[arm.finger_qpos[0]])])
        return np.concatenate(parts)

    def follower_joint_state(self, arm: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Position, velocity, effort of one arm in FOLLOWER_JOINT_NAMES order. 3 x (9,)

        Arm joints and fingers are read from MuJoCo (rad, m; effort = actuator force).
        `gripper`, the Interbotix motor angle that the scene does not model, is the left
        finger mapped linearly onto the ViperX motor's closed..open angles.
        """
        index = self.arms[arm]
        qpos, qvel, force = self.data.qpos, self.data.qvel, self.data.actuator_force
        finger_scale = (FOLLOWER_GRIPPER_MOTOR.open - FOLLOWER_GRIPPER_MOTOR.closed) / (self.finger.open - self.finger.closed)
        left_finger = qpos[index.finger_qpos[0]]
        gripper = FOLLOWER_GRIPPER_MOTOR.denormalize(self.finger.normalize(left_finger))
        position = np.concatenate([qpos[index.arm_qpos], [gripper], qpos[index.finger_qpos]])
        velocity = np.concatenate([qvel[index.arm_dof], [qvel[index.finger_dof[0]] * finger_scale], qvel[index.finger_dof]])
        effort = np.concatenate([force[index.arm_actuators], [force[index.finger_actuators[0]]], force[index.finger_actuators]])
        return position, velocity, effort

    def object_poses(self) -> np.ndarray:
        """Current object poses. (n_obj, 7)"""
        return np.stack([self.data.qpos[qpos] for qpos in self._objects]).reshape(-1, POSE_SIZE)


def validate_targets(targets) -> np.ndarray:
    targets = np.asarray(targets, dtype=np.float64)
    if targets.shape != (VECTOR_SIZE,):
        raise CommandError(f'joint targets must have shape ({VECTOR_SIZE},), got {targets.shape}')
    if not np.all(np.isfinite(targets)):
        raise CommandError(f'joint targets must be finite, got {targets.tolist()}')
    return targets
