"""Inference on its own thread, as fast as the device allows, never blocking the control tick.

The worker waits for a synchronized observation newer than the one it used last (and, in
chunked execution, at least query_period_ticks newer), runs the policy on it and hands the
chunk, stamped with the observation's time, to the control loop. A slow model therefore
only makes chunks older when they arrive; the chunk buffer aligns them to the tick of
their observation. torch releases the GIL inside its kernels, so the control timer keeps
running while a chunk is computed.

Each query is tagged with the activation it was taken in (`enable(activation, ...)`), and
after an activation the worker only queries observations stamped at or after its start.
The worker does not decide whether a returning chunk is still wanted: an inference may
be in flight across a deactivate/activate, so the control loop checks the tag
(control_loop.ControlLoop.accept) when the chunk arrives.
"""

from __future__ import annotations

import math
import threading
import time
from dataclasses import dataclass
from typing import Callable

import numpy as np

from act_policy_node.chunk_buffer import TimedChunk
from act_policy_node.observation_sync import ObservationSynchronizer, SynchronizedObservation
from act_policy_node.observations import ObservationError


@dataclass(frozen=True)
class QuerySettings:
    period_ns: int
    # Stamps of one observation's messages may differ by at most this much.
    max_skew_ns: int
    # Ticks between the observations of two queries: 1 = every new observation.
    query_period_ticks: int = 1
    # Query that many ticks earlier than query_period_ticks, less the ticks the last
    # inference took: in chunked execution with the period equal to the chunk size, the
    # next chunk then arrives as the current one runs out instead of a latency later.
    anticipate_latency: bool = False

    def __post_init__(self):
        if self.period_ns <= 0 or self.max_skew_ns < 0 or self.query_period_ticks < 1:
            raise ValueError(f'need period_ns > 0, max_skew_ns >= 0, query_period_ticks >= 1; got {self.period_ns}, '
                             f'{self.max_skew_ns}, {self.query_period_ticks}')

    def next_query_after(self, last_stamp_ns: int | None, latency_s: float = 0.0) -> int | None:
        """Only observations stamped after this are queried (half a period of stamp jitter allowed).

        latency_s: how long the last inference took (used with anticipate_latency)."""
        if last_stamp_ns is None:
            return None
        ticks = self.query_period_ticks
        if self.anticipate_latency:
            ticks = max(1, ticks - math.ceil(latency_s * 1e9 / self.period_ns))
        return last_stamp_ns + (ticks - 1) * self.period_ns + self.period_ns // 2 - 1


def effective_query_period(query_period_ticks: int, chunked: bool, chunk_size: int) -> int:
    """Ticks between two queries; 0 = automatic: the chunk size in chunked execution (a new
    chunk as the last runs out), 1 when ensembling (every tick, as the paper). The policy
    node and act_tools.lockstep_rollout both read it, so 0 means one thing everywhere."""
    if query_period_ticks < 0:
        raise ValueError(f'query_period_ticks must be >= 0 (0 = automatic), got {query_period_ticks}')
    if query_period_ticks:
        return query_period_ticks
    return chunk_size if chunked else 1


def lockstep_query_due(tick: int, query_period_ticks: int) -> bool:
    """In lockstep (the sim waits for every command), whether tick `tick` since activation
    is one whose observation is queried: ticks 0, P, 2P, ... The worker queries the first
    observation after enable() and then the first at least P ticks newer, which with the
    sim waiting is exactly these ticks."""
    return tick % query_period_ticks == 0


# predict(observation) -> (S, D) chunk; raises ObservationError for an unusable observation.
Predict = Callable[[SynchronizedObservation], np.ndarray]


class InferenceWorker:
    def __init__(self, predict: Predict, synchronizer: ObservationSynchronizer,
                 on_chunk: Callable[[TimedChunk], None], on_problem: Callable[[str], None],
                 settings: QuerySettings):
        self._predict = predict
        self._synchronizer = synchronizer
        self._on_chunk = on_chunk
        self._on_problem = on_problem
        self.settings = settings
        self._enabled = threading.Event()
        self._stop = threading.Event()
        self._state_lock = threading.Lock()
        self._activation = 0
        self._not_before_ns: int | None = None
        self._last_stamp_ns: int | None = None
        self._last_latency_s = 0.0
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name='act-policy-inference', daemon=True)
        self._thread.start()

    def enable(self, activation: int = 0, not_before_ns: int | None = None) -> None:
        """Starts querying for `activation`; the first query takes the newest observation
        stamped at or after not_before_ns (the activation's start; None: any)."""
        with self._state_lock:
            self._activation, self._not_before_ns = activation, not_before_ns
            self._last_stamp_ns = None
        self._enabled.set()

    def disable(self) -> None:
        """Stops querying after the chunk in progress (deactivation)."""
        self._enabled.clear()

    def stop(self, timeout_s: float = 30.0) -> None:
        self._stop.set()
        self._enabled.set()  # wake it
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(timeout=timeout_s)
        self._thread = None

    def _run(self) -> None:
        seen = 0
        while not self._stop.is_set():
            if not self._enabled.wait(timeout=0.1):
                continue
            settings = self.settings
            with self._state_lock:
                activation, not_before_ns, last_stamp_ns = self._activation, self._not_before_ns, self._last_stamp_ns
            newer_than_ns = settings.next_query_after(last_stamp_ns, self._last_latency_s)
            if not_before_ns is not None:
                newer_than_ns = max(not_before_ns - 1, newer_than_ns if newer_than_ns is not None else not_before_ns - 1)
            observation = self._synchronizer.newest_set(settings.max_skew_ns, newer_than_ns=newer_than_ns)
            if observation is None:
                seen = self._synchronizer.wait_for_new(seen, timeout_s=0.1)
                continue
            with self._state_lock:
                if self._activation == activation:  # not re-enabled meanwhile
                    self._last_stamp_ns = observation.stamp_ns
            started = time.perf_counter()
            try:
                actions = self._predict(observation)  # (S, D)
            except ObservationError as error:
                self._on_problem(f'observation skipped: {error}')
                continue
            except Exception as error:  # a crashing model must be reported, not kill the thread silently
                self._on_problem(f'inference failed: {type(error).__name__}: {error}')
                time.sleep(0.1)
                continue
            latency_s = time.perf_counter() - started
            self._last_latency_s = latency_s
            try:  # a model output that is not (S, D) is reported; it must not end this thread
                chunk = TimedChunk(observation.stamp_ns, np.asarray(actions, dtype=np.float64), latency_s,
                                   activation=activation)
            except (ValueError, TypeError) as error:
                self._on_problem(f'inference output refused: {error}')
                continue
            if not self._stop.is_set():  # whether it is still wanted: ControlLoop.accept
                self._on_chunk(chunk)
