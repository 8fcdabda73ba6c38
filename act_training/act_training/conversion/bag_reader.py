"""Reading one episode bag with rosbags (mcap or sqlite3 storage), any bag with the topics.

Two passes keep memory bounded (an episode of three 480x640 cameras is gigabytes of
pixels): `read_episode_bag` reads every non-image message and only the header stamps of
the images (straight from the CDR bytes); `ImageFetcher` then decodes just the frames
the control grid picks. Every failure is a ConversionError naming the bag and the topic.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable, Iterator, Mapping

import numpy as np

from act_common.episode_format import is_bag_folder
from act_common.errors import ActError
from act_common.image_encoding import ImageEncodingError, compressed_to_rgb, image_array, to_rgb

IMAGE_TYPES = ('sensor_msgs/msg/Image', 'sensor_msgs/msg/CompressedImage')
# Types whose first field is a std_msgs/Header: their stamp can be read from the CDR bytes.
HEADER_FIRST_TYPES = IMAGE_TYPES + ('sensor_msgs/msg/JointState', 'act_msgs/msg/TaskReward')


class ConversionError(ActError, RuntimeError):
    """An episode cannot be converted; the message names the bag and the problem."""


def cdr_header_stamp_ns(raw: bytes | memoryview) -> int:
    """header.stamp of a CDR message that starts with a std_msgs/Header, in ns.

    CDR: a 4-byte encapsulation header (byte 1: 0/2 big endian, 1/3 little endian), then
    stamp.sec (int32) and stamp.nanosec (uint32), 4-byte aligned right after it."""
    if len(raw) < 12:
        raise ValueError(f'message of {len(raw)} bytes is too short for a header stamp')
    order = '<' if raw[1] & 1 else '>'
    sec, nanosec = struct.unpack_from(f'{order}iI', raw, 4)
    return sec * 1_000_000_000 + nanosec


def deserialize(typestore, raw: bytes | memoryview, type_name: str):
    """A CDR message as a rosbags message object, tolerating trailing bytes.

    rmw_fastrtps serializes some messages with bytes past the last field (seen here: a
    sensor_msgs/JointState with empty velocity and effort carried 8), which rosbags'
    `deserialize_cdr` rejects as a size mismatch although every field decodes."""
    if len(raw) < 4 or bytes(raw[:2]) not in (b'\x00\x00', b'\x00\x01'):
        raise ValueError(f'{type_name}: invalid or unsupported CDR encapsulation')
    msgdef = typestore.get_msgdef(type_name)
    decode = msgdef.deserialize_cdr_le if raw[1] else msgdef.deserialize_cdr_be
    message, _ = decode(raw[4:], 0, msgdef.cls, typestore)
    return message


@dataclass
class TopicMessages:
    """One topic of the bag: stamps (ns) and, except for images, the decoded messages."""

    topic: str
    type_name: str
    stamps_ns: list[int] = field(default_factory=list)
    # The bag's log (reception) time of each entry: the recorder's clock, ns.
    log_times_ns: list[int] = field(default_factory=list)
    messages: list = field(default_factory=list)  # empty for images (see ImageFetcher)
    # Position in the bag (among this topic's messages) of each kept entry, in stamp
    # order; None while the entries are exactly the bag's messages in bag order.
    order: np.ndarray | None = None

    @property
    def times(self) -> np.ndarray:
        return np.asarray(self.stamps_ns, dtype=np.int64)


@dataclass
class EpisodeBag:
    path: Path
    topics: dict[str, TopicMessages]
    custom_data: dict[str, str]
    # Set when the bag was read by recovery (bag_recovery.RecoveryReport): what survived a crash.
    recovery: object | None = None

    def topic(self, name: str, purpose: str) -> TopicMessages:
        found = self.topics.get(name)
        if found is None:
            raise ConversionError(f'{self.path}: topic {name} ({purpose}) is not in the bag; it has {sorted(self.topics)}')
        if not found.stamps_ns:
            raise ConversionError(f'{self.path}: topic {name} ({purpose}) has no messages')
        return found


def _typestore():
    from rosbags.typesys import Stores, get_typestore

    return get_typestore(Stores.ROS2_KILTED)


def _open_reader(path: Path):
    from rosbags.highlevel import AnyReader

    if not is_bag_folder(path):
        raise ConversionError(f'{path}: not a rosbag2 folder (no metadata.yaml, .mcap or .db3)')
    try:
        reader = AnyReader([path], default_typestore=_typestore())
        reader.open()
    except Exception as error:  # rosbags raises several types for unreadable bags
        return _recovered_reader(path, f'{path}: cannot open the bag: {type(error).__name__}: {error}', error)
    return reader


def _recovered_reader(path: Path, problem: str, error: Exception):
    """A bag rosbags cannot open (an .mcap cut by a crash, no metadata.yaml): its complete
    part, read front to back (conversion.bag_recovery); `reader.report` says what survived."""
    from act_training.conversion.bag_recovery import RecoveredBagReader, RecoveryError

    if len(list(path.glob('*.mcap'))) != 1:
        raise ConversionError(problem) from error
    try:
        return RecoveredBagReader(path, _typestore())
    except (RecoveryError, OSError) as recovery_error:
        raise ConversionError(f'{problem}; recovery found nothing usable: {recovery_error}') from error


def read_episode_bag(path: Path, topics: Iterable[str], time_source: str = 'header') -> EpisodeBag:
    """Reads the named topics; images as stamps only. time_source: 'header' (the
    message's header stamp, falling back to the receive time for header-less types such
    as /clock) or 'receive' (the bag's log time)."""
    if time_source not in ('header', 'receive'):
        raise ValueError(f"time_source must be 'header' or 'receive', got {time_source!r}")
    path = Path(path)
    wanted = set(topics)
    reader = _open_reader(path)
    try:
        connections = [c for c in reader.connections if c.topic in wanted]
        found = {c.topic: TopicMessages(c.topic, c.msgtype) for c in connections}
        for connection, log_time, raw in reader.messages(connections=connections):
            entry = found[connection.topic]
            use_header = time_source == 'header' and connection.msgtype in HEADER_FIRST_TYPES
            entry.stamps_ns.append(cdr_header_stamp_ns(raw) if use_header else int(log_time))
            entry.log_times_ns.append(int(log_time))
            if connection.msgtype not in IMAGE_TYPES:
                entry.messages.append(deserialize(reader.typestore, raw, connection.msgtype))
        custom = {}
        for sub in reader.readers:
            # rosbags keeps the metadata.yaml facts (custom_data included) on the storage.
            metadata = getattr(sub, 'metadata', None) or getattr(getattr(sub, 'storage', None), 'metadata', None)
            custom.update(getattr(metadata, 'custom', None) or {})
    except ConversionError:
        raise
    except Exception as error:  # truncated or corrupt storage shows up while iterating
        raise ConversionError(f'{path}: the bag is corrupt or truncated: {type(error).__name__}: {error}') from error
    finally:
        reader.close()
    for entry in found.values():  # header stamps may arrive out of order; keep messages with them
        order = np.argsort(np.asarray(entry.stamps_ns, dtype=np.int64), kind='stable')
        if np.any(order != np.arange(len(order))):
            entry.stamps_ns = [entry.stamps_ns[i] for i in order]
            entry.log_times_ns = [entry.log_times_ns[i] for i in order]
            if entry.messages:
                entry.messages = [entry.messages[i] for i in order]
            entry.order = order
    return EpisodeBag(path, found, {str(k): str(v) for k, v in custom.items()}, getattr(reader, 'report', None))


@dataclass(frozen=True)
class WindowDrops:
    """Messages of one topic dropped because their stamp does not belong to the episode."""

    zero: int = 0  # stamped 0 (sim time before the first /clock, an unset header)
    before_start: int = 0  # before the recorded episode start
    after_stop: int = 0  # after the recorded episode stop

    @property
    def total(self) -> int:
        return self.zero + self.before_start + self.after_stop

    def summary(self) -> str:
        parts = [f'{count} {what}' for count, what in ((self.zero, 'stamped 0'), (self.before_start, 'before start'),
                                                       (self.after_stop, 'after stop')) if count]
        return ', '.join(parts)


# Header stamps within this of the log times (median over a topic) are taken to be on the
# recorder's clock, so the recorded start..stop applies to them too. Camera and joint-state
# latencies are milliseconds; different clocks (a publisher on sim time, a recorder on the
# wall clock) differ by years.
SAME_CLOCK_TOLERANCE_NS = 5_000_000_000


def keep_episode_window(episode: EpisodeBag, start_ns: int | None, stop_ns: int | None) -> dict[str, WindowDrops]:
    """Drops, in place, every message that does not belong to the episode: stamped 0 (or
    negative), or before start_ns / after stop_ns (the recorder's clock; None: no bound) by
    its log time, or by its stamp where the stamps run on the recorder's clock (see
    SAME_CLOCK_TOLERANCE_NS). Returns the drops per topic that lost any. Raises
    ConversionError when a topic keeps no message."""
    drops = {}
    for entry in episode.topics.values():
        times = entry.times  # (N,) sorted: header stamps, or log times with time_source receive
        logs = np.asarray(entry.log_times_ns, dtype=np.int64) if entry.log_times_ns else times  # (N,)
        zero = times <= 0
        offsets = (times - logs)[~zero]
        same_clock = bool(len(offsets)) and abs(float(np.median(offsets))) <= SAME_CLOCK_TOLERANCE_NS
        checked = [logs] + ([times] if same_clock else [])
        early = np.zeros_like(zero)
        late = np.zeros_like(zero)
        for values in checked:
            if start_ns is not None:
                early |= values < start_ns
            if stop_ns is not None:
                late |= values > stop_ns
        before = ~zero & early
        after = ~zero & ~before & late
        keep = ~(zero | before | after)
        if keep.all():
            continue
        counts = WindowDrops(int(zero.sum()), int(before.sum()), int(after.sum()))
        drops[entry.topic] = counts
        if not keep.any():
            window = f'[{start_ns}, {stop_ns}] ns' if start_ns is not None or stop_ns is not None else '(no recorded window)'
            raise ConversionError(f'{episode.path}: topic {entry.topic}: none of its {len(times)} messages belongs to the '
                                  f'episode window {window}: {counts.summary()}')
        positions = entry.order if entry.order is not None else np.arange(len(times))
        entry.order = positions[keep]
        entry.stamps_ns = times[keep].tolist()
        entry.log_times_ns = logs[keep].tolist()
        if entry.messages:
            entry.messages = [m for m, k in zip(entry.messages, keep) if k]
    return drops


class ImageFetcher:
    """Decodes chosen frames of image topics as (H, W, 3) uint8 RGB, in one pass."""

    def __init__(self, path: Path):
        self.path = Path(path)

    def frames(self, picks: Mapping[str, np.ndarray], sorted_order: Mapping[str, np.ndarray] | None = None
               ) -> Iterator[tuple[str, int, np.ndarray]]:
        """Yields (topic, frame index in stamp order, rgb) for every index in picks[topic]."""
        wanted = {topic: set(np.unique(indices[indices >= 0]).tolist()) for topic, indices in picks.items()}
        reader = _open_reader(self.path)
        try:
            connections = [c for c in reader.connections if c.topic in wanted]
            positions = {topic: 0 for topic in wanted}
            # Bag position -> index among the kept entries in stamp order (-1: dropped).
            to_sorted = {}
            for topic, order in (sorted_order or {}).items():
                inverse = np.full(int(order.max()) + 1 if len(order) else 0, -1, dtype=np.int64)
                inverse[order] = np.arange(len(order))
                to_sorted[topic] = inverse
            for connection, _, raw in reader.messages(connections=connections):
                position = positions[connection.topic]
                positions[connection.topic] += 1
                if connection.topic in to_sorted:
                    inverse = to_sorted[connection.topic]
                    index = int(inverse[position]) if position < len(inverse) else -1
                else:
                    index = position
                if index < 0 or index not in wanted[connection.topic]:
                    continue
                msg = deserialize(reader.typestore, raw, connection.msgtype)
                try:
                    if connection.msgtype == 'sensor_msgs/msg/CompressedImage':
                        rgb = compressed_to_rgb(msg.format, msg.data)
                    else:
                        rgb = np.ascontiguousarray(to_rgb(msg.encoding, image_array(msg.encoding, msg.height, msg.width,
                                                                                      msg.step, msg.data)))
                except ImageEncodingError as error:
                    raise ConversionError(f'{self.path}: {connection.topic} frame {index}: {error}') from error
                yield connection.topic, index, rgb
        except ConversionError:
            raise
        except Exception as error:
            raise ConversionError(f'{self.path}: the bag is corrupt or truncated: {type(error).__name__}: {error}') from error
        finally:
            reader.close()
