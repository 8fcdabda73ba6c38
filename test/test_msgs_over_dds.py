"""act_msgs messages cross a process boundary over Fast DDS with every field intact."""

import subprocess
import time
from pathlib import Path

import pytest
import rclpy
from act_msgs.msg import ActionChunk, PolicyStatus
from rclpy.context import Context
from rclpy.executors import SingleThreadedExecutor
from rclpy.qos import DurabilityPolicy, QoSProfile, ReliabilityPolicy

from dds_peer import action_chunk, policy_status

TEST_DIR = Path(__file__).resolve().parent

FIELDS = {
    ActionChunk: ['header', 'joint_names', 'step_period', 'chunk_size', 'positions', 'model_id', 'inference_latency_s'],
    PolicyStatus: ['header', 'state', 'detail', 'model_id', 'inference_latency_s', 'inference_latency_mean_s',
                   'chunk_age_s', 'ensemble_depth', 'ticks', 'deadline_misses', 'held_ticks', 'chunks_computed'],
}


def test_field_lists_cover_the_interfaces():
    # If a field is added to an interface, this test must be extended to check it.
    for msg_type, fields in FIELDS.items():
        assert sorted(fields) == sorted(msg_type.get_fields_and_field_types())


@pytest.mark.slow
@pytest.mark.timeout(60)
def test_action_chunk_and_status_round_trip_across_processes(python, peer_env):
    peer = subprocess.Popen([python, str(TEST_DIR / 'dds_peer.py'), '40'], env=peer_env)
    context = Context()
    rclpy.init(context=context)
    received = {}
    try:
        node = rclpy.create_node('act_msgs_dds_listener', context=context)
        qos = QoSProfile(depth=10, reliability=ReliabilityPolicy.RELIABLE, durability=DurabilityPolicy.VOLATILE)
        node.create_subscription(ActionChunk, 'test_action_chunk', lambda m: received.setdefault(ActionChunk, m), qos)
        node.create_subscription(PolicyStatus, 'test_policy_status', lambda m: received.setdefault(PolicyStatus, m), qos)
        executor = SingleThreadedExecutor(context=context)
        executor.add_node(node)
        deadline = time.monotonic() + 40
        while len(received) < 2 and time.monotonic() < deadline and peer.poll() is None:
            executor.spin_once(timeout_sec=0.1)
        executor.shutdown()
        node.destroy_node()
    finally:
        rclpy.shutdown(context=context)
        peer.terminate()
        peer.wait(timeout=10)

    assert set(received) == {ActionChunk, PolicyStatus}, f'received only {list(received)} from the peer process'
    for msg_type, expected in ((ActionChunk, action_chunk()), (PolicyStatus, policy_status())):
        got = received[msg_type]
        for field in FIELDS[msg_type]:
            assert getattr(got, field) == getattr(expected, field), f'{msg_type.__name__}.{field} changed in transit'
    assert received[ActionChunk].positions[5] == pytest.approx(0.001 * 5 - 0.02, abs=0)
