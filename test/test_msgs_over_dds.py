"""act_msgs messages cross a process boundary over Fast DDS with every field intact."""

import subprocess
from pathlib import Path

import pytest
import rclpy
from act_msgs.msg import ActionChunk, PolicyStatus
from rclpy.executors import SingleThreadedExecutor
from rclpy.qos import DurabilityPolicy, QoSProfile, ReliabilityPolicy

from child_processes import context_beside, spin_until
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
    received = {}
    with context_beside(peer, timeout_s=10) as context:
        node = rclpy.create_node('act_msgs_dds_listener', context=context)
        qos = QoSProfile(depth=10, reliability=ReliabilityPolicy.RELIABLE, durability=DurabilityPolicy.VOLATILE)
        node.create_subscription(ActionChunk, 'test_action_chunk', lambda m: received.setdefault(ActionChunk, m), qos)
        node.create_subscription(PolicyStatus, 'test_policy_status', lambda m: received.setdefault(PolicyStatus, m), qos)
        executor = SingleThreadedExecutor(context=context)
        executor.add_node(node)
        spin_until(executor, lambda: len(received) == 2, 40, peer)
        executor.shutdown()
        node.destroy_node()

    assert set(received) == {ActionChunk, PolicyStatus}, f'received only {list(received)} from the peer process'
    for msg_type, expected in ((ActionChunk, action_chunk()), (PolicyStatus, policy_status())):
        got = received[msg_type]
        for field in FIELDS[msg_type]:
            assert getattr(got, field) == getattr(expected, field), f'{msg_type.__name__}.{field} changed in transit'
    assert received[ActionChunk].positions[5] == pytest.approx(0.001 * 5 - 0.02, abs=0)
