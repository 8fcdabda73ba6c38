"""The inference worker queries newer observations only, every k ticks when asked, and
reports unusable observations without dying."""

import threading
import time

import numpy as np
import pytest

from act_policy_node.inference_worker import InferenceWorker, QuerySettings
from act_policy_node.observation_sync import ObservationSynchronizer
from act_policy_node.observations import ObservationError

PERIOD = 20_000_000


def test_next_query_after():
    assert QuerySettings(PERIOD, 0, 1).next_query_after(None) is None
    # Every new observation: anything half a period after the last one.
    assert QuerySettings(PERIOD, 0, 1).next_query_after(0) == PERIOD // 2 - 1
    # Every 5 ticks: the observation 5 periods later (with half a period of stamp jitter).
    assert QuerySettings(PERIOD, 0, 5).next_query_after(0) == 4 * PERIOD + PERIOD // 2 - 1


def run_worker(query_period_ticks: int, predict, ticks: int = 40):
    sync = ObservationSynchronizer(['cam'])
    chunks, problems = [], []
    worker = InferenceWorker(predict, sync, chunks.append, problems.append,
                             QuerySettings(PERIOD, 0, query_period_ticks))
    worker.start()
    worker.enable()
    try:
        for tick in range(ticks):
            sync.store('cam', tick * PERIOD, tick)
            time.sleep(0.005)
        time.sleep(0.2)
    finally:
        worker.stop()
    return chunks, problems


def test_chunked_queries_every_k_ticks():
    chunks, problems = run_worker(5, lambda observation: np.zeros((10, 2)))
    stamps = [chunk.observation_stamp_ns for chunk in chunks]
    assert len(stamps) >= 4 and not problems
    assert all(later - earlier >= 5 * PERIOD for earlier, later in zip(stamps, stamps[1:]))


def test_each_observation_is_used_once_and_problems_are_reported():
    sync = ObservationSynchronizer(['cam'])
    calls, chunks, problems = [], [], []

    def predict(observation):
        tick = observation.messages['cam']
        calls.append(tick)
        if tick % 3 == 1:
            raise ObservationError(f'bad frame {tick}')
        time.sleep(0.03)  # more than a control period
        return np.full((10, 2), float(tick))

    worker = InferenceWorker(predict, sync, chunks.append, problems.append, QuerySettings(PERIOD, 0, 1))
    worker.start()
    worker.enable()
    try:
        for tick in range(9):
            sync.store('cam', tick * PERIOD, tick)
            deadline = time.monotonic() + 10
            while tick not in calls and time.monotonic() < deadline:
                time.sleep(0.002)
        deadline = time.monotonic() + 10
        while len(chunks) + len(problems) < 9 and time.monotonic() < deadline:
            time.sleep(0.01)
        time.sleep(0.1)  # nothing more may come: no observation is used twice
    finally:
        worker.stop()
    assert calls == list(range(9))
    assert [chunk.observation_stamp_ns // PERIOD for chunk in chunks] == [0, 2, 3, 5, 6, 8]
    assert all(chunk.actions[0, 0] * PERIOD == chunk.observation_stamp_ns for chunk in chunks)
    assert all(chunk.inference_latency_s >= 0.03 for chunk in chunks)
    assert problems == [f'observation skipped: bad frame {tick}' for tick in (1, 4, 7)]


def test_disabled_worker_does_not_query():
    sync = ObservationSynchronizer(['cam'])
    chunks = []
    worker = InferenceWorker(lambda o: np.zeros((2, 2)), sync, chunks.append, print, QuerySettings(PERIOD, 0, 1))
    worker.start()
    sync.store('cam', 0, 0)
    time.sleep(0.2)
    assert not chunks
    worker.enable()
    deadline = time.monotonic() + 5
    while not chunks and time.monotonic() < deadline:
        time.sleep(0.01)
    worker.stop()
    assert len(chunks) == 1 and not any(t.name == 'act-policy-inference' for t in threading.enumerate())


def test_anticipated_chunked_query_leaves_no_gap():
    # Chunk of 50 ticks, last inference took 130 ms (7 ticks): the next query is due 43
    # ticks after the last one, so its chunk arrives as the current one runs out.
    settings = QuerySettings(PERIOD, 0, 50, anticipate_latency=True)
    assert settings.next_query_after(0, latency_s=0.13) == 42 * PERIOD + PERIOD // 2 - 1
    assert QuerySettings(PERIOD, 0, 50).next_query_after(0, latency_s=0.13) == 49 * PERIOD + PERIOD // 2 - 1
    assert settings.next_query_after(0, latency_s=5.0) == PERIOD // 2 - 1  # never below every tick


def test_query_period_zero_means_chunk_size_when_chunked_and_every_tick_when_ensembling():
    from act_policy_node.inference_worker import effective_query_period

    assert effective_query_period(0, chunked=True, chunk_size=50) == 50
    assert effective_query_period(0, chunked=False, chunk_size=50) == 1
    assert effective_query_period(7, chunked=True, chunk_size=50) == 7
    with pytest.raises(ValueError, match='query_period_ticks'):
        effective_query_period(-1, chunked=False, chunk_size=50)


def test_lockstep_queries_ticks_zero_p_2p_since_activation():
    from act_policy_node.inference_worker import lockstep_query_due

    assert [tick for tick in range(10) if lockstep_query_due(tick, 3)] == [0, 3, 6, 9]
    assert all(lockstep_query_due(tick, 1) for tick in range(5))
