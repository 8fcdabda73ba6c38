"""sim_node over DDS: clock, joint states, images, rewards, reset, commands."""


import numpy as np
import pytest
from act_msgs.srv import ResetSim

from act_sim.scene import FOLLOWER_JOINT_NAMES, HOME_ARM_POSE
from sim_ros_harness import SimHarness, joint_vector

# sim_node stepping in real time through resets and episodes.
pytestmark = pytest.mark.slow

PERIOD_NS = 20_000_000
ARM_JOINTS = FOLLOWER_JOINT_NAMES[:6]


@pytest.fixture(scope='module')
def harness():
    running = SimHarness(real_time_factor=4.0)
    yield running
    running.close()


def test_clock_joint_states_and_rewards_advance(harness):
    probe = harness.probe
    start = len(probe.clocks)
    assert probe.wait_until(lambda: len(probe.clocks) >= start + 10), 'no /clock'
    clocks = np.array(probe.clocks[start:])
    # Best effort: a tick may be missed, but time only moves forward by whole periods.
    assert np.all(np.diff(clocks) > 0) and np.all(np.diff(clocks) % PERIOD_NS == 0)
    assert probe.wait_until(lambda: len(probe.joint_states['left']) >= 5 and len(probe.rewards) >= 5)
    left = probe.joint_states['left'][-5:]
    assert list(left[-1].name) == list(FOLLOWER_JOINT_NAMES)
    stamps = [m.header.stamp.sec * 10**9 + m.header.stamp.nanosec for m in left]
    assert np.all(np.diff(stamps) > 0)
    reward = probe.rewards[-1]
    assert reward.task == 'transfer_cube' and reward.max_reward == 4.0 and reward.step > 0


def test_reset_same_seed_same_pose(harness):
    probe = harness.probe
    first = probe.reset('transfer_cube', 3)
    assert first.result == ResetSim.Response.RESULT_OK, first.message
    assert len(first.object_poses) == 7
    again = probe.reset('', 3)
    assert list(again.object_poses) == list(first.object_poses)
    other = probe.reset('', 4)
    assert list(other.object_poses) != list(first.object_poses)
    assert probe.wait_until(lambda: any(m.seed == 4 and m.step == 0 for m in probe.rewards))


def test_reset_switches_task_and_refuses_unknown_ones(harness):
    probe = harness.probe
    insertion = probe.reset('insertion', 1)
    assert insertion.result == ResetSim.Response.RESULT_OK and len(insertion.object_poses) == 14
    assert probe.wait_until(lambda: probe.rewards[-1].task == 'insertion')
    unknown = probe.reset('fold_laundry', 1)
    assert unknown.result == ResetSim.Response.RESULT_UNKNOWN_TASK and 'fold_laundry' in unknown.message
    assert probe.reset('transfer_cube', 0).result == ResetSim.Response.RESULT_OK


def _settle(probe, steps):
    target = len(probe.rewards) + steps
    assert probe.wait_until(lambda: len(probe.rewards) >= target), 'the sim stopped stepping'


def test_joint_commands_move_the_joints(harness):
    probe = harness.probe
    probe.reset('transfer_cube', 0)
    left = HOME_ARM_POSE + [0.3, 0.2, -0.2, 0.2, 0.3, -0.3]
    right = HOME_ARM_POSE + [-0.4, 0.1, 0.1, 0.0, -0.2, 0.2]
    probe.command('left', list(left) + [1.0])
    probe.command('right', list(right) + [0.0])
    _settle(probe, 60)
    assert np.abs(joint_vector(probe.latest_positions('left'), ARM_JOINTS) - left).max() < 0.03
    assert np.abs(joint_vector(probe.latest_positions('right'), ARM_JOINTS) - right).max() < 0.03
    assert probe.latest_positions('left')['left_finger'] > 0.05  # open
    assert probe.latest_positions('right')['left_finger'] < 0.025  # closed


def test_malformed_commands_are_rejected_and_do_not_move_the_robot(harness):
    probe = harness.probe
    probe.reset('transfer_cube', 0)
    _settle(probe, 30)
    before = joint_vector(probe.latest_positions('left'), ARM_JOINTS)
    probe.command('left', [0.5] * 6)  # one value short
    probe.command('left', [0.5] * 6 + [float('nan')])
    _settle(probe, 30)
    after = joint_vector(probe.latest_positions('left'), ARM_JOINTS)
    assert np.abs(after - before).max() < 1e-3
    assert np.abs(after - HOME_ARM_POSE).max() < 0.02


def test_images_are_rgb8_of_the_configured_size_with_advancing_stamps(harness):
    probe = harness.probe
    camera = probe.robot.camera('top')
    probe.subscribe_images(camera.topic)
    assert probe.wait_until(lambda: len(probe.images) >= 3, timeout_s=30), 'no images on ' + camera.topic
    images = probe.images[:3]
    for image in images:
        assert image.encoding == 'rgb8'
        assert (image.height, image.width, image.step) == (camera.height, camera.width, camera.width * 3)
        assert len(image.data) == camera.height * camera.width * 3
        assert image.header.frame_id == camera.frame_id
    stamps = [image.header.stamp.sec * 10**9 + image.header.stamp.nanosec for image in images]
    assert np.all(np.diff(stamps) > 0) and np.all(np.diff(stamps) % PERIOD_NS == 0)
    pixels = np.frombuffer(bytes(images[-1].data), dtype=np.uint8).reshape(camera.height, camera.width, 3)
    assert pixels.std() > 10  # a scene, not a blank frame
    # The cube is red: some pixels are much redder than green and blue.
    red = (pixels[..., 0].astype(int) - pixels[..., 1:].max(axis=-1)) > 100
    assert red.sum() > 20
