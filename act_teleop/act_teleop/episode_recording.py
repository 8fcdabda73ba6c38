"""One episode's bag: a bounded queue in front of a writer thread, and the episode record.

The recorder's subscription callbacks hand serialized messages to `EpisodeWriter.enqueue`
and return; a writer thread drains the queue into the bag. The queue is bounded in bytes:
if the disk cannot keep up for longer than the queue covers, messages are dropped and
counted (reported at stop and in episode.json), never silently lost and never blocking a
callback.

Each kept bag folder holds, beside metadata.yaml and the storage file, `episode.json`
(act_common.episode_format: the folder layout and the record's fields). A first
episode.json (kept false, no stop time) is written as soon as the bag is open, so a bag
left by a killed recorder still names its task and robot (conversion.bag_recovery).
"""

from __future__ import annotations

import shutil
import threading
from collections import deque
from pathlib import Path
from typing import Callable, Sequence

from act_common.episode_format import EPISODE_JSON, EpisodeRecord, TopicCounts
from act_teleop.bag_writer import BagWriter, BagWriteError, TopicSpec, bag_library, open_bag


class EpisodeWriter:
    """Owns one bag and the writer thread that opens, writes and closes it (storage
    libraries such as sqlite3 only allow the thread that opened a file to use it)."""

    def __init__(self, record: EpisodeRecord, topics: Sequence[TopicSpec], queue_limit_bytes: int,
                 open_timeout_s: float = 30.0, transforms: dict[str, Callable[[bytes], bytes]] | None = None):
        """transforms: topic -> function applied to each message's bytes on the writer thread
        before it is stored (act_teleop.camera_compression)."""
        if queue_limit_bytes <= 0:
            raise ValueError(f'queue_limit_bytes must be > 0, got {queue_limit_bytes}')
        self.record = record
        self.queue_limit_bytes = queue_limit_bytes
        record.topics = {topic.name: TopicCounts(topic.type_name) for topic in topics}
        record.writer_library = bag_library()
        self._topics = list(topics)
        self._transforms = dict(transforms or {})
        self._queue: deque[tuple[str, int, bytes]] = deque()
        self._queued_bytes = 0
        self.peak_queued_bytes = 0
        self.bytes_written = 0
        self._changed = threading.Condition()
        self._accepting = True
        self._error: BaseException | None = None
        self._opened = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f'bag-writer-{record.episode_index}', daemon=True)
        self._thread.start()
        if not self._opened.wait(open_timeout_s):
            raise BagWriteError(f'{record.bag_path}: the bag was not created within {open_timeout_s} s')
        if self._error is not None:
            self._thread.join()
            raise BagWriteError(str(self._error)) from self._error

    def enqueue(self, topic: str, timestamp_ns: int, data: bytes) -> bool:
        """Queues one message; False (and counted as dropped) when the queue is full."""
        with self._changed:
            if not self._accepting:
                return False
            counts = self.record.topics[topic]
            counts.received += 1
            if self._queued_bytes + len(data) > self.queue_limit_bytes or self._error is not None:
                counts.dropped += 1
                return False
            self._queue.append((topic, timestamp_ns, data))
            self._queued_bytes += len(data)
            self.peak_queued_bytes = max(self.peak_queued_bytes, self._queued_bytes)
            self._changed.notify()
            return True

    @property
    def queued_bytes(self) -> int:
        """Bytes received and not yet written."""
        return self._queued_bytes

    @property
    def dropped(self) -> int:
        """Messages dropped so far (queue full, or after a write error)."""
        return sum(counts.dropped for counts in self.record.topics.values())

    def finish(self, stop_time_ns: int, success: bool, keep: bool, timeout_s: float = 600.0) -> EpisodeRecord:
        """Stops accepting, writes what is queued, closes the bag; deletes it unless `keep`."""
        record = self.record
        with self._changed:
            self._accepting = False
            record.stop_time_ns, record.success, record.kept = stop_time_ns, success, keep
            self._changed.notify()
        self._thread.join(timeout=timeout_s)
        if self._thread.is_alive():
            raise RuntimeError(f'{record.bag_path}: the writer did not finish within {timeout_s} s')
        record.message_count = sum(counts.stored for counts in record.topics.values())
        record.dropped_count = sum(counts.dropped for counts in record.topics.values())
        record.peak_queue_bytes = self.peak_queued_bytes
        bag_path = Path(record.bag_path)
        if keep and self._error is None:
            (bag_path / EPISODE_JSON).write_text(record.to_json())
        else:
            shutil.rmtree(bag_path, ignore_errors=True)
        if self._error is not None:
            raise RuntimeError(f'{bag_path}: writing the bag failed: {self._error}') from self._error
        return record

    def _run(self) -> None:
        try:
            bag = open_bag(Path(self.record.bag_path), self.record.storage_id, self._topics, self.record.custom_data())
        except Exception as error:  # reported by __init__
            self._error = error
            self._opened.set()
            return
        try:  # the episode facts, for a bag that a crash leaves without metadata.yaml
            (Path(self.record.bag_path) / EPISODE_JSON).write_text(self.record.to_json())
        except OSError as error:
            self._error = error
        self._opened.set()
        if self._error is not None:
            return
        try:
            self._drain(bag)
            if self._error is None:
                bag.close(self.record.custom_data())
        except Exception as error:  # disk full, permissions: reported by finish
            self._error = error

    def _drain(self, bag: BagWriter) -> None:
        while True:
            with self._changed:
                while not self._queue and self._accepting:
                    self._changed.wait(timeout=0.1)
                    if not self._queue:
                        break
                if not self._queue and not self._accepting:
                    return
                batch = list(self._queue)
                self._queue.clear()
            if not batch:  # nothing came for 0.1 s: write out a chunk that is old enough
                try:
                    bag.flush_due()
                except Exception as error:
                    with self._changed:
                        self._error = error
                    return
                continue
            try:
                for topic, timestamp_ns, data in batch:
                    transform = self._transforms.get(topic)
                    bag.write(topic, timestamp_ns, transform(data) if transform is not None else data)
                    self.record.topics[topic].stored += 1
                    self.bytes_written += len(data)
            except Exception as error:  # stop writing; what is queued from now on is dropped
                with self._changed:
                    self._error = error
                    self._queue.clear()
                    self._queued_bytes = 0
                return
            with self._changed:
                self._queued_bytes -= sum(len(data) for _, _, data in batch)
