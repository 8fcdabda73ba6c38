"""The chunks a running policy has produced, each aligned to the tick of its observation.

Row k of a chunk is the target for the control tick k periods after the observation it was
computed from (act_msgs/ActionChunk: the stamp is the observation's, not the time inference
finished). Inference takes time: a chunk whose observation is stamped t_obs and that
arrives at tick t contributes its row round((t - t_obs) / period) to tick t, so a chunk that
took 120 ms at 50 Hz starts at its row 6, not its row 0. Rows for ticks that passed while
it was computed are never executed.

All times are integer nanoseconds on one clock: the header stamps of the observations and
the node's clock (ROS time: sim time under use_sim_time).
"""

from __future__ import annotations

import bisect
import dataclasses
import threading
from dataclasses import dataclass, field

import numpy as np


def chunk_row(observation_stamp_ns: int, tick_ns: int, period_ns: int) -> int:
    """Row of a chunk observed at observation_stamp_ns that targets the tick at tick_ns.

    Rounded to the nearest tick: stamps and timer callbacks jitter around the nominal tick
    times by less than half a period.
    """
    return int(np.floor((tick_ns - observation_stamp_ns) / period_ns + 0.5))


@dataclass(frozen=True)
class TimedChunk:
    """One chunk and where it sits in time."""

    # Stamp of the observation the chunk was computed from (the newest of its messages).
    observation_stamp_ns: int
    actions: np.ndarray  # (S, D): S chunk steps, D entries of the robot vector
    # Wall-clock duration of the inference, seconds.
    inference_latency_s: float = 0.0
    # Arrival order, assigned by the buffer.
    sequence: int = field(default=-1, compare=False)
    # The activation (policy node lifecycle) whose observation the chunk was computed
    # from; 0 outside a node. A chunk of another activation is never executed
    # (control_loop.ControlLoop.accept).
    activation: int = 0

    def __post_init__(self):
        if self.actions.ndim != 2 or self.actions.shape[0] < 1:
            raise ValueError(f'chunk actions must be (S, D) with S >= 1, got shape {self.actions.shape}')

    @property
    def size(self) -> int:
        return self.actions.shape[0]


@dataclass(frozen=True)
class Proposals:
    """What the chunks covering one tick propose for it, oldest observation first."""

    rows: np.ndarray  # (N, D)
    chunks: tuple[TimedChunk, ...]  # (N,) the chunk of each row
    row_indices: tuple[int, ...]  # (N,) which row of its chunk

    @property
    def depth(self) -> int:
        return len(self.chunks)


class ChunkBuffer:
    """Chunks sorted by observation stamp; thread-safe (inference adds, the control tick reads)."""

    def __init__(self, period_ns: int):
        if period_ns <= 0:
            raise ValueError(f'control period must be > 0 ns, got {period_ns}')
        self.period_ns = int(period_ns)
        self._chunks: list[TimedChunk] = []
        self._stamps: list[int] = []
        self._lock = threading.Lock()
        self._added = 0

    def add(self, chunk: TimedChunk) -> TimedChunk:
        """Stores a chunk (kept sorted by observation stamp) and returns it with its sequence."""
        with self._lock:
            stored = dataclasses.replace(chunk, sequence=self._added)
            self._added += 1
            index = bisect.bisect_right(self._stamps, stored.observation_stamp_ns)
            self._stamps.insert(index, stored.observation_stamp_ns)
            self._chunks.insert(index, stored)
            return stored

    def proposals(self, tick_ns: int) -> Proposals | None:
        """The rows every chunk covering tick_ns proposes, oldest first; None if none covers it."""
        rows, chunks, indices = [], [], []
        with self._lock:
            for chunk in self._chunks:
                row = chunk_row(chunk.observation_stamp_ns, tick_ns, self.period_ns)
                if 0 <= row < chunk.size:
                    rows.append(chunk.actions[row])
                    chunks.append(chunk)
                    indices.append(row)
        if not chunks:
            return None
        return Proposals(rows=np.stack(rows), chunks=tuple(chunks), row_indices=tuple(indices))  # (N, D)

    def prune(self, tick_ns: int) -> int:
        """Drops chunks with no row at or after tick_ns; returns how many were dropped."""
        with self._lock:
            keep = [chunk for chunk in self._chunks
                    if chunk_row(chunk.observation_stamp_ns, tick_ns, self.period_ns) < chunk.size]
            dropped = len(self._chunks) - len(keep)
            self._chunks = keep
            self._stamps = [chunk.observation_stamp_ns for chunk in keep]
            return dropped

    def clear(self) -> None:
        with self._lock:
            self._chunks.clear()
            self._stamps.clear()

    def drop_observed_until(self, stamp_ns: int) -> int:
        """Drops chunks whose observation is stamped at or before stamp_ns; returns how many."""
        with self._lock:
            index = bisect.bisect_right(self._stamps, stamp_ns)
            del self._chunks[:index], self._stamps[:index]
            return index

    def newest(self) -> TimedChunk | None:
        """The chunk with the newest observation."""
        with self._lock:
            return self._chunks[-1] if self._chunks else None

    def __len__(self) -> int:
        with self._lock:
            return len(self._chunks)
