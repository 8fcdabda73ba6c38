"""The last check between any target (a leader arm, a policy) and the motors.

Teleop and the policy node both pass every target through a CommandFilter, so one piece of
code guarantees what reaches a follower: never NaN/inf, always within the joint limits,
never more than `max_step` away from the previous command, and the previous command held
(not a guess) when there is no valid target.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from act_common.robot_config import RobotConfig


@dataclass(frozen=True)
class SafetyLimits:
    """Per entry of the robot vector: position limits and the largest change per tick."""

    lower: np.ndarray  # (D,)
    upper: np.ndarray  # (D,)
    max_step: np.ndarray  # (D,)

    def __post_init__(self):
        shapes = {self.lower.shape, self.upper.shape, self.max_step.shape}
        if len(shapes) != 1 or self.lower.ndim != 1:
            raise ValueError(f'lower, upper and max_step must be 1-D of one length, got {sorted(shapes)}')
        if np.any(self.lower >= self.upper):
            raise ValueError(f'lower must be below upper at every entry, not at {np.flatnonzero(self.lower >= self.upper).tolist()}')
        if np.any(self.max_step <= 0) or not np.all(np.isfinite(self.max_step)):
            raise ValueError(f'max_step must be finite and > 0, got {self.max_step.tolist()}')

    @classmethod
    def from_robot(cls, robot: RobotConfig) -> 'SafetyLimits':
        return cls(
            lower=np.concatenate([arm.follower.lower_limits for arm in robot.arms]).astype(np.float64),
            upper=np.concatenate([arm.follower.upper_limits for arm in robot.arms]).astype(np.float64),
            max_step=np.concatenate([arm.follower.max_step for arm in robot.arms]).astype(np.float64),
        )

    @property
    def size(self) -> int:
        return self.lower.shape[0]


@dataclass(frozen=True)
class FilterReport:
    """What the filter did to one target. `held` means the previous command was repeated."""

    held: bool = False
    reason: str = ''
    clamped: tuple[int, ...] = ()  # entries moved back inside the joint limits
    rate_limited: tuple[int, ...] = ()  # entries slowed down to max_step


class CommandFilter:
    """Stateful filter: remembers the last command it let through.

    Seed it with the measured follower position (`reset`) before the first command, so the
    step limit applies from where the robot really is: a policy or leader far from the
    follower then moves it there gradually instead of jumping.
    """

    def __init__(self, limits: SafetyLimits):
        self.limits = limits
        self._last: np.ndarray | None = None

    @property
    def last_command(self) -> np.ndarray | None:
        return None if self._last is None else self._last.copy()

    def reset(self, follower_position: np.ndarray) -> None:
        """Starts from the follower's measured position (clamped into the limits)."""
        position = np.asarray(follower_position, dtype=np.float64)
        self._check_size(position)
        if not np.all(np.isfinite(position)):
            raise ValueError(f'follower position has non-finite entries {np.flatnonzero(~np.isfinite(position)).tolist()}')
        self._last = np.clip(position, self.limits.lower, self.limits.upper)

    def clear(self) -> None:
        """Forgets the last command: nothing is sent until the next `reset`."""
        self._last = None

    def hold(self, reason: str) -> tuple[np.ndarray | None, FilterReport]:
        """The previous command again (None before the first reset), with the reason."""
        return self.last_command, FilterReport(held=True, reason=reason)

    def step(self, target: np.ndarray | None, max_step_scale: float = 1.0) -> tuple[np.ndarray | None, FilterReport]:
        """The command to send this tick for `target`, and what was done to it.

        target None (no valid data this tick) or non-finite entries -> hold. max_step_scale
        below 1 slows the approach, e.g. for a soft start.
        """
        if self._last is None:
            return None, FilterReport(held=True, reason='no follower position yet: filter not reset')
        if target is None:
            return self.hold('no target this tick')
        target = np.asarray(target, dtype=np.float64)
        self._check_size(target)
        bad = np.flatnonzero(~np.isfinite(target))
        if bad.size:
            return self.hold(f'non-finite target at entries {bad.tolist()}')
        if not (0.0 < max_step_scale <= 1.0):
            raise ValueError(f'max_step_scale must be in (0, 1], got {max_step_scale}')
        clamped_target = np.clip(target, self.limits.lower, self.limits.upper)
        max_step = self.limits.max_step * max_step_scale
        command = np.clip(clamped_target, self._last - max_step, self._last + max_step)
        report = FilterReport(
            clamped=tuple(np.flatnonzero(clamped_target != target).tolist()),
            rate_limited=tuple(np.flatnonzero(command != clamped_target).tolist()),
        )
        self._last = command
        return command.copy(), report

    def _check_size(self, vector: np.ndarray) -> None:
        if vector.shape != (self.limits.size,):
            raise ValueError(f'expected a vector of {self.limits.size} entries, got shape {vector.shape}')


def is_stale(received_at_s: float | None, now_s: float, timeout_s: float) -> bool:
    """True when nothing was received yet or the newest sample is older than timeout_s."""
    return received_at_s is None or now_s - received_at_s > timeout_s
