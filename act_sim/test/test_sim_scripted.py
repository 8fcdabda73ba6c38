"""Scripted demonstrations: made in end-effector space, replayed in joint space."""

import numpy as np
import pytest

from act_sim.scripted import generate_demo, replay_demo
from act_sim.tasks import TASK_NAMES


@pytest.mark.parametrize('task', TASK_NAMES)
def test_demo_succeeds_and_replays_in_joint_space(task):
    demo = generate_demo(task, seed=5)
    assert demo.task == task and demo.seed == 5 and demo.episode_length == 400
    assert demo.joint_targets.shape == (400, 14)
    assert demo.object_poses.shape == ((1, 7) if task == 'transfer_cube' else (2, 7))
    grippers = demo.joint_targets[:, [6, 13]]
    assert grippers.min() >= 0.0 and grippers.max() <= 1.0 and grippers.max() > 0.9
    assert demo.usable, f'end-effector run failed: rewards reached {demo.rewards.max()}'
    replay = replay_demo(demo)
    assert replay.usable, f'replay reached {replay.rewards.max()}, ended at {replay.rewards[-1]}'
    # Objects end lifted: off the table, held.
    assert replay.object_poses[:, 2].min() > 0.08


def test_demo_is_reproducible():
    first, second = generate_demo('transfer_cube', 2), generate_demo('transfer_cube', 2)
    assert np.array_equal(first.joint_targets, second.joint_targets)
    assert not np.array_equal(first.joint_targets, generate_demo('transfer_cube', 3).joint_targets)
