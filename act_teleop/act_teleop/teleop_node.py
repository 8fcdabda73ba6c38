"""TeleopNode (`teleop_node`): mirrors leader arms onto follower arms at the control rate.

Subscribes, per mirrored arm (names from the robot config):
  <leader joint_states_topic>    sensor_msgs/JointState  SENSOR_QOS
  <follower joint_states_topic>  sensor_msgs/JointState  SENSOR_QOS  (the soft-start seed)
Publishes:
  each follower's command interface (act_common.command_backends: Float64MultiArray,
  JointTrajectory or Interbotix JointGroupCommand + JointSingleCommand), and
  <robot action_topic> sensor_msgs/JointState: the commanded targets, named like the
  state vector. That topic is the action a policy learns (see act_teleop.leader_mapping
  for the ALOHA gripper semantics).
  ~/status act_msgs/PolicyStatus: the commander health message the policy node publishes
  too, so one monitor watches either commander (ACTIVE, HOLDING with the reason, INACTIVE).
Services: ~/stop and ~/start (std_srvs/Trigger); start begins a new soft start.

  /diagnostics diagnostic_msgs/DiagnosticArray, 1 Hz (wall clock): 'teleop: state' and
  'teleop: leader <arm>' (leader joint states age: WARN above diagnostics_leader_age_warn_s,
  STALE above leader_timeout_s or never received).

Callbacks only store the newest sample; the control timer runs act_teleop.teleop_controller
at the robot's control rate, on sim time with use_sim_time. The node spins on a
SingleThreadedExecutor: no callback blocks (the services only flip the mirroring state),
and rclpy 9.1's MultiThreadedExecutor costs a core and milliseconds per message
(act_common.node_set; act_teleop.recorder_node lost joint states on it).
"""

from __future__ import annotations

import threading
from dataclasses import replace

from act_msgs.msg import PolicyStatus
from rclpy.callback_groups import MutuallyExclusiveCallbackGroup
from rclpy.node import Node
from sensor_msgs.msg import JointState
from std_srvs.srv import Trigger

from act_common import diagnostics
from act_common.command_backends import RobotCommandPublisher
from act_common.parameters import ParameterSpec, ParameterTable
from act_common.interfaces import STATUS_TOPIC_QOS, TELEOP_NODE, TELEOP_START, TELEOP_STATUS, TELEOP_STOP
from act_common.qos import SENSOR_QOS
from act_common.robot_config import RobotConfig, load_robot_config
from act_common.ros_time import NS_PER_S
from act_teleop.soft_start import SoftStartSettings
from act_teleop.teleop_controller import (ACTIVE, HOLDING, SOFT_START, STOPPED, JointSample, TeleopController,
                                          TeleopSettings)

_STATUS_STATE = {ACTIVE: PolicyStatus.STATE_ACTIVE, SOFT_START: PolicyStatus.STATE_ACTIVE,
                 HOLDING: PolicyStatus.STATE_HOLDING}
# The node's parameters (act_common.parameters): declared from here, checked against
# config/teleop.yaml, listed in the README.
PARAMETERS = ParameterTable('teleop', [
    ParameterSpec('robot_config', 'string', '', 'Path of the robot config YAML (act_common/config/robots/*.yaml).',
                  'start'),
    ParameterSpec('arms', 'string_array', None,
                  'Arms to mirror (robot config arm names); unset = every arm with a leader.', 'start'),
    ParameterSpec('autostart', 'bool', True, 'Start mirroring at once; false waits for the ~/start service.', 'start'),
    ParameterSpec('leader_timeout_s', 'double', TeleopSettings.leader_timeout_s,
                  'Leader joint states older than this (s) are stale: the last command is held.', range=(0.001, 10.0)),
    ParameterSpec('soft_start_duration_s', 'double', SoftStartSettings.duration_s,
                  'Longest slow approach to the leader pose after a start (s); 0 = none.', range=(0.0, 60.0)),
    ParameterSpec('soft_start_scale', 'double', SoftStartSettings.scale,
                  'Fraction of the max step per tick during the soft start.', range=(0.001, 1.0)),
    ParameterSpec('diagnostics_leader_age_warn_s', 'double', 0.05,
                  '/diagnostics: leader joint states older than this are WARN (STALE above leader_timeout_s).',
                  range=(0.0, 60.0)),
])
_DYNAMIC = ('leader_timeout_s', 'soft_start_duration_s', 'soft_start_scale')


def select_arms(robot: RobotConfig, names: list[str]) -> RobotConfig:
    """The robot config reduced to the named arms (all arms with a leader when empty)."""
    if not names:
        arms = tuple(arm for arm in robot.arms if arm.leader is not None)
        if not arms:
            raise ValueError(f'{robot.source_path}: no arm has a leader; teleop has nothing to mirror')
        return replace(robot, arms=arms)
    known = [arm.name for arm in robot.arms]
    unknown = [name for name in names if name not in known]
    if unknown:
        raise ValueError(f'parameter arms: {unknown} are not arms of robot {robot.name!r} ({robot.source_path}); '
                         f'it has {known}')
    return replace(robot, arms=tuple(arm for arm in robot.arms if arm.name in names))


class TeleopNode(Node):
    def __init__(self, **node_kwargs):
        super().__init__(TELEOP_NODE, **node_kwargs)
        self._lock = threading.Lock()
        self.controller: TeleopController | None = None
        self._values = PARAMETERS.declare(self, self._on_set_parameters)
        path = self._values['robot_config']
        if not path:
            raise ValueError('teleop: parameter robot_config is empty: give the path of a robot config YAML')
        self.robot = select_arms(load_robot_config(path), list(self._values['arms'] or []))
        self.controller = TeleopController(self.robot, self._settings(self._values))
        self._leader: dict[str, JointSample] = {}
        self._follower: dict[str, JointSample] = {}
        self._ticks = 0
        self._held_ticks = 0
        self._last_state = None
        self._ticks_since_status = 0

        self.commands = RobotCommandPublisher(self, self.robot)
        self._status_pub = self.create_publisher(PolicyStatus, TELEOP_STATUS, STATUS_TOPIC_QOS)
        for arm in self.robot.arms:
            self.create_subscription(JointState, arm.leader.joint_states_topic,
                                     lambda msg, name=arm.name: self._store(self._leader, name, msg), SENSOR_QOS)
            self.create_subscription(JointState, arm.follower.joint_states_topic,
                                     lambda msg, name=arm.name: self._store(self._follower, name, msg), SENSOR_QOS)
        services = MutuallyExclusiveCallbackGroup()
        self.create_service(Trigger, TELEOP_START, self._on_start, callback_group=services)
        self.create_service(Trigger, TELEOP_STOP, self._on_stop, callback_group=services)
        self._timer = self.create_timer(self.robot.control_period_s, self._on_tick)
        self._diagnostics = diagnostics.DiagnosticsTimer(self, self.diagnostic_statuses)
        if self._values['autostart']:
            self.controller.start(self._now_s())
        self.get_logger().info(f'mirroring arms {[arm.name for arm in self.robot.arms]} of {self.robot.name!r} at '
                               f'{self.robot.control_rate_hz:g} Hz ({"started" if self.controller.state != STOPPED else "stopped"})')

    # --- parameters ---

    @staticmethod
    def _settings(values: dict) -> TeleopSettings:
        return TeleopSettings(
            leader_timeout_s=values['leader_timeout_s'],
            soft_start=SoftStartSettings(duration_s=values['soft_start_duration_s'], scale=values['soft_start_scale']))

    def _on_set_parameters(self, values: dict, changed: dict) -> None:
        """Applies the run-time parameters as a whole; raises ValueError to refuse."""
        settings = self._settings(values)
        with self._lock:
            self._values = values
            if self.controller is not None and any(name in _DYNAMIC for name in changed):
                self.controller.settings = settings
                self.controller.soft_start.settings = settings.soft_start

    def diagnostic_statuses(self) -> list[diagnostics.Status]:
        """The /diagnostics statuses now: the mirroring state and each leader's age."""
        now_s = self._now_s()
        with self._lock:
            leader = dict(self._leader)
            values, state = self._values, self.controller.state
        statuses = [diagnostics.Status('teleop: state', diagnostics.OK, state,
                                       {'ticks': str(self._ticks), 'held_ticks': str(self._held_ticks)})]
        for arm in self.robot.arms:
            sample = leader.get(arm.name)
            age_s = None if sample is None else now_s - sample.received_s
            statuses.append(diagnostics.age_status(f'teleop: leader {arm.name}', arm.leader.joint_states_topic, age_s,
                                                   values['diagnostics_leader_age_warn_s'], values['leader_timeout_s']))
        return statuses

    # --- callbacks: store and return ---

    def _now_s(self) -> float:
        return self.get_clock().now().nanoseconds / NS_PER_S

    def _store(self, into: dict, arm: str, msg: JointState) -> None:
        sample = JointSample(list(msg.name), list(msg.position), self._now_s())
        with self._lock:
            into[arm] = sample

    def start_mirroring(self) -> None:
        """What ~/start does: a new soft start from the follower's measured pose."""
        with self._lock:
            self.controller.start(self._now_s())
        self.get_logger().info('teleop started: soft start from the follower pose')

    def stop_mirroring(self) -> None:
        """What ~/stop does: no more follower commands until the next start."""
        with self._lock:
            self.controller.stop()
        self.get_logger().info('teleop stopped: no more follower commands')

    def _on_start(self, request: Trigger.Request, response: Trigger.Response) -> Trigger.Response:
        self.start_mirroring()
        response.success, response.message = True, 'teleop started: soft start from the follower pose'
        return response

    def _on_stop(self, request: Trigger.Request, response: Trigger.Response) -> Trigger.Response:
        self.stop_mirroring()
        response.success, response.message = True, 'teleop stopped: no more follower commands'
        return response

    # --- control tick ---

    def _on_tick(self) -> None:
        now = self.get_clock().now()
        with self._lock:
            result = self.controller.tick(now.nanoseconds / NS_PER_S, dict(self._leader), dict(self._follower))
        if result.state == STOPPED:
            self._report(result, now)
            return
        self._ticks += 1
        if result.state == HOLDING:
            self._held_ticks += 1
            self.get_logger().warning(result.reason, throttle_duration_sec=1.0)
        if result.command is not None:
            self.commands.send(result.command, stamp=now.to_msg())
        self._report(result, now)

    def _report(self, result, now) -> None:
        """Publishes ~/status on every state change and once a second."""
        changed = result.state != self._last_state
        self._ticks_since_status += 1
        if not changed and self._ticks_since_status < self.robot.control_rate_hz:
            return
        self._ticks_since_status = 0
        if changed and result.state not in (HOLDING, STOPPED):
            self.get_logger().info(f'teleop {result.state}' + (f': {result.reason}' if result.reason else ''))
        self._last_state = result.state
        status = PolicyStatus(state=_STATUS_STATE.get(result.state, PolicyStatus.STATE_INACTIVE),
                              detail=f'{result.state}' + (f': {result.reason}' if result.reason else ''),
                              ticks=self._ticks, held_ticks=self._held_ticks)
        status.header.stamp = now.to_msg()
        self._status_pub.publish(status)


def main(args: list[str] | None = None) -> None:
    from act_common.node_main import spin_node

    spin_node(TeleopNode, args)
