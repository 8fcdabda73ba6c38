"""Soft start: after (re)starting, approach the leader slowly, then follow at full speed.

When teleop starts, the leader may be far from the follower. The command filter already
limits every tick to `max_step`; the soft start scales that limit down (`scale`) until
the follower command has caught up with the leader target (a tick on which no entry was
rate-limited), or at most `duration_s`, after which the normal max step applies.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class SoftStartSettings:
    # Longest time the slow approach lasts, seconds (0 disables the soft start).
    duration_s: float = 3.0
    # Fraction of the robot config's max_step allowed per tick while approaching.
    scale: float = 0.1

    def __post_init__(self):
        if not (self.duration_s >= 0.0):
            raise ValueError(f'soft start duration_s must be >= 0, got {self.duration_s}')
        if not (0.0 < self.scale <= 1.0):
            raise ValueError(f'soft start scale must be in (0, 1], got {self.scale}')


class SoftStart:
    def __init__(self, settings: SoftStartSettings):
        self.settings = settings
        self._started_at_s: float | None = None

    def begin(self, now_s: float) -> None:
        self._started_at_s = now_s if self.settings.duration_s > 0 else None

    @property
    def active(self) -> bool:
        return self._started_at_s is not None

    def scale(self, now_s: float) -> float:
        """The max_step scale for this tick; ends the soft start once its time is up."""
        if self._started_at_s is not None and now_s - self._started_at_s >= self.settings.duration_s:
            self._started_at_s = None
        return self.settings.scale if self.active else 1.0

    def update(self, caught_up: bool) -> None:
        """Ends the soft start once the command reached the target."""
        if caught_up:
            self._started_at_s = None
