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

# TaskReward: STATUS_QOS (reliable, transient local) but keeping the last 2 s of steps, so
# that a subscriber that falls behind for a moment still gets every step (with depth 1 a
# paced sim overwrote step 0 of an episode before a busy runner had read it). STATUS_QOS
# subscribers (depth 1) still get just the newest; EPISODE_FOLLOW_QOS ones get every step
# from their start on and no history.
REWARD_QOS = QoSProfile(
    history=HistoryPolicy.KEEP_LAST,
    depth=100,
    reliability=STATUS_QOS.reliability,
    durability=STATUS_QOS.durability,
)

# A client following the sim's episodes step by step (act_sim.episode_runner): every
# TaskReward from its start on, none from before it.
EPISODE_FOLLOW_QOS = QoSProfile(
    history=HistoryPolicy.KEEP_LAST,
    depth=100,
    reliability=ReliabilityPolicy.RELIABLE,
    durability=DurabilityPolicy.VOLATILE,
)

# /clock as rosgraph publishes it.
CLOCK_QOS = QoSProfile(
    history=HistoryPolicy.KEEP_LAST,
    depth=1,
    reliability=ReliabilityPolicy.BEST_EFFORT,
    durability=DurabilityPolicy.VOLATILE,
)
