"""Playing trajectories per tick, and what a scripted leader publishes."""

import numpy as np
import pytest

from act_common.config_paths import robot_config_path
from act_common.joint_vectors import leader_vector
from act_common.robot_config import load_robot_config
from act_sim.players import TrajectoryPlayer, leader_joint_state

PERIOD = 20_000_000


def test_each_row_once_in_order_then_done():
    player = TrajectoryPlayer(PERIOD)
    rows = np.arange(12.0).reshape(4, 3)
    player.start(rows, 1_000_000_000)
    assert player.due(1_000_000_000 - PERIOD) is None  # a tick before the start
    index, row = player.due(1_000_000_000)
    assert index == 0 and np.array_equal(row, rows[0])
    assert player.due(1_000_000_000) is None  # the same tick asks again
    assert player.due(1_000_000_000 + PERIOD + 3)[0] == 1  # clock jitter rounds to the tick
    assert player.due(1_000_000_000 + 3 * PERIOD)[0] == 3  # a missed tick: the row for now
    assert player.playing
    assert player.due(1_000_000_000 + 4 * PERIOD) is None and not player.playing


def test_bad_trajectories_are_refused():
    player = TrajectoryPlayer(PERIOD)
    with pytest.raises(ValueError):
        player.start(np.zeros((0, 14)), 0)
    with pytest.raises(ValueError):
        player.start(np.full((3, 14), np.nan), 0)
    with pytest.raises(ValueError):
        TrajectoryPlayer(0)


def test_leader_state_maps_back_to_the_row():
    robot = load_robot_config(robot_config_path('aloha_sim'))
    arm = robot.arms[0]
    row = np.array([0.1, -0.5, 0.7, 0.05, -0.2, 0.3, 0.25])
    names, positions = leader_joint_state(arm, row)
    assert names == list(arm.joint_names) + [arm.leader.gripper.joint]
    # The leader gripper joint is in the leader's own unit (rad of the WidowX handle).
    assert positions[-1] == pytest.approx(arm.leader.gripper.closed + 0.25 * (arm.leader.gripper.open - arm.leader.gripper.closed))
    # What teleop reads from it (normalized leader gripper, raw joints) is the row again.
    assert np.allclose(leader_vector(arm, names, positions), row)
