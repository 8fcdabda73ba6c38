"""The joint-controlled simulation without ROS: reset, commands, observations."""

import numpy as np
import pytest

from act_common.config_paths import robot_config_path
from act_common.robot_config import load_robot_config
from act_sim.scene import FOLLOWER_FINGER, FOLLOWER_GRIPPER_MOTOR, FOLLOWER_JOINT_NAMES, HOME_ARM_POSE
from act_sim.sim import AlohaSim, CommandError, home_targets


@pytest.fixture(scope='module')
def sim():
    return AlohaSim('transfer_cube')


def test_reset_same_seed_same_state(sim):
    first = sim.reset(3)
    for _ in range(20):
        sim.step(home_targets())
    after_steps = sim.data.qpos.copy()
    assert np.array_equal(sim.reset(3), first)
    for _ in range(20):
        sim.step(home_targets())
    assert np.array_equal(sim.data.qpos, after_steps)
    assert not np.array_equal(sim.reset(4), first)


def test_reset_puts_robot_home_and_objects_at_the_pose(sim):
    poses = sim.reset(11)
    assert np.allclose(sim.object_poses(), poses)
    assert np.allclose(sim.state_vector(), home_targets(), atol=1e-9)
    assert sim.step_count == 0 and sim.time_s == 0.0


def test_a_step_is_one_control_period(sim):
    sim.reset(0)
    sim.step(home_targets())
    assert sim.substeps == 10
    assert sim.time_s == pytest.approx(0.02)


def test_joint_targets_are_reached(sim):
    sim.reset(0)
    target = home_targets()
    target[:6] += [0.3, 0.2, -0.2, 0.2, 0.3, 0.3]  # left arm
    target[6] = 1.0  # left gripper open
    target[7 + 0] -= 0.4  # right waist
    for _ in range(50):  # 1 s
        sim.step(target)
    state = sim.state_vector()
    assert np.abs(state[[0, 1, 2, 3, 4, 5, 7, 8, 9, 10, 11, 12]] - target[[0, 1, 2, 3, 4, 5, 7, 8, 9, 10, 11, 12]]).max() < 0.02
    # The finger travel ends at 0.057 m (friction holds it a little short), the calibrated
    # open is 0.058 m.
    assert state[6] == pytest.approx(FOLLOWER_FINGER.normalize(0.057), abs=0.03)


@pytest.mark.parametrize('bad', [np.zeros(13), np.full(14, np.nan), np.zeros((2, 7))])
def test_malformed_targets_are_refused_and_do_not_move(sim, bad):
    sim.reset(0)
    before = sim.data.qpos.copy()
    with pytest.raises(CommandError):
        sim.step(bad)
    assert np.array_equal(sim.data.qpos, before) and sim.step_count == 0


def test_follower_joint_state_names_and_gripper_motor(sim):
    sim.reset(0)
    position, velocity, effort = sim.follower_joint_state(0)
    assert len(position) == len(velocity) == len(effort) == len(FOLLOWER_JOINT_NAMES)
    by_name = dict(zip(FOLLOWER_JOINT_NAMES, position))
    assert np.allclose([by_name[j] for j in FOLLOWER_JOINT_NAMES[:6]], HOME_ARM_POSE)
    assert by_name['right_finger'] == pytest.approx(-by_name['left_finger'])
    opening = FOLLOWER_FINGER.normalize(by_name['left_finger'])
    assert by_name['gripper'] == pytest.approx(FOLLOWER_GRIPPER_MOTOR.denormalize(opening))


def test_finger_calibration_matches_the_robot_config():
    robot = load_robot_config(robot_config_path('aloha_sim'))
    for arm in robot.arms:
        assert arm.follower.gripper == FOLLOWER_FINGER


def test_arm_bases_match_the_scene(sim):
    from act_sim.scene import ARM_BASE_XY

    for arm, xy in ARM_BASE_XY.items():
        assert np.allclose(sim.data.body(f'vx300s_{arm}').xpos[:2], xy)
