"""Piecewise interpolation between timed gripper waypoints, pure numpy.

A scripted policy is a list of waypoints per arm: at control step `step` the gripper should
be at `position` with orientation `quat` and opening `gripper`. Between two waypoints the
hand follows a straight line and a constant-axis turn (slerp), timed by a minimum-jerk
profile: it starts and stops with zero velocity and acceleration.

Departures from the original ACT scripts, which moved at constant velocity between
waypoints and interpolated quaternion components linearly: a held object is not jerked at
every waypoint (with constant velocity, lifted pegs and cubes swung and slipped in the
grasp at each corner, and the joint-space replay trailed most at those corners), and the
hand turns about one axis.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np


@dataclass(frozen=True)
class Waypoint:
    step: int
    position: np.ndarray  # (3,) metres, world frame
    quat: np.ndarray  # (4,) w, x, y, z
    gripper: float  # normalized opening, 0 = closed .. 1 = open


def quat_about(axis: Sequence[float], angle_rad: float) -> np.ndarray:
    """Rotation by `angle_rad` about a unit `axis`. (4,)"""
    axis = np.asarray(axis, dtype=float) / np.linalg.norm(axis)
    return np.concatenate([[np.cos(angle_rad / 2)], np.sin(angle_rad / 2) * axis])


def quat_multiply(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """a * b (apply b, then a, for frames: b is expressed in a's frame). (4,)"""
    aw, ax, ay, az = a
    bw, bx, by, bz = b
    return np.array([
        aw * bw - ax * bx - ay * by - az * bz,
        aw * bx + ax * bw + ay * bz - az * by,
        aw * by - ax * bz + ay * bw + az * bx,
        aw * bz + ax * by - ay * bx + az * bw,
    ])


def quat_between(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """The smallest rotation taking direction `a` onto direction `b`. (4,)"""
    a = np.asarray(a, dtype=float) / np.linalg.norm(a)
    b = np.asarray(b, dtype=float) / np.linalg.norm(b)
    axis = np.cross(a, b)
    sin_angle, cos_angle = np.linalg.norm(axis), float(np.dot(a, b))
    if sin_angle < 1e-12:
        if cos_angle > 0:
            return np.array([1.0, 0.0, 0.0, 0.0])
        raise ValueError(f'directions {a} and {b} are opposite: the rotation between them is not unique')
    return quat_about(axis, np.arctan2(sin_angle, cos_angle))


def rotate(quat: np.ndarray, vector: np.ndarray) -> np.ndarray:
    """`vector` turned by `quat`. (3,)"""
    as_quat = np.concatenate([[0.0], vector])
    conjugate = quat * np.array([1.0, -1.0, -1.0, -1.0])
    return quat_multiply(quat_multiply(quat, as_quat), conjugate)[1:]


def slerp(a: np.ndarray, b: np.ndarray, fraction: float) -> np.ndarray:
    a = a / np.linalg.norm(a)
    b = b / np.linalg.norm(b)
    dot = float(np.dot(a, b))
    if dot < 0.0:  # the shorter way round
        b, dot = -b, -dot
    if dot > 0.9995:
        mixed = a + fraction * (b - a)
        return mixed / np.linalg.norm(mixed)
    angle = np.arccos(dot)
    return (np.sin((1 - fraction) * angle) * a + np.sin(fraction * angle) * b) / np.sin(angle)


def minimum_jerk(fraction: float) -> float:
    """Progress along a segment at time fraction 0..1, with zero end velocity and
    acceleration."""
    return fraction ** 3 * (10.0 - 15.0 * fraction + 6.0 * fraction ** 2)


def check_waypoints(waypoints: Sequence[Waypoint]) -> None:
    steps = [waypoint.step for waypoint in waypoints]
    if not steps or any(later <= earlier for earlier, later in zip(steps, steps[1:])):
        raise ValueError(f'waypoint steps must be given and increase, got {steps}')


def interpolate(waypoints: Sequence[Waypoint], step: int) -> tuple[np.ndarray, float]:
    """Pose (7,) and gripper opening at `step`; holds the first waypoint before the start
    and the last one after the end."""
    if step <= waypoints[0].step or step >= waypoints[-1].step:
        held = waypoints[0] if step <= waypoints[0].step else waypoints[-1]
        return np.concatenate([held.position, held.quat]), held.gripper
    index = next(i for i in range(1, len(waypoints)) if waypoints[i].step > step)
    before, after = waypoints[index - 1], waypoints[index]
    fraction = minimum_jerk((step - before.step) / (after.step - before.step))
    position = before.position + fraction * (after.position - before.position)
    quat = slerp(before.quat, after.quat, fraction)
    gripper = before.gripper + fraction * (after.gripper - before.gripper)
    return np.concatenate([position, quat]), gripper
