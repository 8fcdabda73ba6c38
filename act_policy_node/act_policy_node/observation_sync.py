"""The newest set of camera images and joint states that belong together in time.

A policy observation is one image per camera plus the joint states of every arm. They come
from different drivers at different moments; pairing the newest message of each source can
pair an image with joint states of another tick (the sim publishes the images of tick k
before its joint states, so a reader in between sees images of k and joints of k - 1).
Each source therefore keeps its last few messages, and `newest_set` picks the newest
combination whose stamps lie within `max_skew_ns` of each other.

Subscription callbacks only call `store` (an append under a lock); decoding happens in the
inference worker, on the set it picked.
"""

from __future__ import annotations

import threading
from collections import deque
from dataclasses import dataclass
from typing import Any, Mapping, Sequence

# Messages kept per source: enough to find a matching set when sources run a few ticks
# apart, small enough that a set is never built from old data.
DEFAULT_HISTORY = 4


@dataclass(frozen=True)
class StampedMessage:
    stamp_ns: int
    message: Any


@dataclass(frozen=True)
class SynchronizedObservation:
    """One message per source, all within the skew of each other."""

    messages: Mapping[str, Any]
    stamps_ns: Mapping[str, int]

    @property
    def stamp_ns(self) -> int:
        """The observation's time: the newest stamp in the set (as ActionChunk defines it)."""
        return max(self.stamps_ns.values())

    @property
    def skew_ns(self) -> int:
        return max(self.stamps_ns.values()) - min(self.stamps_ns.values())


class ObservationSynchronizer:
    """Per-source history of stamped messages; thread-safe."""

    def __init__(self, sources: Sequence[str], history: int = DEFAULT_HISTORY):
        if not sources:
            raise ValueError('an observation needs at least one source')
        if len(set(sources)) != len(sources):
            raise ValueError(f'observation sources must be unique, got {list(sources)}')
        if history < 1:
            raise ValueError(f'history must be >= 1 message per source, got {history}')
        self.sources = tuple(sources)
        self._history = {source: deque(maxlen=history) for source in self.sources}
        self._lock = threading.Condition()
        self._stored = 0

    def store(self, source: str, stamp_ns: int, message: Any) -> None:
        """Keeps a message; a message older than the source's newest is dropped (reordering)."""
        with self._lock:
            history = self._history[source]
            if history and stamp_ns < history[-1].stamp_ns:
                return
            history.append(StampedMessage(int(stamp_ns), message))
            self._stored += 1
            self._lock.notify_all()

    def wait_for_new(self, seen: int, timeout_s: float) -> int:
        """Blocks until a message arrives after the `seen` counter value; returns the counter."""
        with self._lock:
            self._lock.wait_for(lambda: self._stored != seen, timeout=timeout_s)
            return self._stored

    def newest(self, source: str) -> StampedMessage | None:
        with self._lock:
            history = self._history[source]
            return history[-1] if history else None

    def newest_stamps(self) -> dict[str, int | None]:
        """The newest stamp of each source (None: nothing received yet)."""
        with self._lock:
            return {source: (history[-1].stamp_ns if history else None) for source, history in self._history.items()}

    def newest_set(self, max_skew_ns: int, newer_than_ns: int | None = None) -> SynchronizedObservation | None:
        """The set with the newest stamp whose stamps span at most max_skew_ns.

        Tries each stored stamp as the newest of the set, newest first, and takes from every
        source its newest message within [anchor - max_skew_ns, anchor]. None when no such
        set exists or none is newer than newer_than_ns.
        """
        if max_skew_ns < 0:
            raise ValueError(f'max_skew_ns must be >= 0, got {max_skew_ns}')
        with self._lock:
            histories = {source: list(history) for source, history in self._history.items()}
        if any(not history for history in histories.values()):
            return None
        anchors = sorted({entry.stamp_ns for history in histories.values() for entry in history}, reverse=True)
        for anchor in anchors:
            if newer_than_ns is not None and anchor <= newer_than_ns:
                return None
            chosen = {}
            for source, history in histories.items():
                match = next((entry for entry in reversed(history)
                              if anchor - max_skew_ns <= entry.stamp_ns <= anchor), None)
                if match is None:
                    break
                chosen[source] = match
            else:
                return SynchronizedObservation(
                    messages={source: entry.message for source, entry in chosen.items()},
                    stamps_ns={source: entry.stamp_ns for source, entry in chosen.items()},
                )
        return None

    def clear(self) -> None:
        with self._lock:
            for history in self._history.values():
                history.clear()
            self._lock.notify_all()
