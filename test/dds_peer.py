"""A separate process that publishes one fully populated ActionChunk and PolicyStatus.

Run by test_msgs_over_dds.py; it publishes until a subscriber has matched and received
(or until its deadline), so the test does not depend on discovery timing.
"""

import sys
import time

import rclpy
from act_msgs.msg import ActionChunk, PolicyStatus
from builtin_interfaces.msg import Duration, Time
from rclpy.qos import DurabilityPolicy, QoSProfile, ReliabilityPolicy


def action_chunk() -> ActionChunk:
    msg = ActionChunk()
    msg.header.stamp = Time(sec=1234, nanosec=567_890_123)
    msg.header.frame_id = 'frame_for_test'
    msg.joint_names = [f'joint_{i}' for i in range(14)]
    msg.step_period = Duration(sec=0, nanosec=20_000_000)
    msg.chunk_size = 3
    msg.positions = [0.001 * i - 0.02 for i in range(3 * 14)]
    msg.model_id = 'act-test-0123abcd'
    msg.inference_latency_s = 0.0421
    return msg


def policy_status() -> PolicyStatus:
    msg = PolicyStatus()
    msg.header.stamp = Time(sec=99, nanosec=1)
    msg.state = PolicyStatus.STATE_HOLDING
    msg.detail = 'holding: joint_states 0.31 s old'
    msg.model_id = 'act-test-0123abcd'
    msg.inference_latency_s = 0.05
    msg.inference_latency_mean_s = 0.048
    msg.chunk_age_s = 0.12
    msg.ensemble_depth = 7
    msg.ticks = 1_000_000_000_000
    msg.deadline_misses = 3
    msg.held_ticks = 11
    msg.chunks_computed = 42
    return msg


def main() -> int:
    deadline = time.monotonic() + float(sys.argv[1] if len(sys.argv) > 1 else 30)
    rclpy.init()
    node = rclpy.create_node('act_msgs_dds_peer')
    qos = QoSProfile(depth=10, reliability=ReliabilityPolicy.RELIABLE, durability=DurabilityPolicy.VOLATILE)
    chunk_pub = node.create_publisher(ActionChunk, 'test_action_chunk', qos)
    status_pub = node.create_publisher(PolicyStatus, 'test_policy_status', qos)
    while time.monotonic() < deadline:
        if chunk_pub.get_subscription_count() and status_pub.get_subscription_count():
            chunk_pub.publish(action_chunk())
            status_pub.publish(policy_status())
        time.sleep(0.05)
    node.destroy_node()
    rclpy.shutdown()
    return 0


if __name__ == '__main__':
    sys.exit(main())
