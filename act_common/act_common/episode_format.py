"""The recorded episode on disk: folder and file names, episode.json, bag metadata keys.

One definition for every writer (act_teleop's recorder, conversion.bag_recovery's repair)
and every reader (the converter, `act convert`, the tests). It lives in act_common because
act_teleop writes it and act_training reads it, and neither may depend on the other.

    <output_dir>/episode_<index>/        one rosbag2 folder per episode
        metadata.yaml                    rosbag2's; custom_data holds CUSTOM_DATA_KEYS
        *.mcap | *.db3                   the storage file
        episode.json                     EpisodeRecord.to_json(); written when the bag is
                                         opened (kept false) and again when it is closed
    <hdf5_dir>/episode_<index>.hdf5      the converted episode (act_training.hdf5_format)

episode.json may be partial: a hand-made or foreign bag can hold any subset of the fields,
so readers take the fields it has (read_episode_json) and fall back to the bag's
custom_data, then to defaults (read_episode_facts).
"""

from __future__ import annotations

import json
import re
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Mapping

EPISODE_JSON = 'episode.json'
EPISODE_FORMAT = 'act_episode/1'
BAG_METADATA = 'metadata.yaml'
# Storage file suffixes of the two rosbag2 storage plugins we write (storage_id mcap | sqlite3).
BAG_STORAGE_SUFFIXES = ('.mcap', '.db3')
# An episode folder (a bag) or an episode file without its suffix: episode_<index>.
EPISODE_NAME = re.compile(r'^episode_(\d+)$')
HDF5_SUFFIX = '.hdf5'

# rosbag2 metadata custom_data keys (strings only). The first group mirrors episode.json
# fields; a repaired bag (conversion.bag_recovery) adds the truncation marker and summary.
CUSTOM_DATA_PREFIX = 'act.'
CUSTOM_DATA_FIELDS = ('task', 'episode_index', 'seed', 'robot', 'success', 'start_time_ns', 'stop_time_ns',
                      'camera_sizes', 'render_settings')
# Fields whose custom_data value is JSON (the others are plain strings; booleans 'true'/'false').
CUSTOM_DATA_JSON_FIELDS = ('camera_sizes', 'render_settings')
TRUNCATED_KEY = CUSTOM_DATA_PREFIX + 'truncated'
RECOVERY_KEY = CUSTOM_DATA_PREFIX + 'recovery'


class EpisodeFormatError(ValueError):
    """An episode.json or bag custom_data entry cannot be read; the message names the bag."""


def custom_data_key(name: str) -> str:
    """The custom_data key of an episode field, e.g. 'task' -> 'act.task'."""
    return CUSTOM_DATA_PREFIX + name


def episode_dir_name(index: int) -> str:
    """The bag folder of episode `index`: episode_<index>."""
    return f'episode_{index}'


def episode_file_name(index: int) -> str:
    """The converted HDF5 file of episode `index`: episode_<index>.hdf5."""
    return episode_dir_name(index) + HDF5_SUFFIX


def episode_index_of(name: str, suffix: str = '') -> int | None:
    """The index in an episode folder or file name ('episode_3', or 'episode_3.hdf5' with
    suffix '.hdf5'); None for any other name."""
    if suffix:
        if not name.endswith(suffix):
            return None
        name = name[:-len(suffix)]
    match = EPISODE_NAME.match(name)
    return int(match.group(1)) if match else None


def existing_episode_indices(output_dir: Path) -> list[int]:
    """Indices of the episode_<n> folders and episode_<n>.hdf5 files in output_dir."""
    output_dir = Path(output_dir)
    if not output_dir.is_dir():
        return []
    indices = {episode_index_of(entry.name.removesuffix(HDF5_SUFFIX)) for entry in output_dir.iterdir()}
    return sorted(index for index in indices if index is not None)


def next_episode_index(output_dir: Path) -> int:
    """One past the highest episode index in output_dir (0 for an empty or missing one)."""
    indices = existing_episode_indices(output_dir)
    return indices[-1] + 1 if indices else 0


def is_bag_folder(path: Path) -> bool:
    """Whether `path` is a bag folder: it has metadata.yaml or a storage file (a bag left
    by a killed recorder has no metadata.yaml)."""
    path = Path(path)
    return path.is_dir() and ((path / BAG_METADATA).is_file()
                              or any(any(path.glob('*' + suffix)) for suffix in BAG_STORAGE_SUFFIXES))


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
        """The rosbag2 metadata custom_data entries (strings only; CUSTOM_DATA_FIELDS)."""
        return custom_data_of(asdict(self))

    def to_json(self) -> str:
        data = asdict(self)
        data['duration_s'] = self.duration_s
        return json.dumps(data, indent=2, sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> 'EpisodeRecord':
        return cls.from_dict(json.loads(text))

    @classmethod
    def from_dict(cls, data: Mapping) -> 'EpisodeRecord':
        """A record from episode.json fields; keys that are no field (duration_s, and what a
        repair adds: truncated, recovery, recovered_from) are ignored."""
        known = {f.name for f in fields(cls)}
        data = {key: value for key, value in data.items() if key in known}
        data['topics'] = {name: TopicCounts(**counts) for name, counts in data.get('topics', {}).items()}
        return cls(**data)


def custom_data_of(episode: Mapping, names: tuple[str, ...] = CUSTOM_DATA_FIELDS) -> dict[str, str]:
    """custom_data entries for the fields `names` (of CUSTOM_DATA_FIELDS) present in
    `episode` (episode.json fields): JSON for camera_sizes/render_settings, 'true'/'false'
    for booleans, else str()."""
    custom = {}
    for name in names:
        if name not in episode:
            continue
        value = episode[name]
        if name in CUSTOM_DATA_JSON_FIELDS:
            text = json.dumps(value)
        elif isinstance(value, bool):
            text = str(value).lower()
        else:
            text = str(value)
        custom[custom_data_key(name)] = text
    return custom


def read_episode_json(bag_path: Path) -> dict | None:
    """The episode.json fields of a bag folder as written (possibly partial), or None when
    the bag has none. Raises EpisodeFormatError when it is unreadable or not an object."""
    path = Path(bag_path) / EPISODE_JSON
    if not path.is_file():
        return None
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError) as error:
        raise EpisodeFormatError(f'{bag_path}: {EPISODE_JSON} is unreadable: {error}') from error
    if not isinstance(data, dict):
        raise EpisodeFormatError(f'{bag_path}: {EPISODE_JSON} is not a JSON object')
    return data


def read_episode_record(bag_path: Path) -> EpisodeRecord | None:
    """The episode.json of a bag folder as a record, or None when the bag has none (a
    foreign bag). Raises EpisodeFormatError when unreadable, TypeError when a required
    field is missing (a partial episode.json: use read_episode_facts)."""
    data = read_episode_json(bag_path)
    return EpisodeRecord.from_dict(data) if data is not None else None


@dataclass
class EpisodeFacts:
    """What conversion needs to know about an episode, whatever the bag recorded."""

    task: str
    episode_index: int
    seed: int = -1
    success: bool = False
    cameras: list[str] | None = None  # None: not recorded
    camera_sizes: dict | None = None
    render_settings: dict | None = None
    start_time_ns: int = 0  # 0: unknown
    stop_time_ns: int = 0  # 0: unknown (or never stopped)

    def window(self) -> tuple[int | None, int | None]:
        """(start, stop) ns of the episode as recorded; None where unknown (0: a foreign
        bag, or a recording that never stopped)."""
        start, stop = int(self.start_time_ns or 0), int(self.stop_time_ns or 0)
        return (start if start > 0 else None), (stop if stop > 0 and stop > start else None)


def read_episode_facts(bag_path: Path, custom_data: Mapping[str, str] | None, default_task: str,
                       default_index: int) -> EpisodeFacts:
    """An episode's facts, each from the first source that has it: episode.json, then the
    bag's metadata custom_data, then the folder name (index), then the defaults.

    custom_data: the bag's metadata custom_data, or None when not read yet. The task, seed,
    success and index of custom_data are only taken when it names a task (a bag written by
    our recorder). Raises EpisodeFormatError for an unreadable episode.json or a
    custom_data JSON entry that is not JSON."""
    bag_path = Path(bag_path)
    facts = EpisodeFacts(task=default_task, episode_index=default_index)
    folder_index = episode_index_of(bag_path.name)
    if folder_index is not None:
        facts.episode_index = folder_index
    custom = dict(custom_data or {})
    if custom_data_key('task') in custom:
        facts.task = custom[custom_data_key('task')]
        facts.seed = int(custom.get(custom_data_key('seed'), -1))
        facts.success = custom.get(custom_data_key('success')) == 'true'
        facts.episode_index = int(custom.get(custom_data_key('episode_index'), facts.episode_index))
        for name in CUSTOM_DATA_JSON_FIELDS:
            if custom_data_key(name) in custom:
                try:
                    setattr(facts, name, json.loads(custom[custom_data_key(name)]))
                except ValueError as error:
                    raise EpisodeFormatError(f'{bag_path}: metadata custom_data {custom_data_key(name)} is not JSON: '
                                             f'{error}') from error
    for name in ('start_time_ns', 'stop_time_ns'):
        if custom_data_key(name) in custom:
            setattr(facts, name, int(custom[custom_data_key(name)]))
    record = read_episode_json(bag_path) or {}
    for f in fields(EpisodeFacts):
        if f.name in record:
            setattr(facts, f.name, record[f.name])
    return facts
