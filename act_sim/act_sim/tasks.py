"""The simulated tasks: which gym-aloha scenes they use, how long an episode is, how
objects are placed at reset, and the highest reward.

The scenes are read from the installed gym-aloha package (never copied). Object poses are
sampled from the ranges of the ACT paper's sim tasks, with the same draws as gym-aloha's
`AlohaEnv.reset(seed=...)` for the same seed (np.random.RandomState(seed), positions drawn
in the same order), so an episode seed means the same scene here, in gym-aloha and in
LeRobot's evaluations.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Sequence

import numpy as np

# Poses of free bodies: x, y, z (m), qw, qx, qy, qz, as MuJoCo stores a free joint.
POSE_SIZE = 7
_UPRIGHT = np.array([1.0, 0.0, 0.0, 0.0])


class UnknownTaskError(KeyError):
    """A task name is not in the registry; the message lists the known ones."""

    def __str__(self) -> str:  # KeyError would print the message with quotes
        return str(self.args[0])


def _uniform_position(rng: np.random.RandomState, x: tuple, y: tuple, z: tuple) -> np.ndarray:
    low = np.array([x[0], y[0], z[0]])
    high = np.array([x[1], y[1], z[1]])
    return rng.uniform(low, high)


def sample_transfer_cube(seed: int) -> np.ndarray:
    """The cube anywhere in a 20 x 20 cm patch in front of the right arm. (1, 7)"""
    rng = np.random.RandomState(seed)
    cube = _uniform_position(rng, (0.0, 0.2), (0.4, 0.6), (0.05, 0.05))
    return np.concatenate([cube, _UPRIGHT])[None]


def sample_insertion(seed: int) -> np.ndarray:
    """Peg in front of the right arm, socket in front of the left. (2, 7): peg, socket."""
    rng = np.random.RandomState(seed)
    peg = _uniform_position(rng, (0.1, 0.2), (0.4, 0.6), (0.05, 0.05))
    socket = _uniform_position(rng, (-0.2, -0.1), (0.4, 0.6), (0.05, 0.05))
    return np.stack([np.concatenate([peg, _UPRIGHT]), np.concatenate([socket, _UPRIGHT])])


@dataclass(frozen=True)
class TaskSpec:
    """One simulated task."""

    name: str
    # Scene files in gym-aloha's assets folder: joint position control, and the
    # end-effector (mocap) variant that scripted demonstrations are made in.
    joint_scene: str
    ee_scene: str
    # Control steps of an episode at 50 Hz (the paper's 400 steps = 8 s).
    episode_length: int
    # Reward stages as in the paper; reaching max_reward at some step is success (`success`).
    max_reward: float
    # A reward at the last step at least this high shows the objects are still held off
    # the table: a scripted demonstration must also end so to be kept (`demo_is_usable`).
    held_reward: float
    # Names of the free joints of the objects, in the order of object poses.
    object_joints: tuple[str, ...]
    sample_object_poses: Callable[[int], np.ndarray]

    def success(self, episode_max_reward: float) -> bool:
        """THE success criterion of an episode, the ACT paper's for its sim tasks: the
        task's maximum reward was reached at some step of the episode.

        episode_max_reward: the highest reward since the reset. Every success figure of the
        suite (AlohaSim.success, sim_node's TaskReward.success, `act eval`, `act sim`, the
        lockstep loop, the benches) is this one.
        """
        return float(episode_max_reward) >= self.max_reward

    def episode_success(self, rewards: Sequence[float]) -> bool:
        """`success` of an episode given the reward after each step. (T,)"""
        return len(rewards) > 0 and self.success(max(rewards))

    def held_at_end(self, final_reward: float) -> bool:
        """The objects are still held at the last step (final_reward >= held_reward)."""
        return float(final_reward) >= self.held_reward

    def demo_is_usable(self, rewards: Sequence[float]) -> bool:
        """Stricter than `success`, and only for keeping scripted demonstrations: the
        maximum reward was reached AND the objects are still held at the last step.

        Reward 4 of transfer cube also fires on a brief touch of the left finger; a demo
        must end with the cube in the left hand (reward 4 at the last step).
        """
        return self.episode_success(rewards) and self.held_at_end(rewards[-1])

    def scene_path(self, end_effector: bool = False) -> Path:
        from gym_aloha.constants import ASSETS_DIR

        return Path(ASSETS_DIR) / (self.ee_scene if end_effector else self.joint_scene)


TASKS: dict[str, TaskSpec] = {
    spec.name: spec
    for spec in (
        TaskSpec(
            name='transfer_cube',
            joint_scene='bimanual_viperx_transfer_cube.xml',
            ee_scene='bimanual_viperx_end_effector_transfer_cube.xml',
            episode_length=400,
            max_reward=4.0,
            # the left gripper touches the cube, which touches nothing else
            held_reward=4.0,
            object_joints=('red_box_joint',),
            sample_object_poses=sample_transfer_cube,
        ),
        TaskSpec(
            name='insertion',
            joint_scene='bimanual_viperx_insertion.xml',
            ee_scene='bimanual_viperx_end_effector_insertion.xml',
            episode_length=400,
            max_reward=4.0,
            # both grippers touch their object and neither object touches the table
            held_reward=2.0,
            object_joints=('red_peg_joint', 'blue_socket_joint'),
            sample_object_poses=sample_insertion,
        ),
    )
}

TASK_NAMES = tuple(TASKS)


def task_spec(name: str) -> TaskSpec:
    try:
        return TASKS[name]
    except KeyError:
        raise UnknownTaskError(f'unknown task {name!r}; known tasks: {list(TASK_NAMES)}') from None
