"""Binding the robot config onto the simulated scene."""

from dataclasses import replace

import numpy as np
import pytest

from act_common.config_paths import robot_config_path
from act_common.robot_config import load_robot_config
from act_sim.robot_binding import (
    ArmCommandError,
    SimConfigError,
    bind_robot,
    config_to_scene_vector,
    scene_to_config_vector,
)
from act_sim.sim import home_targets


@pytest.fixture(scope='module')
def robot():
    return load_robot_config(robot_config_path('aloha_sim'))


def test_aloha_sim_binds_in_order(robot):
    bindings = bind_robot(robot)
    assert [b.arm.name for b in bindings] == ['left', 'right']
    assert [b.scene_index for b in bindings] == [0, 1]
    vector = np.arange(14.0)
    assert np.array_equal(scene_to_config_vector(bindings, vector), vector)
    assert np.array_equal(config_to_scene_vector(bindings, vector, home_targets()), vector)


def test_commands_are_checked(robot):
    binding = bind_robot(robot)[0]
    assert np.array_equal(binding.scene_command([1, 2, 3, 4, 5, 6, 0.5]), [1, 2, 3, 4, 5, 6, 0.5])
    with pytest.raises(ArmCommandError, match='/follower_left/commands/joint_positions: expected 7 values'):
        binding.scene_command([1, 2, 3, 4, 5, 6])
    with pytest.raises(ArmCommandError, match='finite'):
        binding.scene_command([1, 2, 3, float('inf'), 5, 6, 0.5])


def test_permuted_joint_order_is_mapped(robot):
    left = robot.arms[0]
    permuted = replace(left, joint_names=tuple(reversed(left.joint_names)))
    binding = bind_robot(replace(robot, arms=(permuted,)))[0]
    # The command lists wrist_rotate first; the scene wants waist first.
    assert np.array_equal(binding.scene_command([6, 5, 4, 3, 2, 1, 0.5]), [1, 2, 3, 4, 5, 6, 0.5])
    assert np.array_equal(scene_to_config_vector([binding], np.array([1, 2, 3, 4, 5, 6, 0.5] * 2)),
                          [6, 5, 4, 3, 2, 1, 0.5])


def test_configs_of_other_robots_are_refused_with_the_field(robot):
    hardware = load_robot_config(robot_config_path('aloha'))
    with pytest.raises(SimConfigError, match=r'robot.arms\[0\].follower.command.interface'):
        bind_robot(hardware)
    single = load_robot_config(robot_config_path('single_arm'))
    with pytest.raises(SimConfigError, match=r"robot.arms\[0\].name.*'arm'"):
        bind_robot(single)
    left = robot.arms[0]
    renamed = replace(left, joint_names=('a',) + left.joint_names[1:])
    with pytest.raises(SimConfigError, match='joint_names'):
        bind_robot(replace(robot, arms=(renamed,)))
