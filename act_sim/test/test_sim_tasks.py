"""The task registry and the seeded object poses."""

import numpy as np
import pytest

from act_sim.tasks import TASK_NAMES, TASKS, UnknownTaskError, task_spec


def test_registry_names_lengths_rewards():
    assert TASK_NAMES == ('transfer_cube', 'insertion')
    for name in TASK_NAMES:
        spec = task_spec(name)
        assert spec.episode_length == 400
        assert spec.max_reward == 4.0
        assert spec.scene_path().is_file() and spec.scene_path(end_effector=True).is_file()


def test_unknown_task_names_the_known_ones():
    with pytest.raises(UnknownTaskError, match="unknown task 'stack_blocks'.*transfer_cube"):
        task_spec('stack_blocks')


@pytest.mark.parametrize('name', TASK_NAMES)
def test_same_seed_same_pose_different_seeds_differ(name):
    sample = TASKS[name].sample_object_poses
    assert np.array_equal(sample(7), sample(7))
    poses = [sample(seed) for seed in range(20)]
    assert len({pose.tobytes() for pose in poses}) == 20


def test_poses_stay_in_the_papers_ranges():
    cubes = np.concatenate([TASKS['transfer_cube'].sample_object_poses(seed) for seed in range(200)])
    assert cubes.shape == (200, 7)
    assert cubes[:, 0].min() >= 0.0 and cubes[:, 0].max() <= 0.2
    assert cubes[:, 1].min() >= 0.4 and cubes[:, 1].max() <= 0.6
    assert np.all(cubes[:, 2] == 0.05) and np.all(cubes[:, 3:] == [1, 0, 0, 0])
    pairs = np.stack([TASKS['insertion'].sample_object_poses(seed) for seed in range(200)])
    assert pairs.shape == (200, 2, 7)
    assert pairs[:, 0, 0].min() >= 0.1 and pairs[:, 1, 0].max() <= -0.1


def test_seed_means_the_same_scene_as_in_gym_aloha():
    from gym_aloha.utils import sample_box_pose, sample_insertion_pose

    for seed in (0, 1, 42):
        assert np.allclose(TASKS['transfer_cube'].sample_object_poses(seed)[0], sample_box_pose(seed))
        assert np.allclose(TASKS['insertion'].sample_object_poses(seed), np.stack(sample_insertion_pose(seed)))


def test_success_is_the_max_reward_reached_at_some_step():
    cube = task_spec('transfer_cube')
    assert cube.success(4.0) and not cube.success(3.0)
    assert cube.episode_success([0, 2, 4, 2])  # the paper counts it: reward 4 was reached
    assert not cube.episode_success([0, 2, 3, 3])
    assert not cube.episode_success([])


def test_a_usable_demo_also_holds_the_objects_at_the_end():
    cube = task_spec('transfer_cube')
    assert cube.demo_is_usable([0, 2, 4, 4])
    assert not cube.demo_is_usable([0, 2, 4, 2])  # touched, then the cube fell back: a success, not a demo
    assert not cube.demo_is_usable([0, 2, 3, 3])
    assert not cube.demo_is_usable([])
    insertion = task_spec('insertion')
    assert insertion.demo_is_usable([1, 2, 4, 2])  # inserted, still held
    assert not insertion.demo_is_usable([1, 2, 4, 0])  # dropped
    assert insertion.episode_success([1, 2, 4, 0])
