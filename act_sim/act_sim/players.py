"""Playing a joint trajectory one row per control tick of sim time, without ROS.

Row k is due at start + k * period. The player is asked on every tick which row is due;
it hands each row out at most once and in order, and skips rows whose tick has passed
(after a dropped /clock message the robot gets the row for now, not a stale one).

The conversions to what a leader arm publishes are here too: the scripted leader is a
person with leader arms who moves them exactly along the trajectory.
"""

from __future__ import annotations

import numpy as np

from act_common.robot_config import ArmConfig


class TrajectoryPlayer:
    """Which trajectory row is due at a given sim time."""

    def __init__(self, period_ns: int):
        if period_ns <= 0:
            raise ValueError(f'period_ns must be > 0, got {period_ns}')
        self.period_ns = int(period_ns)
        self._rows: np.ndarray | None = None
        self._start_ns = 0
        self._last_index = -1

    def start(self, rows: np.ndarray, start_ns: int) -> None:
        """Plays `rows` (T, D) from sim time `start_ns` on (row 0 is due then)."""
        rows = np.asarray(rows, dtype=np.float64)
        if rows.ndim != 2 or rows.shape[0] == 0:
            raise ValueError(f'a trajectory must be a non-empty (T, D) array, got shape {rows.shape}')
        if not np.all(np.isfinite(rows)):
            raise ValueError('a trajectory must be finite')
        self._rows = rows
        self._start_ns = int(start_ns)
        self._last_index = -1

    def stop(self) -> None:
        self._rows = None

    @property
    def playing(self) -> bool:
        return self._rows is not None

    @property
    def length(self) -> int:
        return 0 if self._rows is None else len(self._rows)

    def index_at(self, now_ns: int) -> int:
        """Index of the row due at `now_ns` (may be < 0 or past the end)."""
        return int(np.floor((now_ns - self._start_ns) / self.period_ns + 0.5))

    def due(self, now_ns: int) -> tuple[int, np.ndarray] | None:
        """The row due at `now_ns`, if it was not handed out yet; stops after the last row."""
        if self._rows is None:
            return None
        index = self.index_at(now_ns)
        if index >= len(self._rows):
            self._rows = None
            return None
        if index < 0 or index <= self._last_index:
            return None
        self._last_index = index
        return index, self._rows[index]


def leader_joint_state(arm: ArmConfig, row: np.ndarray) -> tuple[list[str], list[float]]:
    """What the arm's leader publishes for a follower target row (config order, (dof,)).

    Inverts the teleop mapping follower = sign * leader + offset per joint; the gripper
    opening is denormalized with the LEADER gripper calibration.
    """
    if arm.leader is None:
        raise ValueError(f'arm {arm.name!r} has no leader in the robot config')
    if len(row) != arm.dof:
        raise ValueError(f'arm {arm.name!r}: expected {arm.dof} values, got {len(row)}')
    leader = arm.leader
    joints = [(value - offset) / sign for value, sign, offset in zip(row[:-1], leader.signs, leader.offsets)]
    names = list(arm.joint_names) + [leader.gripper.joint]
    return names, joints + [leader.gripper.denormalize(float(row[-1]))]
