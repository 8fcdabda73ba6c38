"""QoS profiles of the suite, one per kind of stream.

Publishers and subscribers of one topic must use the same profile family: a reliable
subscriber never matches a best-effort publisher and drops everything silently.
"""

from rclpy.qos import (
    DurabilityPolicy,
    HistoryPolicy,
    QoSProfile,
    ReliabilityPolicy,
    qos_profile_sensor_data,
)

# Cameras and joint states: newest sample wins, a late one is worthless.
SENSOR_QOS = qos_profile_sensor_data

# Motor commands and chunks: every message matters, a short queue bounds latency.
COMMAND_QOS = QoSProfile(
    history=HistoryPolicy.KEEP_LAST,
    depth=10,
    reliability=ReliabilityPolicy.RELIABLE,
    durability=DurabilityPolicy.VOLATILE,
)

# Status and reward: reliable, and a late joiner gets the last one.
STATUS_QOS = QoSProfile(
    history=HistoryPolicy.KEEP_LAST,
    depth=1,
    reliability=ReliabilityPolicy.RELIABLE,
    durability=DurabilityPolicy.TRANSIENT_LOCAL,
)

# /clock as rosgraph publishes it.
CLOCK_QOS = QoSProfile(
    history=HistoryPolicy.KEEP_LAST,
    depth=1,
    reliability=ReliabilityPolicy.BEST_EFFORT,
    durability=DurabilityPolicy.VOLATILE,
)
