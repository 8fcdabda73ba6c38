"""Writing a rosbag2 bag from serialized (CDR) messages: the one place that picks a library.

`rosbag2_py` (a ROS install's own writer) is used where it can be imported; elsewhere the
pure-Python `rosbags` writer. Both write standard rosbag2 bags (a folder with
metadata.yaml and one .mcap or .db3 file) that `ros2 bag info/play` and the converter read.

Episode metadata goes into the bag's metadata.yaml `custom_data`. rosbag2_py takes it
when the bag is opened, so a bag it writes holds what was known at the start (task,
index, seed, robot); rosbags takes it at close and also holds the outcome. The recorder
writes everything into episode.json beside metadata.yaml as well.
"""

from __future__ import annotations

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


class BagWriter(Protocol):
    path: Path

    def write(self, topic: str, timestamp_ns: int, data: bytes) -> None: ...

    def close(self, custom_data: Mapping[str, str]) -> None: ...


def bag_library() -> str:
    try:
        import rosbag2_py  # noqa: F401
    except ImportError:
        return 'rosbags'
    return 'rosbag2_py'


def open_bag(path: Path, storage_id: str, topics: Sequence[TopicSpec], custom_data: Mapping[str, str]) -> BagWriter:
    """Creates a new bag folder `path` (which must not exist) with the given topics."""
    if storage_id not in STORAGE_IDS:
        raise ValueError(f'storage {storage_id!r} is not one of {STORAGE_IDS}')
    path = Path(path)
    if path.exists():
        raise BagWriteError(f'{path} exists already; a bag is never overwritten')
    if bag_library() == 'rosbag2_py':
        return _Rosbag2PyWriter(path, storage_id, topics, custom_data)
    return _RosbagsWriter(path, storage_id, topics, custom_data)


class _RosbagsWriter:
    def __init__(self, path: Path, storage_id: str, topics: Sequence[TopicSpec], custom_data: Mapping[str, str]):
        from rosbags.rosbag2 import StoragePlugin, Writer, WriterError

        self.path = path
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
        self._writer.write(self._connections[topic], timestamp_ns, data)

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

    def close(self, custom_data: Mapping[str, str]) -> None:
        # custom_data was fixed at open: the outcome is in episode.json only.
        self._writer.close()
