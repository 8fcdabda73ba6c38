"""Recovering the complete part of an episode bag whose writer died (SIGKILL, power loss).

An mcap file is a sequence of records (opcode: 1 byte, length: uint64, body); a writer
appends chunks of messages and, at close, a summary (indexes, statistics) and the footer.
rosbags' reader and `ros2 bag` first read the footer, so a file cut anywhere before it is
refused whole ("File end magic is invalid"), although every record before the cut is
intact. rosbag2 writes metadata.yaml only at close too, so a killed recorder also leaves no
metadata.yaml.

This module reads such a file front to back without seeking to the end (the framing
here, the record decoding with the `mcap` library's record classes): every complete record
up to the cut, and inside an uncompressed chunk cut in the middle every complete message
before the cut. It stops at the first incomplete record, or at a zero opcode (a
filesystem that lost power can leave a zero-filled tail). What it found:

- `scan_mcap(path)` -> RecoveryReport: counts per topic, first/last log time, how far the
  file is valid and why the scan stopped;
- `RecoveredBagReader(bag)`: the reader interface `bag_reader` uses (connections,
  messages(), typestore, close), over the recovered messages, in file order;
- `repair_bag(bag, output)`: a new, valid rosbag2 bag (mcap + metadata.yaml, and the
  episode.json marked truncated) with the recovered messages; the original is never
  changed (`act bag repair`).

The converter (bag_reader's `_open_reader`) falls back to RecoveredBagReader when a bag
cannot be opened normally, and marks the episode truncated (or rejects it when less than
MIN_RECOVERED_S survived).
"""

from __future__ import annotations

import io
import json
import shutil
import struct
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Iterator

from mcap.data_stream import ReadDataStream
from mcap.exceptions import McapError
from mcap.opcode import Opcode
from mcap.records import Channel, Chunk, Message, Schema
from mcap.stream_reader import get_chunk_data_stream

from act_common.episode_format import (EPISODE_JSON, RECOVERY_KEY, TRUNCATED_KEY, EpisodeFormatError,
                                      custom_data_of, read_episode_json)
from act_common.errors import ActError

MCAP_MAGIC = b'\x89MCAP0\r\n'
_RECORD_HEADER = struct.Struct('<BQ')  # opcode, body length
# Chunk body before its records: start, end, uncompressed size (uint64), crc (uint32),
# then the compression string (uint32 length + bytes) and the records length (uint64).
_CHUNK_FIXED = struct.Struct('<QQQI')
# An episode with less left than this is rejected by the converter rather than kept as a
# truncated training episode: ACT's chunk_size (100 steps) is 2 s at 50 Hz, and an
# episode shorter than half a chunk teaches nothing about the task (our choice).
MIN_RECOVERED_S = 1.0


class RecoveryError(ActError, RuntimeError):
    """Nothing can be recovered (not an mcap file, no complete chunk); names the file."""


@dataclass(frozen=True)
class RecoveredConnection:
    """One channel of the recovered file, as bag_reader uses a rosbags Connection."""

    id: int
    topic: str
    msgtype: str
    msgdef: str  # the schema text (ros2msg), empty when the channel has no schema
    encoding: str  # schema encoding, e.g. ros2msg
    serialization_format: str  # message encoding, e.g. cdr
    offered_qos_profiles: str = ''


@dataclass
class TopicRecovery:
    messages: int = 0
    first_ns: int | None = None
    last_ns: int | None = None


@dataclass
class RecoveryReport:
    """What a front-to-back scan of one .mcap file found."""

    path: Path
    file_bytes: int
    # Bytes from the start that hold complete records (and complete messages of a cut chunk).
    valid_bytes: int = 0
    # The footer was reached: the file is whole (maybe only its metadata.yaml is missing).
    complete: bool = False
    complete_chunks: int = 0
    # Complete messages read from the uncompressed chunk the cut went through.
    messages_in_cut_chunk: int = 0
    topics: dict[str, TopicRecovery] = field(default_factory=dict)
    # Why the scan stopped ('' when it reached the footer).
    stop_reason: str = ''

    @property
    def truncated(self) -> bool:
        return not self.complete

    @property
    def message_count(self) -> int:
        return sum(topic.messages for topic in self.topics.values())

    @property
    def start_ns(self) -> int | None:
        firsts = [t.first_ns for t in self.topics.values() if t.first_ns is not None]
        return min(firsts) if firsts else None

    @property
    def end_ns(self) -> int | None:
        lasts = [t.last_ns for t in self.topics.values() if t.last_ns is not None]
        return max(lasts) if lasts else None

    @property
    def duration_s(self) -> float:
        if self.start_ns is None:
            return 0.0
        return (self.end_ns - self.start_ns) / 1e9

    def summary(self) -> str:
        if self.complete:
            return f'{self.path.name}: whole ({self.message_count} messages, {self.duration_s:.2f} s)'
        return (f'{self.path.name}: truncated at byte {self.valid_bytes} of {self.file_bytes} '
                f'({self.stop_reason}); recovered {self.message_count} messages, {self.duration_s:.2f} s '
                f'({self.complete_chunks} complete chunks + {self.messages_in_cut_chunk} messages of the cut chunk)')


@dataclass(frozen=True)
class _Message:
    channel_id: int
    log_time: int
    publish_time: int
    sequence: int
    data: bytes


def _frames(buffer: memoryview, start: int) -> Iterator[tuple[int, int, memoryview]]:
    """(offset, opcode, body) of each complete record in buffer from `start`; stops at the
    first incomplete one."""
    position = start
    while position + _RECORD_HEADER.size <= len(buffer):
        opcode, length = _RECORD_HEADER.unpack_from(buffer, position)
        body_start = position + _RECORD_HEADER.size
        if body_start + length > len(buffer):
            return
        yield position, opcode, buffer[body_start:body_start + length]
        position = body_start + length


def _stream(body: memoryview | bytes) -> ReadDataStream:
    return ReadDataStream(io.BytesIO(bytes(body)))


def _decode_inner(opcode: int, body: memoryview):
    """A record found inside a chunk (or at top level): Schema, Channel, Message, or None."""
    if opcode == Opcode.SCHEMA:
        return Schema.read(_stream(body))
    if opcode == Opcode.CHANNEL:
        return Channel.read(_stream(body))
    if opcode == Opcode.MESSAGE:
        message = Message.read(_stream(body), len(body))
        return _Message(message.channel_id, message.log_time, message.publish_time, message.sequence, message.data)
    return None


def _records_of_chunk(body: memoryview):
    """Records of a complete chunk (decompressed, CRC checked where one was written)."""
    chunk = Chunk.read(_stream(body))
    stream, length = get_chunk_data_stream(chunk, validate_crc=True)
    inner = memoryview(stream.read(length)) if length else memoryview(b'')
    for _, opcode, record_body in _frames(inner, 0):
        record = _decode_inner(opcode, record_body)
        if record is not None:
            yield record


def _records_of_cut_chunk(body: memoryview, valid_length: int | None = None):
    """Complete records of a chunk the cut went through; only an uncompressed chunk can be
    read before its end. Yields (record, bytes of the chunk body consumed). valid_length:
    only records ending before it count (the start of a zero-filled tail)."""
    if valid_length is not None:
        body = body[:valid_length]
    if len(body) < _CHUNK_FIXED.size + 4:
        return
    (name_length,) = struct.unpack_from('<I', body, _CHUNK_FIXED.size)
    records_start = _CHUNK_FIXED.size + 4 + name_length + 8
    if records_start > len(body) or bytes(body[_CHUNK_FIXED.size + 4:_CHUNK_FIXED.size + 4 + name_length]) != b'':
        return  # compressed (or the header itself cut): nothing inside is readable
    inner = body[records_start:]
    for offset, opcode, record_body in _frames(inner, 0):
        record = _decode_inner(opcode, record_body)
        if record is not None:
            yield record, records_start + offset + _RECORD_HEADER.size + len(record_body)


def _scan(path: Path, report: RecoveryReport) -> Iterator:
    """Every recoverable Schema, Channel and _Message of the file, in file order; fills report."""
    with open(path, 'rb') as file:
        magic = file.read(len(MCAP_MAGIC))
        if magic != MCAP_MAGIC:
            raise RecoveryError(f'{path}: not an mcap file (starts with {magic[:8]!r}, not the mcap magic)')
        position = len(MCAP_MAGIC)
        report.valid_bytes = position
        while True:
            header = file.read(_RECORD_HEADER.size)
            if len(header) < _RECORD_HEADER.size:
                report.stop_reason = 'end of file before the footer' if not header else 'cut inside a record header'
                return
            opcode, length = _RECORD_HEADER.unpack(header)
            if opcode == 0:
                report.stop_reason = f'zero bytes from byte {position} (an interrupted write)'
                return
            remaining = report.file_bytes - position - _RECORD_HEADER.size
            body = memoryview(file.read(min(length, max(remaining, 0))))
            if len(body) < length:
                name = Opcode(opcode).name if opcode in Opcode._value2member_map_ else f'opcode {opcode:#x}'
                report.stop_reason = f'cut inside a {name} record ({len(body)} of {length} bytes)'
                if opcode == Opcode.CHUNK:
                    for record, consumed in _records_of_cut_chunk(body):
                        if isinstance(record, _Message):
                            report.messages_in_cut_chunk += 1
                        report.valid_bytes = position + _RECORD_HEADER.size + consumed
                        yield record
                return
            if opcode == Opcode.CHUNK and _zeros_follow(file):
                # Power loss: the file size was written, the chunk's last blocks never were.
                # Keep its messages that end before the zero run (a message whose own
                # bytes end in zeros may be dropped with it: conservative).
                valid = len(bytes(body).rstrip(b'\0'))
                report.stop_reason = f'zero bytes inside the chunk at byte {position} (an interrupted write)'
                for record, consumed in _records_of_cut_chunk(body, valid):
                    if isinstance(record, _Message):
                        report.messages_in_cut_chunk += 1
                    report.valid_bytes = position + _RECORD_HEADER.size + consumed
                    yield record
                return
            try:
                if opcode == Opcode.CHUNK:
                    records = list(_records_of_chunk(body))
                    report.complete_chunks += 1
                else:
                    records = [record for record in [_decode_inner(opcode, body)] if record is not None]
            except (McapError, ValueError, struct.error, UnicodeDecodeError) as error:
                report.stop_reason = f'corrupt record at byte {position}: {type(error).__name__}: {error}'
                return
            position += _RECORD_HEADER.size + length
            report.valid_bytes = position
            yield from records
            if opcode == Opcode.FOOTER:
                if file.read(len(MCAP_MAGIC)) == MCAP_MAGIC:
                    report.complete, report.stop_reason = True, ''
                    report.valid_bytes += len(MCAP_MAGIC)
                else:  # every message is there; the file still ends early
                    report.stop_reason = 'cut inside the closing magic'
                return
            if opcode == Opcode.DATA_END:
                # The summary section repeats schemas and channels; no messages follow.
                continue


def _zeros_follow(file) -> bool:
    """True when the next record header is zero bytes (the file position is kept)."""
    here = file.tell()
    following = file.read(_RECORD_HEADER.size)
    file.seek(here)
    return bool(following) and following[0] == 0


def mcap_file_of(bag: Path) -> Path:
    """The one .mcap storage file of a bag folder (or the file itself)."""
    bag = Path(bag)
    if bag.is_file():
        return bag
    files = sorted(bag.glob('*.mcap'))
    if len(files) != 1:
        raise RecoveryError(f'{bag}: recovery needs exactly one .mcap file in the bag, found {[f.name for f in files]}')
    return files[0]


class _ScanState:
    """Schemas and channels (known after a first pass) and the report of one file."""

    def __init__(self, path: Path):
        self.path = path
        self.report = RecoveryReport(path, path.stat().st_size)
        self.schemas: dict[int, Schema] = {}
        self.channels: dict[int, Channel] = {}
        for record in _scan(path, self.report):
            if isinstance(record, Schema):
                self.schemas[record.id] = record
            elif isinstance(record, Channel):
                self.channels[record.id] = record
            elif isinstance(record, _Message):
                channel = self.channels.get(record.channel_id)
                if channel is None:
                    continue  # a message before its channel: unreadable, as in any mcap reader
                topic = self.report.topics.setdefault(channel.topic, TopicRecovery())
                topic.messages += 1
                topic.first_ns = record.log_time if topic.first_ns is None else min(topic.first_ns, record.log_time)
                topic.last_ns = record.log_time if topic.last_ns is None else max(topic.last_ns, record.log_time)
        if not self.channels:
            raise RecoveryError(f'{path}: no complete chunk with the topic list survived '
                                f'({self.report.stop_reason} at byte {self.report.valid_bytes} of {self.report.file_bytes})')

    def connections(self) -> list[RecoveredConnection]:
        found = []
        for channel in sorted(self.channels.values(), key=lambda c: c.id):
            schema = self.schemas.get(channel.schema_id)
            found.append(RecoveredConnection(
                id=channel.id, topic=channel.topic, msgtype=schema.name if schema else '',
                msgdef=schema.data.decode() if schema else '', encoding=schema.encoding if schema else '',
                serialization_format=channel.message_encoding,
                offered_qos_profiles=channel.metadata.get('offered_qos_profiles', '')))
        return found

    def messages(self) -> Iterator[tuple[_Message, Channel]]:
        """The recovered messages in file order (a second pass: memory stays bounded)."""
        again = RecoveryReport(self.path, self.report.file_bytes)
        for record in _scan(self.path, again):
            if isinstance(record, _Message) and record.channel_id in self.channels:
                yield record, self.channels[record.channel_id]


def scan_mcap(path: Path) -> RecoveryReport:
    """Front-to-back scan of one .mcap file (or the .mcap of a bag folder)."""
    return _ScanState(mcap_file_of(path)).report


def _register_schemas(typestore, connections: list[RecoveredConnection]) -> None:
    from rosbags.typesys import get_types_from_msg

    types = {}
    for connection in connections:
        if connection.encoding == 'ros2msg' and connection.msgdef and connection.msgtype not in typestore.fielddefs:
            types.update(get_types_from_msg(connection.msgdef, connection.msgtype))
    if types:
        typestore.register(types)


class RecoveredBagReader:
    """The reader interface bag_reader uses (connections, messages(connections=...),
    typestore, readers, close) over the recovered part of a bag's .mcap file."""

    def __init__(self, bag: Path, typestore):
        self.bag = Path(bag)
        self._state = _ScanState(mcap_file_of(self.bag))
        self.report = self._state.report
        self.connections = self._state.connections()
        self.typestore = typestore
        _register_schemas(typestore, self.connections)
        # bag_reader reads custom_data from the sub-readers' metadata: none survived here.
        self.readers = []

    def messages(self, connections=None) -> Iterator[tuple[RecoveredConnection, int, bytes]]:
        wanted = None if connections is None else {c.id for c in connections}
        by_id = {c.id: c for c in self.connections}
        for message, _ in self._state.messages():
            if wanted is None or message.channel_id in wanted:
                yield by_id[message.channel_id], message.log_time, message.data

    def close(self) -> None:
        pass


def repair_bag(bag: Path, output: Path | None = None) -> tuple[Path, RecoveryReport]:
    """Writes the recovered messages of `bag` as a new, valid rosbag2 bag at `output`
    (default: `<bag>.repaired` beside it); `bag` itself is only read.

    The new bag's metadata.yaml is rebuilt from the messages (counts, duration); its
    custom_data and episode.json carry the episode facts of the original episode.json,
    when one survived, plus `act.truncated`. Raises RecoveryError when nothing can be
    recovered, FileExistsError when output exists.
    """
    from rosbags.rosbag2 import StoragePlugin, Writer
    from rosbags.typesys import Stores, get_typestore

    bag = Path(bag)
    output = Path(output) if output is not None else bag.with_name(bag.name + '.repaired')
    if output.exists():
        raise FileExistsError(f'{output} exists already; a bag is never overwritten')
    if output.resolve() == bag.resolve():
        raise ValueError(f'{bag}: the repaired bag must go to another folder than the original')
    reader = RecoveredBagReader(bag, get_typestore(Stores.ROS2_KILTED))
    report = reader.report
    episode = _read_episode_json(bag)
    custom = {key: str(value) for key, value in (episode.get('custom_data') or {}).items()}
    custom.update(custom_data_of(episode, names=('task', 'episode_index', 'seed', 'robot', 'success')))
    custom[TRUNCATED_KEY] = str(report.truncated).lower()
    custom[RECOVERY_KEY] = report.summary()
    writer = Writer(output, version=Writer.VERSION_LATEST, storage_plugin=StoragePlugin.MCAP)
    writer.open()
    try:
        written = {}
        for connection in reader.connections:
            if not connection.msgtype:
                continue
            written[connection.id] = writer.add_connection(
                connection.topic, connection.msgtype, msgdef=connection.msgdef,
                rihs01=reader.typestore.hash_rihs01(connection.msgtype),
                serialization_format=connection.serialization_format or 'cdr')
        for connection, log_time, data in reader.messages():
            if connection.id in written:
                writer.write(written[connection.id], log_time, data)
        for key, value in custom.items():
            writer.set_custom_data(key, value)
    except BaseException:
        writer.close()
        shutil.rmtree(output, ignore_errors=True)
        raise
    writer.close()
    if episode:
        episode.update(truncated=report.truncated, recovery=report.summary(), bag_path=str(output),
                       recovered_from=str(bag), message_count=report.message_count)
        (output / EPISODE_JSON).write_text(json.dumps(episode, indent=2, sort_keys=True))
    return output, report


def _read_episode_json(bag: Path) -> dict:
    """The episode.json fields of a bag, {} when it has none or an unreadable one (a
    repair keeps going without the episode facts)."""
    try:
        return read_episode_json(bag) or {}
    except EpisodeFormatError:
        return {}


def report_dict(report: RecoveryReport) -> dict:
    """The report as plain data (for JSON output of `act bag repair`)."""
    data = asdict(report)
    data['path'] = str(report.path)
    data.update(truncated=report.truncated, message_count=report.message_count, duration_s=report.duration_s)
    return data
