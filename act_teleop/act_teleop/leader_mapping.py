"""Leader arm joint states -> follower targets, per arm, without ROS types.

ALOHA semantics, kept explicit because the policy learns exactly these numbers:
- The ACTION gripper entry is the normalized LEADER gripper joint: the leader's handle
  position mapped with the leader calibration (robot config `leader.gripper`) onto
  0 = closed .. 1 = open. Each command backend converts that opening into its follower's
  unit (`follower.command.gripper_closed/open`), so the same action drives a sim, a
  ros2_control controller or an Interbotix gripper motor.
- The OBSERVED gripper entry (qpos) is the follower finger position normalized with the
  follower calibration (`follower.gripper`); it is read by act_common.joint_vectors, not
  here.

Arm joints: follower = sign * leader + offset per joint (robot config `leader.signs` and
`leader.offsets`), for leaders mounted or zeroed differently from their follower.

Calibrating the grippers. Wrong ranges make a follower gripper chatter (commanded past
its mechanical stop, the motor fights the stop) or never close fully. Measure them:
1. Leader (`leader.gripper.closed/open`): with the leader's torque off, squeeze its handle
   fully and read the gripper joint (`ros2 topic echo /leader_left/joint_states`, the
   entry named like `leader.gripper.joint`); open it fully and read again.
2. Follower command (`follower.command.gripper_closed/open`): jog the follower gripper
   motor to just touching closed and to fully open, and note the commanded values in the
   command interface's unit (rad for Interbotix / ros2_control). Stop just short of the
   hard stop, or the motor chatters against it.
3. Follower observation (`follower.gripper.closed/open`): at those two poses, read the
   follower finger joint (`follower.gripper.joint`, metres on a ViperX).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np

from act_common.joint_vectors import leader_vector
from act_common.robot_config import ArmConfig


@dataclass(frozen=True)
class ArmMapping:
    """How one leader arm's joint state becomes its follower's target. (dof,) vectors."""

    arm: ArmConfig
    signs: np.ndarray  # (J,)
    offsets: np.ndarray  # (J,)

    @classmethod
    def from_arm(cls, arm: ArmConfig) -> 'ArmMapping':
        if arm.leader is None:
            raise ValueError(f'arm {arm.name!r} has no leader in the robot config ({arm.name}.leader): '
                             'teleop needs one leader per mirrored arm')
        return cls(arm=arm, signs=np.asarray(arm.leader.signs, dtype=np.float64),
                   offsets=np.asarray(arm.leader.offsets, dtype=np.float64))

    def follower_target(self, names: Sequence[str], positions: Sequence[float]) -> np.ndarray:
        """The follower target for one leader JointState: (dof,), arm joints (rad) then the
        normalized leader gripper opening. Raises JointStateError on a missing or
        non-finite joint, so a bad sample can never become a command."""
        leader = leader_vector(self.arm, names, positions)  # (dof,)
        target = leader.copy()
        target[:-1] = self.signs * leader[:-1] + self.offsets
        return target
