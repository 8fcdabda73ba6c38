"""Writing a rosbag2 bag from serialized (CDR) messages: the one place that picks a library.

`rosbag2_py` (a ROS install's own writer) is used where it can be imported; elsewhere the
pure-Python `rosbags` writer. Both write standard rosbag2 bags (a folder with
metadata.yaml and one .mcap or .db3 file) that `ros2 bag info/play` and the converter read.

Crash tolerance (mcap): the writer closes the open chunk once it holds `max_bytes` or its
first message is `max_age_s` old, and hands every closed chunk to the OS at once (flush;
fsync at most every max_age_s), so a killed recorder (or a power loss) leaves at most about
max_age_s of messages unwritten; conversion.bag_recovery reads such a cut file back.

Episode metadata goes into the bag's metadata.yaml `custom_data`. rosbag2_py takes it
when the bag is opened, so a bag it writes holds what was known at the start (task,
index, seed, robot); rosbags takes it at close and also holds the outcome. The recorder
writes everything into episode.json beside metadata.yaml as well.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Mapping, Protocol, Sequence

from act_teleop.message_types import type_description

STORAGE_IDS = ('mcap', 'sqlite3')


class BagWriteError(RuntimeError):
    """The bag cannot be created or written (exists already, disk full, permissions)."""


@dataclass(frozen=True)
class TopicSpec:
    name: str
    type_name: str  # e.g. sensor_msgs/msg/Image


@dataclass(frozen=True)
class ChunkPolicy:
    """When an mcap chunk is closed and written out: whichever limit comes first.

    max_age_s bounds what a crash loses (the open chunk, in memory) for any data rate.
    Measured with bench/bench_bag_chunks.py (2-core EPYC, flush per chunk, fsync every
    0.5 s): for the aloha_sim recording (3 cameras 480x640 rgb8 at 30 Hz + 5 joint topics,
    83 MB/s) 1 MiB chunks wrote fastest, 277 MB/s (3.3x real time; 64 KiB: 163 MB/s, 256 KiB:
    213 MB/s), and hold 13 ms of data; index overhead 0.04 %. rosbags closes a chunk past
    1 MiB by itself, so larger sizes change nothing. For the joint streams alone (0.06 MB/s)
    1 MiB would hold 17 s: the age limit, 0.5 s, bounds the loss there (a killed recorder
    lost its last 0.37 s in test/test_crash_recovery.py)."""

    max_bytes: int = 1 << 20
    max_age_s: float = 0.5
    # Also fsync (power loss), at most every max_age_s; a flush alone survives a killed process.
    fsync: bool = True

    def __post_init__(self):
        if self.max_bytes < 4096 or not (0 < self.max_age_s <= 10):
            raise ValueError(f'chunk policy needs max_bytes >= 4096 and 0 < max_age_s <= 10, got '
                             f'{self.max_bytes}, {self.max_age_s}')


class BagWriter(Protocol):
    path: Path

    def write(self, topic: str, timestamp_ns: int, data: bytes) -> None: ...

    def flush_due(self) -> None: ...

    def close(self, custom_data: Mapping[str, str]) -> None: ...


def bag_library() -> str:
    try:
        import rosbag2_py  # noqa: F401
    except ImportError:
        return 'rosbags'
    return 'rosbag2_py'


def open_bag(path: Path, storage_id: str, topics: Sequence[TopicSpec], custom_data: Mapping[str, str],
             chunk_policy: ChunkPolicy = ChunkPolicy()) -> BagWriter:
    """Creates a new bag folder `path` (which must not exist) with the given topics.
    chunk_policy applies to mcap written by rosbags (rosbag2_py keeps its storage defaults)."""
    if storage_id not in STORAGE_IDS:
        raise ValueError(f'storage {storage_id!r} is not one of {STORAGE_IDS}')
    path = Path(path)
    if path.exists():
        raise BagWriteError(f'{path} exists already; a bag is never overwritten')
    if bag_library() == 'rosbag2_py':
        return _Rosbag2PyWriter(path, storage_id, topics, custom_data)
    return _RosbagsWriter(path, storage_id, topics, custom_data, chunk_policy)


class _RosbagsWriter:
    def __init__(self, path: Path, storage_id: str, topics: Sequence[TopicSpec], custom_data: Mapping[str, str],
                 chunk_policy: ChunkPolicy = ChunkPolicy()):
        from rosbags.rosbag2 import StoragePlugin, Writer, WriterError

        self.path = path
        self.chunk_policy = chunk_policy
        self.chunks_written = 0
        self._chunk_started: float | None = None  # monotonic time of the open chunk's first message
        self._last_sync = time.monotonic()
        plugin = StoragePlugin.MCAP if storage_id == 'mcap' else StoragePlugin.SQLITE3
        self._writer = Writer(path, version=Writer.VERSION_LATEST, storage_plugin=plugin)
        try:
            self._writer.open()
            self._connections = {}
            for topic in topics:
                definition, type_hash = type_description(topic.type_name)
                self._connections[topic.name] = self._writer.add_connection(
                    topic.name, topic.type_name, msgdef=definition, rihs01=type_hash)
        except (WriterError, OSError) as error:
            if self._writer.storage is not None:
                self._writer.abort()
            raise BagWriteError(f'cannot create bag {path}: {error}') from error
        for key, value in custom_data.items():
            self._writer.set_custom_data(key, str(value))

    def write(self, topic: str, timestamp_ns: int, data: bytes) -> None:
        storage = self._mcap_storage()
        closed_before = len(storage.chunks) if storage is not None else 0
        self._writer.write(self._connections[topic], timestamp_ns, data)
        if storage is None:
            return
        if self._chunk_started is None:
            self._chunk_started = time.monotonic()
        if len(storage.chunks) != closed_before:  # rosbags closed one itself (over its 1 MiB)
            self._chunk_started = None if storage.chunk.bio.tell() == 0 else time.monotonic()
            self._written_out(storage)
        elif storage.chunk.bio.tell() >= self.chunk_policy.max_bytes:
            self._close_chunk(storage)
        else:
            self.flush_due()

    def flush_due(self) -> None:
        """Closes the open chunk once its first message is max_age_s old (also called by
        the writer thread when no message comes)."""
        storage = self._mcap_storage()
        if storage is not None and self._chunk_started is not None and \
                time.monotonic() - self._chunk_started >= self.chunk_policy.max_age_s:
            self._close_chunk(storage)

    def _mcap_storage(self):
        # rosbags' McapWriter (pinned rosbags==0.11.9): `chunk` (the open one, a BytesIO),
        # `chunks` (closed ones), `close_chunk()`, `bio` (the file). None for sqlite3.
        storage = self._writer.storage
        return storage if hasattr(storage, 'close_chunk') else None

    def _close_chunk(self, storage) -> None:
        storage.close_chunk()
        self._chunk_started = None
        self._written_out(storage)

    def _written_out(self, storage) -> None:
        self.chunks_written += 1
        storage.bio.flush()
        now = time.monotonic()
        if self.chunk_policy.fsync and now - self._last_sync >= self.chunk_policy.max_age_s:
            os.fsync(storage.bio.fileno())
            self._last_sync = now

    def close(self, custom_data: Mapping[str, str]) -> None:
        for key, value in custom_data.items():
            self._writer.set_custom_data(key, str(value))
        self._writer.close()


class _Rosbag2PyWriter:
    """rosbag2_py's SequentialWriter (ROS 2 Jazzy/Kilted API)."""

    def __init__(self, path: Path, storage_id: str, topics: Sequence[TopicSpec], custom_data: Mapping[str, str]):
        import rosbag2_py

        self.path = path
        self._writer = rosbag2_py.SequentialWriter()
        options = rosbag2_py.StorageOptions(uri=str(path), storage_id=storage_id)
        options.custom_data = {key: str(value) for key, value in custom_data.items()}
        try:
            self._writer.open(options, rosbag2_py.ConverterOptions('cdr', 'cdr'))
            for index, topic in enumerate(topics):
                _, type_hash = type_description(topic.type_name)
                self._writer.create_topic(rosbag2_py.TopicMetadata(
                    id=index, name=topic.name, type=topic.type_name, serialization_format='cdr',
                    type_description_hash=type_hash))
        except RuntimeError as error:
            raise BagWriteError(f'cannot create bag {path}: {error}') from error

    def write(self, topic: str, timestamp_ns: int, data: bytes) -> None:
        self._writer.write(topic, data, timestamp_ns)

    def flush_due(self) -> None:
        pass  # rosbag2's storage plugin writes its chunks itself

    def close(self, custom_data: Mapping[str, str]) -> None:
        # custom_data was fixed at open: the outcome is in episode.json only.
        self._writer.close()
