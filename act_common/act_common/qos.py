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


def keep_last(depth: int, reliability: ReliabilityPolicy, durability: DurabilityPolicy) -> QoSProfile:
    """A keep-last profile: the newest `depth` samples are kept for each subscriber."""
    return QoSProfile(history=HistoryPolicy.KEEP_LAST, depth=depth, reliability=reliability, durability=durability)


# Cameras and joint states: newest sample wins, a late one is worthless.
SENSOR_QOS = qos_profile_sensor_data

# Motor commands and chunks: every message matters, a short queue bounds latency.
COMMAND_QOS = keep_last(10, ReliabilityPolicy.RELIABLE, DurabilityPolicy.VOLATILE)

# Status and reward: reliable, and a late joiner gets the last one.
STATUS_QOS = keep_last(1, ReliabilityPolicy.RELIABLE, DurabilityPolicy.TRANSIENT_LOCAL)

# TaskReward: STATUS_QOS (reliable, transient local) but keeping the last 2 s of steps, so
# that a subscriber that falls behind for a moment still gets every step (with depth 1 a
# paced sim overwrote step 0 of an episode before a busy runner had read it). STATUS_QOS
# subscribers (depth 1) still get just the newest; EPISODE_FOLLOW_QOS ones get every step
# from their start on and no history.
REWARD_QOS = keep_last(100, STATUS_QOS.reliability, STATUS_QOS.durability)

# A client following the sim's episodes step by step (act_sim.episode_runner): every
# TaskReward from its start on, none from before it.
EPISODE_FOLLOW_QOS = keep_last(100, ReliabilityPolicy.RELIABLE, DurabilityPolicy.VOLATILE)

# /clock as rosgraph publishes it.
CLOCK_QOS = keep_last(1, ReliabilityPolicy.BEST_EFFORT, DurabilityPolicy.VOLATILE)
