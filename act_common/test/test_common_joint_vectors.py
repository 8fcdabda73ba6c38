from pathlib import Path

import numpy as np
import pytest

from act_common.joint_vectors import (
    JointStateError,
    follower_vector,
    leader_vector,
    robot_vector,
    split_robot_vector,
)
from act_common.robot_config import load_robot_config

ROBOT = load_robot_config(Path(__file__).resolve().parents[2] / 'act_common' / 'config' / 'robots' / 'aloha_sim.yaml')
NAMES = ['gripper', 'wrist_rotate', 'waist', 'shoulder', 'elbow', 'forearm_roll', 'wrist_angle', 'left_finger', 'right_finger']


def test_follower_vector_reorders_and_normalizes_gripper():
    arm = ROBOT.arms[0]
    positions = [9.0, 0.6, 0.1, 0.2, 0.3, 0.4, 0.5, (0.01844 + 0.058) / 2, -0.03]
    vector = follower_vector(arm, NAMES, positions)
    np.testing.assert_allclose(vector, [0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.5])


def test_leader_vector_uses_leader_gripper_joint():
    arm = ROBOT.arms[1]
    vector = leader_vector(arm, NAMES, [0.3083, 0, 0, 0, 0, 0, 0, 0, 0])
    assert vector[-1] == pytest.approx(1.0)


def test_missing_joint_and_nan_are_errors_naming_topic_and_joint():
    arm = ROBOT.arms[0]
    with pytest.raises(JointStateError, match="/follower_left/joint_states: joint 'shoulder' missing"):
        follower_vector(arm, ['waist'], [0.0])
    with pytest.raises(JointStateError, match="joint 'shoulder' is nan"):
        follower_vector(arm, NAMES, [0, 0, 0, float('nan'), 0, 0, 0, 0.03, 0])
    with pytest.raises(JointStateError, match='2 names but 1 positions'):
        follower_vector(arm, ['waist', 'elbow'], [0.0])


def test_robot_vector_round_trip():
    per_arm = {'left': np.arange(7.0), 'right': np.arange(7.0) + 10}
    vector = robot_vector(ROBOT, per_arm)
    assert vector.shape == (14,)
    split = split_robot_vector(ROBOT, vector)
    np.testing.assert_array_equal(split['right'], per_arm['right'])
    with pytest.raises(JointStateError, match=r"\['right'\]"):
        robot_vector(ROBOT, {'left': np.zeros(7)})
