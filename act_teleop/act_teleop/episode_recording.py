"""One episode's bag: a bounded queue in front of a writer thread, and the episode record.

The recorder's subscription callbacks hand serialized messages to `EpisodeWriter.enqueue`
and return; a writer thread drains the queue into the bag. The queue is bounded in bytes:
if the disk cannot keep up for longer than the queue covers, messages are dropped and
counted (reported at stop and in episode.json), never silently lost and never blocking a
callback.

Each kept bag folder holds, beside metadata.yaml and the storage file, `episode.json`:
task, episode index, seed, robot, success, start/stop times and per-topic counts.
"""

from __future__ import annotations

import json
import re
import shutil
import threading
from collections import deque
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Callable, Sequence

from act_teleop.bag_writer import BagWriter, BagWriteError, TopicSpec, bag_library, open_bag

EPISODE_JSON = 'episode.json'
EPISODE_FORMAT = 'act_episode/1'
_EPISODE_DIR = re.compile(r'^episode_(\d+)$')


def episode_dir_name(index: int) -> str:
    return f'episode_{index}'


def existing_episode_indices(output_dir: Path) -> list[int]:
    """Indices of the episode_<n> folders and episode_<n>.hdf5 files in output_dir."""
    output_dir = Path(output_dir)
    if not output_dir.is_dir():
        return []
    indices = set()
    for entry in output_dir.iterdir():
        match = _EPISODE_DIR.match(entry.name.removesuffix('.hdf5'))
        if match:
            indices.add(int(match.group(1)))
    return sorted(indices)


def next_episode_index(output_dir: Path) -> int:
    indices = existing_episode_indices(output_dir)
    return indices[-1] + 1 if indices else 0


@dataclass
class TopicCounts:
    type_name: str
    received: int = 0
    stored: int = 0
    dropped: int = 0


@dataclass
class EpisodeRecord:
    """What is known about one recorded episode; saved as episode.json beside the bag."""

    task: str
    episode_index: int
    seed: int  # -1 when not simulated
    robot: str
    robot_config: str
    simulated: bool
    storage_id: str
    bag_path: str
    start_time_ns: int  # recorder clock (sim time in simulation)
    stop_time_ns: int = 0
    start_wall_time: float = 0.0  # Unix time
    success: bool = False
    kept: bool = False
    message_count: int = 0
    dropped_count: int = 0
    # Largest backlog between reception and disk during the episode, bytes.
    peak_queue_bytes: int = 0
    cameras: list[str] = field(default_factory=list)
    # Per recorded camera: [height, width] of its images (the robot config's).
    camera_sizes: dict[str, list[int]] = field(default_factory=dict)
    # How a simulator rendered the cameras (act_sim.rendering.RenderSettings.to_dict());
    # None for real cameras, or when whoever started the episode did not say.
    render_settings: dict | None = None
    topics: dict[str, TopicCounts] = field(default_factory=dict)
    writer_library: str = ''
    format: str = EPISODE_FORMAT

    @property
    def duration_s(self) -> float:
        return max(0, self.stop_time_ns - self.start_time_ns) / 1e9

    def custom_data(self) -> dict[str, str]:
        """The rosbag2 metadata custom_data entries (strings only)."""
        return {'act.task': self.task, 'act.episode_index': str(self.episode_index), 'act.seed': str(self.seed),
                'act.robot': self.robot, 'act.success': str(self.success).lower(),
                'act.start_time_ns': str(self.start_time_ns), 'act.stop_time_ns': str(self.stop_time_ns),
                'act.camera_sizes': json.dumps(self.camera_sizes),
                'act.render_settings': json.dumps(self.render_settings)}

    def to_json(self) -> str:
        data = asdict(self)
        data['duration_s'] = self.duration_s
        return json.dumps(data, indent=2, sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> 'EpisodeRecord':
        data = json.loads(text)
        data.pop('duration_s', None)
        data['topics'] = {name: TopicCounts(**counts) for name, counts in data.get('topics', {}).items()}
        return cls(**data)


def read_episode_record(bag_path: Path) -> EpisodeRecord | None:
    """The episode.json of a bag folder, or None when the bag has none (a foreign bag)."""
    path = Path(bag_path) / EPISODE_JSON
    if not path.is_file():
        return None
    return EpisodeRecord.from_json(path.read_text())


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
        self._opened.set()
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
                    self._changed.wait(timeout=0.5)
                if not self._queue and not self._accepting:
                    return
                batch = list(self._queue)
                self._queue.clear()
            try:
                for topic, timestamp_ns, data in batch:
                    transform = self._transforms.get(topic)
                    bag.write(topic, timestamp_ns, transform(data) if transform is not None else data)
                    self.record.topics[topic].stored += 1
            except Exception as error:  # stop writing; what is queued from now on is dropped
                with self._changed:
                    self._error = error
                    self._queue.clear()
                    self._queued_bytes = 0
                return
            with self._changed:
                self._queued_bytes -= sum(len(data) for _, _, data in batch)
