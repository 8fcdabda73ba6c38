"""Teleop logic without ROS: mapping, gripper semantics, clamping, stale hold, NaN, soft start."""

from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from act_common.robot_config import load_robot_config
from act_teleop.leader_mapping import ArmMapping
from act_teleop.soft_start import SoftStartSettings
from act_teleop.teleop_controller import (ACTIVE, HOLDING, SOFT_START, STOPPED, WAITING, JointSample,
                                          TeleopController, TeleopSettings)

ROBOTS = Path(__file__).resolve().parents[2] / 'act_common' / 'config' / 'robots'
ALOHA = load_robot_config(ROBOTS / 'aloha_sim.yaml')
ARM = ('waist', 'shoulder', 'elbow', 'forearm_roll', 'wrist_angle', 'wrist_rotate')
LEADER_GRIPPER = ALOHA.arms[0].leader.gripper  # closed -0.6842, open 0.3083
FOLLOWER_FINGER = ALOHA.arms[0].follower.gripper  # closed 0.01844, open 0.058
NO_SOFT_START = TeleopSettings(soft_start=SoftStartSettings(duration_s=0.0))


def leader_sample(joints, opening, t):
    """A leader JointState (shuffled order) for arm joints (rad) and a normalized opening."""
    names = ['gripper', *reversed(ARM)]
    positions = [LEADER_GRIPPER.denormalize(opening), *reversed(list(joints))]
    return JointSample(names, positions, t)


def follower_sample(joints, opening, t):
    finger = FOLLOWER_FINGER.denormalize(opening)
    return JointSample([*ARM, 'left_finger', 'right_finger'], [*joints, finger, -finger], t)


def with_offsets(robot, arm_index, signs, offsets):
    arms = list(robot.arms)
    arm = arms[arm_index]
    arms[arm_index] = replace(arm, leader=replace(arm.leader, signs=tuple(signs), offsets=tuple(offsets)))
    return replace(robot, arms=tuple(arms))


def started(robot=ALOHA, settings=NO_SOFT_START, joints=np.zeros(6), opening=0.5, t=0.0):
    controller = TeleopController(robot, settings)
    controller.start()
    follower = {arm.name: follower_sample(joints, opening, t) for arm in robot.arms}
    return controller, follower


def test_mirror_applies_sign_and_offset_per_joint_and_maps_the_gripper():
    signs, offsets = [1, -1, 1, -1, 1, 1], [0.0, 0.05, -0.05, 0.0, 0.02, 0.0]
    robot = with_offsets(ALOHA, 1, signs, offsets)
    controller, follower = started(robot)
    joints = np.array([0.01, 0.02, -0.03, 0.04, -0.05, 0.06])
    leader = {'left': leader_sample(joints, 0.3, 0.0), 'right': leader_sample(joints, 0.7, 0.0)}
    result = controller.tick(0.0, leader, follower)
    assert result.state == ACTIVE and not result.report.rate_limited
    np.testing.assert_allclose(result.command[:6], joints)
    np.testing.assert_allclose(result.command[7:13], np.array(signs) * joints + offsets)
    # Action gripper = the normalized LEADER gripper joint, not a follower unit.
    assert result.command[6] == pytest.approx(0.3) and result.command[13] == pytest.approx(0.7)


def test_mapping_needs_a_leader():
    with pytest.raises(ValueError, match="arm 'left' has no leader"):
        ArmMapping.from_arm(replace(ALOHA.arms[0], leader=None))


def test_targets_are_clamped_to_limits_and_to_the_max_step():
    controller, follower = started(joints=np.array([3.1, 0, 0, 0, 0, 0]), opening=1.0)
    # Past the waist limit (3.14158), a gripper beyond fully open, a shoulder jump of 1 rad.
    leader = {name: leader_sample([3.5, 1.0, 0, 0, 0, 0], 1.4, 0.0) for name in ('left', 'right')}
    result = controller.tick(0.0, leader, follower)
    assert result.command[0] == pytest.approx(3.14158)  # clamped to the upper limit
    assert result.command[1] == pytest.approx(0.1)  # max step 0.1 rad per tick
    assert result.command[6] == pytest.approx(1.0)  # gripper opening clamped to 1
    assert 0 in result.report.clamped and 6 in result.report.clamped and 1 in result.report.rate_limited
    second = controller.tick(0.02, {k: replace(v, received_s=0.02) for k, v in leader.items()}, follower)
    assert second.command[1] == pytest.approx(0.2)


def test_stale_leader_holds_the_last_command_and_says_why():
    controller, follower = started()
    leader = {name: leader_sample(np.full(6, 0.05), 0.5, 0.0) for name in ('left', 'right')}
    first = controller.tick(0.0, leader, follower)
    held = controller.tick(0.5, leader, follower)  # leader 0.5 s old, timeout 0.1 s
    assert held.state == HOLDING and '/leader_left/joint_states 0.50 s old' in held.reason
    np.testing.assert_array_equal(held.command, first.command)
    # Fresh data again: moves on, from the held command.
    fresh = {name: leader_sample(np.full(6, 0.06), 0.5, 0.52) for name in ('left', 'right')}
    assert controller.tick(0.52, fresh, follower).command[0] == pytest.approx(0.06)


@pytest.mark.parametrize('bad', [np.nan, np.inf, -np.inf])
def test_non_finite_leader_values_are_never_forwarded(bad):
    controller, follower = started()
    good = {name: leader_sample(np.full(6, 0.05), 0.5, 0.0) for name in ('left', 'right')}
    first = controller.tick(0.0, good, follower)
    broken = dict(good, right=leader_sample([0, 0, bad, 0, 0, 0], 0.5, 0.02))
    result = controller.tick(0.02, broken, follower)
    assert result.state == HOLDING and 'invalid leader sample' in result.reason
    assert np.all(np.isfinite(result.command))
    np.testing.assert_array_equal(result.command, first.command)
    nan_gripper = dict(good, left=JointSample(['gripper', *ARM], [bad, 0, 0, 0, 0, 0, 0], 0.04))
    assert np.all(np.isfinite(controller.tick(0.04, nan_gripper, follower).command))


def test_soft_start_is_gradual_then_full_speed():
    settings = TeleopSettings(soft_start=SoftStartSettings(duration_s=10.0, scale=0.1))
    controller, follower = started(settings=settings)
    commands = []
    for tick in range(30):
        t = tick * 0.02
        leader = {name: leader_sample(np.full(6, 0.05), 0.5, t) for name in ('left', 'right')}
        result = controller.tick(t, leader, follower)
        commands.append((result.state, result.command[0]))
    steps = np.diff([0.0] + [command for _, command in commands])
    # 0.05 rad away at 0.1 x 0.1 rad per tick: five steps of 0.01 rad, then caught up.
    np.testing.assert_allclose(steps[:5], 0.01)
    assert [state for state, _ in commands[:5]] == [SOFT_START] * 4 + [ACTIVE]
    assert commands[5][1] == pytest.approx(0.05)
    # After catching up the leader is followed at full speed (0.1 rad per tick).
    leader = {name: leader_sample(np.full(6, 0.5), 0.5, 1.0) for name in ('left', 'right')}
    assert controller.tick(1.0, leader, follower).command[0] == pytest.approx(0.15)


def test_soft_start_ends_after_its_duration_even_if_not_caught_up():
    settings = TeleopSettings(soft_start=SoftStartSettings(duration_s=0.1, scale=0.1))
    controller, follower = started(settings=settings)
    far = lambda t: {name: leader_sample(np.full(6, 2.0), 0.5, t) for name in ('left', 'right')}  # noqa: E731
    assert controller.tick(0.0, far(0.0), follower).state == SOFT_START
    result = controller.tick(0.12, far(0.12), follower)
    assert result.state == ACTIVE and result.command[0] == pytest.approx(0.01 + 0.1)


def test_waits_for_the_follower_and_stops_on_request():
    controller = TeleopController(ALOHA, NO_SOFT_START)
    leader = {name: leader_sample(np.zeros(6), 0.5, 0.0) for name in ('left', 'right')}
    assert controller.tick(0.0, leader, {}).state == STOPPED
    controller.start()
    waiting = controller.tick(0.0, leader, {})
    assert waiting.state == WAITING and waiting.command is None and '/follower_left/joint_states' in waiting.reason
    old_follower = {name: follower_sample(np.zeros(6), 0.5, -1.0) for name in ('left', 'right')}
    assert controller.tick(0.0, leader, old_follower).state == WAITING
    controller.stop()
    assert controller.tick(0.0, leader, old_follower).command is None


def test_single_arm_robot():
    robot = load_robot_config(ROBOTS / 'single_arm.yaml')
    controller = TeleopController(robot, NO_SOFT_START)
    controller.start()
    follower = {'arm': JointSample([*ARM, 'left_finger'], [0.0] * 6 + [0.058], 0.0)}
    leader = {'arm': JointSample([*ARM, 'gripper'], [0.02] * 6 + [0.3083], 0.0)}
    result = controller.tick(0.0, leader, follower)
    assert result.command.shape == (7,) and result.command[-1] == pytest.approx(1.0)


def test_settings_are_validated():
    with pytest.raises(ValueError, match='leader_timeout_s must be > 0, got 0'):
        TeleopSettings(leader_timeout_s=0)
    with pytest.raises(ValueError, match=r'scale must be in \(0, 1\], got 2'):
        SoftStartSettings(scale=2)


def test_a_restart_uses_only_joint_states_received_after_it():
    # stop -> start: the follower pose and leader sample from before the start belong to
    # the previous run; the soft start waits for fresh ones (same rule as the policy
    # node's activations).
    controller = TeleopController(ALOHA, NO_SOFT_START)
    controller.start(now_s=10.0)
    # 50 Hz: a sample 0.03 s (1.5 periods) or less before the start is the current one.
    before = {name: follower_sample(np.full(6, 0.3), 0.5, 9.95) for name in ('left', 'right')}
    leader = {name: leader_sample(np.zeros(6), 0.5, 10.0) for name in ('left', 'right')}
    waiting = controller.tick(10.0, leader, before)
    assert waiting.state == WAITING and waiting.command is None
    after = {name: follower_sample(np.zeros(6), 0.5, 10.01) for name in ('left', 'right')}
    old_leader = {name: leader_sample(np.full(6, 0.2), 0.5, 9.96) for name in ('left', 'right')}
    held = controller.tick(10.02, old_leader, after)
    assert held.state == HOLDING and 'not received since the start' in held.reason
    np.testing.assert_allclose(held.command[:6], np.zeros(6))  # the seed, where the arm is now
    current_leader = {name: leader_sample(np.zeros(6), 0.5, 9.99) for name in ('left', 'right')}
    assert controller.tick(10.02, current_leader, after).state in (ACTIVE, SOFT_START)
