"""The health of each node as ROS tools read it: diagnostic_msgs/DiagnosticArray on
/diagnostics, once a second, one DiagnosticStatus per concern.

rqt_robot_monitor, Foxglove and the diagnostic aggregator read /diagnostics. Levels follow
diagnostic_msgs/DiagnosticStatus: OK, WARN, ERROR, and STALE for data that stopped coming
(a topic never received or older than its timeout). Status names read '<node>: <concern>'
(the aggregator groups by the prefix). Thresholds come from each node's parameters.

The statuses are computed here by pure functions of numbers (tested without ROS);
`to_message` and `DiagnosticsTimer` are the only ROS parts.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Callable, Mapping, Sequence

from act_common.interfaces import DIAGNOSTICS_TOPIC

# diagnostic_msgs/DiagnosticStatus levels (byte constants in the message).
OK, WARN, ERROR, STALE = 0, 1, 2, 3
LEVEL_NAMES = {OK: 'OK', WARN: 'WARN', ERROR: 'ERROR', STALE: 'STALE'}
# REP 107 / diagnostic_updater publish at 1 Hz.
DIAGNOSTICS_PERIOD_S = 1.0


@dataclass(frozen=True)
class Status:
    """One DiagnosticStatus: name '<node>: <concern>', level, message, key/values."""

    name: str
    level: int
    message: str
    values: Mapping[str, str] = field(default_factory=dict)
    hardware_id: str = ''


@dataclass(frozen=True)
class Band:
    """Thresholds of a figure where higher is worse: above `warn` WARN, above `error` ERROR."""

    warn: float
    error: float = math.inf

    def __post_init__(self):
        if not (self.warn >= 0 and self.error >= self.warn):
            raise ValueError(f'thresholds need 0 <= warn <= error, got warn {self.warn}, error {self.error}')

    def level(self, value: float) -> int:
        if value > self.error:
            return ERROR
        return WARN if value > self.warn else OK


def _fmt(value: float, unit: str = '') -> str:
    return 'n/a' if value is None or not math.isfinite(value) else f'{value:.3g}{unit}'


def age_status(name: str, topic: str, age_s: float | None, warn_s: float, stale_s: float) -> Status:
    """A topic's age (now - newest header stamp): OK, WARN above warn_s, STALE above stale_s
    or never received (the node holds at stale_s: observation_timeout_s, leader_timeout_s)."""
    values = {'topic': topic, 'age_s': _fmt(age_s), 'warn_s': _fmt(warn_s), 'stale_s': _fmt(stale_s)}
    if age_s is None:
        return Status(name, STALE, f'{topic}: never received', values)
    if age_s > stale_s:
        return Status(name, STALE, f'{topic}: {age_s:.2f} s old (stale above {stale_s:g} s)', values)
    if age_s > warn_s:
        return Status(name, WARN, f'{topic}: {age_s:.2f} s old (warn above {warn_s:g} s)', values)
    return Status(name, OK, f'{topic}: fresh ({age_s * 1e3:.0f} ms)', values)


def inference_status(name: str, active: bool, chunks: int, rate_hz: float, latency_last_s: float,
                     latency_mean_s: float, latency: Band) -> Status:
    """Inference rate and latency; WARN/ERROR when the mean latency is above the band."""
    values = {'chunks': str(chunks), 'rate_hz': _fmt(rate_hz), 'latency_last_s': _fmt(latency_last_s),
              'latency_mean_s': _fmt(latency_mean_s), 'latency_warn_s': _fmt(latency.warn),
              'latency_error_s': _fmt(latency.error)}
    if not active:
        return Status(name, OK, 'inactive', values)
    if chunks == 0:
        return Status(name, WARN, 'active, no chunk computed yet', values)
    level = latency.level(latency_mean_s)
    return Status(name, level, f'{rate_hz:.1f} chunks/s, latency {latency_mean_s * 1e3:.0f} ms mean', values)


def control_status(name: str, active: bool, ticks: int, deadline_misses: int, held_ticks: int, holding_reason: str,
                   missed_fraction: Band) -> Status:
    """Control ticks: deadline misses against the band; WARN while holding the last command."""
    scheduled = ticks + deadline_misses
    fraction = deadline_misses / scheduled if scheduled else 0.0
    values = {'ticks': str(ticks), 'deadline_misses': str(deadline_misses), 'missed_fraction': _fmt(fraction),
              'held_ticks': str(held_ticks), 'missed_warn': _fmt(missed_fraction.warn),
              'missed_error': _fmt(missed_fraction.error)}
    if not active:
        return Status(name, OK, 'inactive', values)
    level = missed_fraction.level(fraction)
    if level == OK and holding_reason:
        return Status(name, WARN, f'holding the last command: {holding_reason}', values)
    return Status(name, level, f'{deadline_misses} of {scheduled} ticks missed, {held_ticks} held'
                  + (f'; holding: {holding_reason}' if holding_reason else ''), values)


def count_status(name: str, what: str, count: int, band: Band) -> Status:
    """A counter (chunks dropped as stale, messages dropped): level from the band."""
    return Status(name, band.level(count), f'{count} {what}', {'count': str(count), 'warn_above': _fmt(band.warn),
                                                                'error_above': _fmt(band.error)})


def queue_status(name: str, queued_bytes: int, limit_bytes: int, fill: Band, recording: bool) -> Status:
    """A bounded queue's depth as a fraction of its limit."""
    fraction = queued_bytes / limit_bytes if limit_bytes else 0.0
    values = {'queued_bytes': str(queued_bytes), 'limit_bytes': str(limit_bytes), 'fill': _fmt(fraction)}
    if not recording:
        return Status(name, OK, 'not recording', values)
    return Status(name, fill.level(fraction), f'{queued_bytes / 2**20:.1f} of {limit_bytes / 2**20:.0f} MiB queued',
                  values)


def to_message(statuses: Sequence[Status], stamp):
    """diagnostic_msgs/DiagnosticArray of the statuses (stamp: builtin_interfaces/Time)."""
    from diagnostic_msgs.msg import DiagnosticArray, DiagnosticStatus, KeyValue

    array = DiagnosticArray()
    array.header.stamp = stamp
    for status in statuses:
        array.status.append(DiagnosticStatus(
            level=bytes([status.level]), name=status.name, message=status.message, hardware_id=status.hardware_id,
            values=[KeyValue(key=str(key), value=str(value)) for key, value in status.values.items()]))
    return array


class DiagnosticsTimer:
    """Publishes `compute()` on /diagnostics every period on the wall clock (steady), so
    diagnostics keep coming when /clock stops."""

    def __init__(self, node, compute: Callable[[], Sequence[Status]], period_s: float = DIAGNOSTICS_PERIOD_S):
        from diagnostic_msgs.msg import DiagnosticArray
        from rclpy.clock import Clock, ClockType

        self._node = node
        self._compute = compute
        self.publisher = node.create_publisher(DiagnosticArray, DIAGNOSTICS_TOPIC, 10)
        self.timer = node.create_timer(period_s, self.publish, clock=Clock(clock_type=ClockType.STEADY_TIME))

    def publish(self) -> None:
        try:
            statuses = self._compute()
            self.publisher.publish(to_message(statuses, self._node.get_clock().now().to_msg()))
        except Exception as error:  # a diagnostics bug must not stop the node; it is reported instead
            self._node.get_logger().error(f'diagnostics failed: {type(error).__name__}: {error}',
                                          throttle_duration_sec=10.0)
