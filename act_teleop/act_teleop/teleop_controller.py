"""One teleop control tick, without ROS: leader samples in, a safe follower command out.

The node stores the newest leader and follower JointState of each arm with the time it
arrived, and on every control tick asks `TeleopController.tick` what to send. Every
command passes act_common's CommandFilter, so what reaches a follower is never NaN/inf,
always within the joint limits and never more than max_step from the previous command.

States:
- stopped: nothing is sent (the `~/stop` service, or before `~/start` when autostart is off).
- waiting: started, but no fresh follower joint state yet to start from: nothing is sent.
- soft_start: approaching the leader at a reduced max step (act_teleop.soft_start).
- active: mirroring the leader at full speed.
- holding: leader data older than leader_timeout_s, or invalid (missing joint, NaN):
  the last command is sent again, and the reason reported. When valid leader data
  returns, a new soft start begins from the held command.

A start opens a new run (as an activation does in the policy node): joint states that
arrived more than START_TOLERANCE_PERIODS control periods before `start(now_s)` neither
seed the soft start nor command the follower. A follower pose from before a ~/stop and
~/start would start the approach from where the arm was, not where it is. The newest
sample of the current tick counts: in the lockstep simulation the state of step k arrives
while the node's clock still reads step k - 1, and the sim waits for the command computed
from it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Mapping, Sequence

import numpy as np

from act_common.command_safety import CommandFilter, FilterReport, SafetyLimits, is_stale
from act_common.joint_vectors import JointStateError, follower_vector
from act_common.robot_config import RobotConfig
from act_teleop.leader_mapping import ArmMapping
from act_teleop.soft_start import SoftStart, SoftStartSettings

STOPPED, WAITING, SOFT_START, ACTIVE, HOLDING = 'stopped', 'waiting', 'soft_start', 'active', 'holding'
# A sample received up to this many control periods before a start belongs to it (see above).
START_TOLERANCE_PERIODS = 1.5


@dataclass(frozen=True)
class JointSample:
    """A JointState's names and positions and when it arrived (node clock, seconds)."""

    names: Sequence[str]
    positions: Sequence[float]
    received_s: float


@dataclass(frozen=True)
class TeleopSettings:
    # Leader data older than this is stale: the last command is held. Seconds.
    leader_timeout_s: float = 0.1
    # Follower joint states older than this cannot seed a (re)start. Seconds.
    follower_timeout_s: float = 0.5
    soft_start: SoftStartSettings = field(default_factory=SoftStartSettings)

    def __post_init__(self):
        if not (self.leader_timeout_s > 0):
            raise ValueError(f'leader_timeout_s must be > 0, got {self.leader_timeout_s}')
        if not (self.follower_timeout_s > 0):
            raise ValueError(f'follower_timeout_s must be > 0, got {self.follower_timeout_s}')


@dataclass(frozen=True)
class TickResult:
    """What to send this tick (None: send nothing) and why."""

    command: np.ndarray | None  # (robot.vector_size,)
    state: str
    reason: str = ''
    report: FilterReport | None = None


class TeleopController:
    """Maps N leader arms onto N follower arms through one CommandFilter.

    `robot` lists exactly the mirrored arms (TeleopNode passes the robot config reduced to
    the enabled arms); command vectors are in its vector order.
    """

    def __init__(self, robot: RobotConfig, settings: TeleopSettings = TeleopSettings()):
        self.robot = robot
        self.settings = settings
        self.mappings = [ArmMapping.from_arm(arm) for arm in robot.arms]
        self.filter = CommandFilter(SafetyLimits.from_robot(robot))
        self.soft_start = SoftStart(settings.soft_start)
        self._state = STOPPED
        self._holding = False
        # When the current run began (node clock, s); samples received before are not used.
        self._started_s: float | None = None

    @property
    def state(self) -> str:
        return self._state

    def start(self, now_s: float | None = None) -> None:
        """(Re)starts from the follower's measured pose with a soft start; only joint
        states received at or after now_s count (None: any)."""
        self.filter.clear()
        self._holding = False
        self._state = WAITING
        self._started_s = now_s

    def stop(self) -> None:
        self.filter.clear()
        self._state = STOPPED

    def tick(self, now_s: float, leader: Mapping[str, JointSample], follower: Mapping[str, JointSample]) -> TickResult:
        if self._state == STOPPED:
            return TickResult(None, STOPPED, 'stopped')
        if self.filter.last_command is None:
            seeded = self._seed_from_follower(now_s, follower)
            if seeded is not None:
                return TickResult(None, WAITING, seeded)
        target, problem = self._leader_target(now_s, leader)
        if target is None:
            command, report = self.filter.hold(problem)
            self._holding = True
            self._state = HOLDING
            return TickResult(command, HOLDING, problem, report)
        if self._holding:  # valid leader data again: approach it gently from the held command
            self._holding = False
            self.soft_start.begin(now_s)
        scale = self.soft_start.scale(now_s)
        command, report = self.filter.step(target, max_step_scale=scale)
        self.soft_start.update(caught_up=not report.rate_limited)
        self._state = SOFT_START if self.soft_start.active else ACTIVE
        return TickResult(command, self._state, '', report)

    def _seed_from_follower(self, now_s: float, follower: Mapping[str, JointSample]) -> str | None:
        """Seeds the filter with the measured follower pose; returns why it could not."""
        parts = []
        for arm in self.robot.arms:
            sample = follower.get(arm.name)
            if (sample is None or is_stale(sample.received_s, now_s, self.settings.follower_timeout_s)
                    or self._before_start(sample)):
                self._state = WAITING
                return f'waiting for fresh follower joint states on {arm.follower.joint_states_topic}'
            try:
                parts.append(follower_vector(arm, sample.names, sample.positions))
            except JointStateError as error:
                self._state = WAITING
                return f'cannot start from the follower pose: {error}'
        self.filter.reset(np.concatenate(parts))
        self.soft_start.begin(now_s)
        self._holding = False
        return None

    def _before_start(self, sample: JointSample) -> bool:
        if self._started_s is None:
            return False
        return sample.received_s < self._started_s - START_TOLERANCE_PERIODS * self.robot.control_period_s

    def _leader_target(self, now_s: float, leader: Mapping[str, JointSample]) -> tuple[np.ndarray | None, str]:
        parts, stale = [], []
        for mapping in self.mappings:
            arm = mapping.arm
            sample = leader.get(arm.name)
            if sample is None:
                stale.append(f'{arm.leader.joint_states_topic} never received')
                continue
            if self._before_start(sample):
                stale.append(f'{arm.leader.joint_states_topic} not received since the start')
                continue
            if is_stale(sample.received_s, now_s, self.settings.leader_timeout_s):
                stale.append(f'{arm.leader.joint_states_topic} {now_s - sample.received_s:.2f} s old')
                continue
            try:
                parts.append(mapping.follower_target(sample.names, sample.positions))
            except JointStateError as error:
                stale.append(f'invalid leader sample: {error}')
        if stale:
            return None, 'holding: ' + '; '.join(stale)
        return np.concatenate(parts), ''
