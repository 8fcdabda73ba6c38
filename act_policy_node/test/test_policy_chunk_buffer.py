"""The chunk buffer covers ticks with the right rows and forgets chunks that ran out."""

import threading

import numpy as np
import pytest

from act_policy_node.chunk_buffer import ChunkBuffer, TimedChunk

PERIOD_NS = 20_000_000


def make(tick: int, size: int = 5, value: float = 0.0) -> TimedChunk:
    return TimedChunk(tick * PERIOD_NS, np.full((size, 3), value))


def test_coverage_window_is_observation_tick_to_chunk_end():
    buffer = ChunkBuffer(PERIOD_NS)
    buffer.add(make(10, size=5))
    assert buffer.proposals(9 * PERIOD_NS) is None  # before its observation
    assert buffer.proposals(10 * PERIOD_NS).row_indices == (0,)
    assert buffer.proposals(14 * PERIOD_NS).row_indices == (4,)
    assert buffer.proposals(15 * PERIOD_NS) is None  # past its last row


def test_prune_drops_only_expired_chunks():
    buffer = ChunkBuffer(PERIOD_NS)
    buffer.add(make(0, size=5))
    buffer.add(make(3, size=5))
    assert buffer.prune(5 * PERIOD_NS) == 1
    assert len(buffer) == 1 and buffer.newest().observation_stamp_ns == 3 * PERIOD_NS
    buffer.clear()
    assert len(buffer) == 0 and buffer.newest() is None


def test_sequence_follows_arrival_and_order_follows_observation():
    buffer = ChunkBuffer(PERIOD_NS)
    late = buffer.add(make(4, value=4.0))
    early = buffer.add(make(2, value=2.0))
    assert (late.sequence, early.sequence) == (0, 1)
    proposals = buffer.proposals(4 * PERIOD_NS)
    assert [chunk.observation_stamp_ns for chunk in proposals.chunks] == [2 * PERIOD_NS, 4 * PERIOD_NS]
    np.testing.assert_array_equal(proposals.rows[:, 0], [2.0, 4.0])


def test_concurrent_add_and_read():
    buffer = ChunkBuffer(PERIOD_NS)

    def writer():
        for tick in range(500):
            buffer.add(make(tick, size=50))

    thread = threading.Thread(target=writer)
    thread.start()
    tick = 0
    while thread.is_alive() or tick < 10:
        proposals = buffer.proposals(tick * PERIOD_NS)
        if proposals is not None:
            assert proposals.rows.shape == (len(proposals.chunks), 3)
            assert all(0 <= row < 50 for row in proposals.row_indices)
        buffer.prune(tick * PERIOD_NS)
        tick = min(tick + 1, 499)
    thread.join()
    assert buffer.proposals(499 * PERIOD_NS).depth == 50  # chunks 450..499 cover tick 499


def test_malformed_chunks_are_refused():
    with pytest.raises(ValueError, match=r'\(S, D\)'):
        TimedChunk(0, np.zeros(5))
    with pytest.raises(ValueError, match='period'):
        ChunkBuffer(0)
