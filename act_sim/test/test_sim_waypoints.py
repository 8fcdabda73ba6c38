"""Waypoint interpolation and quaternion helpers."""

import numpy as np
import pytest

from act_sim.waypoints import (
    Waypoint,
    check_waypoints,
    interpolate,
    minimum_jerk,
    quat_about,
    quat_between,
    rotate,
    slerp,
)


def _wp(step, x, gripper, quat=(1.0, 0.0, 0.0, 0.0)):
    return Waypoint(step, np.array([x, 0.0, 0.0]), np.array(quat), gripper)


def test_holds_before_start_and_after_end_and_passes_waypoints():
    path = [_wp(10, 0.0, 0.0), _wp(20, 1.0, 1.0)]
    assert interpolate(path, 0)[0][0] == 0.0
    assert interpolate(path, 10)[0][0] == 0.0
    assert interpolate(path, 20)[0][0] == 1.0
    assert interpolate(path, 99)[1] == 1.0
    assert interpolate(path, 15)[0][0] == pytest.approx(0.5)


def test_minimum_jerk_starts_and_stops_still():
    assert minimum_jerk(0.0) == 0.0 and minimum_jerk(1.0) == 1.0
    eps = 1e-4
    assert (minimum_jerk(eps) - minimum_jerk(0.0)) / eps < 1e-6
    assert (minimum_jerk(1.0) - minimum_jerk(1.0 - eps)) / eps < 1e-6
    assert np.all(np.diff([minimum_jerk(f) for f in np.linspace(0, 1, 50)]) > 0)


def test_waypoint_steps_must_increase():
    with pytest.raises(ValueError, match='increase'):
        check_waypoints([_wp(10, 0, 0), _wp(10, 1, 1)])
    with pytest.raises(ValueError):
        check_waypoints([])


def test_quaternions():
    a = quat_about((0, 0, 1), np.pi / 2)
    assert np.allclose(rotate(a, np.array([1.0, 0, 0])), [0, 1, 0])
    half = slerp(np.array([1.0, 0, 0, 0]), a, 0.5)
    assert np.linalg.norm(half) == pytest.approx(1.0)
    assert np.allclose(rotate(half, np.array([1.0, 0, 0])), [np.sqrt(0.5), np.sqrt(0.5), 0])
    turn = quat_between(np.array([1.0, 0, 0]), np.array([0.0, 0.6, 0.8]))
    assert np.allclose(rotate(turn, np.array([1.0, 0, 0])), [0, 0.6, 0.8])
    assert np.allclose(quat_between(np.array([0, 0, 1.0]), np.array([0, 0, 2.0])), [1, 0, 0, 0])
