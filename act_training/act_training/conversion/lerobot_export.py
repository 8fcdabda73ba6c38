"""Training episodes (ACT HDF5) -> a LeRobotDataset v3.0 on disk, which LeRobot >= 0.4
opens with `LeRobotDataset(repo_id, root=DIR)`. The layout and its constants are in
conversion.lerobot_format.

Columns: observation.state (qpos), observation.velocity (qvel, when the episodes have it),
action (its own width and names), timestamp (s from the episode start), frame_index,
episode_index, index (over the dataset), task_index. Episode indices are renumbered
0..N-1 in file order (LeRobot wants them contiguous); each episode's source file is
listed in meta/act_sources.json. Data parquet files and per-camera mp4 files hold many
episodes each and start a new file past LeRobot's size settings (100 MB / 200 MB).
The dataset is written under a temporary name and renamed into place when complete.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
from fractions import Fraction
from pathlib import Path
from typing import Sequence

import numpy as np

from act_common.errors import ActError
from act_common.robot_config import RobotConfig
from act_training.conversion import lerobot_format as fmt
from act_training.data.episodes import default_vector_names, read_frames
from act_training.hdf5_format import ACTION, IMAGES, QPOS, QVEL, image_path

# Frames read from an episode file per call while encoding (bounds the scratch memory).
_READ_BLOCK = 64
# At most this many evenly spaced frames per episode go into the image statistics (as LeRobot samples).
_STATS_FRAMES = 100


class LeRobotExportError(ActError, RuntimeError):
    """The episodes cannot be exported; the message names the file and the field."""


def _stats(values: np.ndarray, axis, keepdims: bool) -> dict[str, np.ndarray]:
    stats = {'min': np.min(values, axis=axis, keepdims=keepdims), 'max': np.max(values, axis=axis, keepdims=keepdims),
             'mean': np.mean(values, axis=axis, keepdims=keepdims), 'std': np.std(values, axis=axis, keepdims=keepdims)}
    for key, q in fmt.QUANTILES.items():
        stats[key] = np.quantile(values, q, axis=axis, keepdims=keepdims)
    return stats


def vector_stats(values: np.ndarray) -> dict[str, np.ndarray]:
    """min/max/mean/std/quantiles over rows and the count. values: (T, D) -> each (D,); (T,) -> each (1,)."""
    values = np.asarray(values, dtype=np.float64)
    stats = _stats(values.reshape(len(values), -1), axis=0, keepdims=False)
    stats['count'] = np.array([len(values)])
    return stats


def image_stats(frames: np.ndarray) -> dict[str, np.ndarray]:
    """Per-channel stats of (S, H, W, 3) uint8 frames scaled to 0..1, each (3, 1, 1) as
    LeRobot stores them; frames wider than 300 px are strided down to about 150 (LeRobot's
    auto_downsample_height_width does the same before its statistics)."""
    height, width = frames.shape[1:3]
    step = max(1, min(height, width) // 150) if max(height, width) >= 300 else 1
    sample = frames[:, ::step, ::step].astype(np.float64) / 255.0  # (S, h, w, 3)
    chw = sample.transpose(0, 3, 1, 2)  # (S, 3, h, w)
    stats = {key: value[0] for key, value in _stats(chw, axis=(0, 2, 3), keepdims=True).items()}  # (3, 1, 1)
    stats['count'] = np.array([len(frames)])
    return stats


def aggregate_stats(per_episode: list[dict[str, dict[str, np.ndarray]]]) -> dict[str, dict[str, np.ndarray]]:
    """Dataset statistics from episode statistics: count-weighted mean and pooled variance,
    min of minima, max of maxima, count-weighted quantiles (LeRobot's aggregate_feature_stats)."""
    out = {}
    for key in per_episode[0]:
        items = [episode[key] for episode in per_episode]
        counts = np.stack([s['count'] for s in items]).astype(np.float64)  # (E, 1)
        means = np.stack([s['mean'] for s in items])  # (E, ...)
        weights = counts.reshape(counts.shape[0], *([1] * (means.ndim - 1)))
        total = counts.sum()
        mean = (means * weights).sum(axis=0) / total
        variance = ((np.stack([s['std'] for s in items]) ** 2 + (means - mean) ** 2) * weights).sum(axis=0) / total
        stats = {'min': np.min(np.stack([s['min'] for s in items]), axis=0),
                 'max': np.max(np.stack([s['max'] for s in items]), axis=0),
                 'mean': mean, 'std': np.sqrt(variance), 'count': np.array([int(total)])}
        for q in fmt.QUANTILES:
            stats[q] = (np.stack([s[q] for s in items]) * weights).sum(axis=0) / total
        out[key] = stats
    return out


def _jsonable(stats: dict[str, dict[str, np.ndarray]]) -> dict:
    return {key: {name: np.asarray(value).tolist() for name, value in values.items()} for key, values in stats.items()}


@contextlib.contextmanager
def _keep_scheduling_policy():
    """Restores the calling thread's scheduling policy and priority on exit.

    Why: run as root (containers, robot PCs), SVT-AV1 (the libsvtav1 encoder PyAV ships)
    switches the thread that opens the encoder to SCHED_FIFO priority 99 (measured:
    os.sched_getscheduler(0) goes 0 -> 1 at the first encode). Every thread and process
    started from that thread afterwards inherits it: ROS nodes launched after an export ran
    at real-time priority 99 and a spinning one starved the 2-core machine. Linux only;
    elsewhere a no-op."""
    if not hasattr(os, 'sched_getscheduler'):
        yield
        return
    policy, param = os.sched_getscheduler(0), os.sched_getparam(0)
    try:
        yield
    finally:
        if os.sched_getscheduler(0) != policy or os.sched_getparam(0) != param:
            os.sched_setscheduler(0, policy, param)


class _VideoFile:
    """One mp4 of one camera holding consecutive episodes; frame k of the file has
    timestamp k / fps exactly (pts k in a 1/fps time base)."""

    def __init__(self, path: Path, fps: int, height: int, width: int):
        os.environ.setdefault('SVT_LOG', '1')  # SVT-AV1 prints its whole configuration per video otherwise
        import av

        path.parent.mkdir(parents=True, exist_ok=True)
        self.path, self.fps, self.frames = path, fps, 0
        self._container = av.open(str(path), 'w')
        self._stream = self._container.add_stream(fmt.VIDEO_CODEC, rate=fps, options=dict(fmt.VIDEO_OPTIONS))
        self._stream.width, self._stream.height, self._stream.pix_fmt = width, height, fmt.VIDEO_PIX_FMT
        self._stream.time_base = Fraction(1, fps)
        self.bytes = 0

    def write(self, frames: np.ndarray) -> None:
        """(n, H, W, 3) uint8 RGB frames, appended."""
        import av

        for rgb in frames:
            frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(rgb), format='rgb24')
            frame.pts, frame.time_base = self.frames, Fraction(1, self.fps)
            self.frames += 1
            with _keep_scheduling_policy():  # the first encode opens the encoder
                self._mux(self._stream.encode(frame))

    def _mux(self, packets) -> None:
        for packet in packets:
            self.bytes += packet.size
            self._container.mux(packet)

    def close(self) -> None:
        with _keep_scheduling_policy():
            self._mux(self._stream.encode())
            self._container.close()


def _names(path: Path, attrs, key: str, width: int, field: str, fallback: list[str] | None,
           default: list[str] | None = None) -> list[str]:
    """The names of a (T, width) field: attribute `key`, else the fallback (the state's
    names, for the action), else `default`; a width mismatch is an error naming the file,
    the field and both widths."""
    names = json.loads(attrs[key]) if key in attrs else None
    where = f'attribute {key}'
    if names is None and fallback is not None:
        names, where = fallback, 'attribute vector_names'
    if names is None:
        names, where = default, 'the default names'
    if len(names) != width:
        raise LeRobotExportError(f'{path}: {field}: {width} entries per step but {where} has {len(names)} names '
                                 f'({names}); the export needs one name per entry')
    return list(names)


class _Episode:
    """What the export needs from one HDF5 episode, checked."""

    def __init__(self, path: Path, h5):
        attrs = h5.attrs
        self.path = path
        for name in (QPOS, ACTION):
            if name not in h5 or h5[name].ndim != 2:
                raise LeRobotExportError(f'{path}: {name}: missing or not a (T, D) array')
        self.state = h5[QPOS][()].astype(np.float32)  # (T, Ds)
        self.action = h5[ACTION][()].astype(np.float32)  # (T, Da)
        self.velocity = h5[QVEL][()].astype(np.float32) if QVEL in h5 else None  # (T, Ds)
        # Episodes without vector_names (original ALOHA files): the ALOHA names for 14 entries.
        default = list(default_vector_names(self.state.shape[1]))
        self.state_names = _names(path, attrs, 'vector_names', self.state.shape[1], QPOS, None, default)
        self.action_names = _names(path, attrs, 'action_names', self.action.shape[1], ACTION, self.state_names)
        if self.velocity is not None:
            self.velocity_names = _names(path, attrs, 'vector_names', self.velocity.shape[1], QVEL, None, default)
        for name, values in ((ACTION, self.action), (QVEL, self.velocity)):
            if values is not None and len(values) != len(self.state):
                raise LeRobotExportError(f'{path}: {name}: {len(values)} steps but {QPOS} has {len(self.state)}')
        self.cameras = json.loads(attrs['camera_names']) if 'camera_names' in attrs else sorted(h5[IMAGES])
        self.task = str(attrs.get('task', 'unknown'))


def _features(first: _Episode, cameras: dict[str, tuple[int, int]], fps: int) -> dict:
    features = {fmt.STATE: {'dtype': 'float32', 'shape': [len(first.state_names)], 'names': first.state_names}}
    if first.velocity is not None:
        features[fmt.VELOCITY] = {'dtype': 'float32', 'shape': [len(first.velocity_names)], 'names': first.velocity_names}
    features[fmt.ACTION] = {'dtype': 'float32', 'shape': [len(first.action_names)], 'names': first.action_names}
    for camera, (height, width) in cameras.items():
        features[fmt.IMAGE_PREFIX + camera] = {
            'dtype': 'video', 'shape': [height, width, 3], 'names': ['height', 'width', 'channels'],
            'info': {'video.height': height, 'video.width': width, 'video.codec': fmt.VIDEO_CODEC_NAME,
                     'video.pix_fmt': fmt.VIDEO_PIX_FMT, 'video.is_depth_map': False, 'video.fps': fps,
                     'video.channels': 3, 'has_audio': False}}
    features['timestamp'] = {'dtype': 'float32', 'shape': [1], 'names': None}
    for name in fmt.INDEX_FEATURES[1:]:
        features[name] = {'dtype': 'int64', 'shape': [1], 'names': None}
    return features


def _check_same(path: Path, first: _Episode, episode: _Episode, cameras, shapes) -> None:
    for field, a, b in (('observation.state names (vector_names)', first.state_names, episode.state_names),
                        ('action names', first.action_names, episode.action_names),
                        ('observation.velocity (qvel present)', first.velocity is None, episode.velocity is None),
                        (f'{IMAGES} cameras and sizes', cameras, shapes)):
        if a != b:
            raise LeRobotExportError(f'{path}: {field}: {b} differs from the first episode {first.path.name}: {a}')


def _table(columns: dict[str, np.ndarray]):
    import pyarrow as pa

    return pa.table({key: (pa.FixedSizeListArray.from_arrays(pa.array(value.reshape(-1)), value.shape[1])
                           if value.ndim == 2 else pa.array(value)) for key, value in columns.items()})


def export_lerobot_dataset(episode_files: Sequence[Path], output_dir: Path, robot: RobotConfig,
                           overwrite: bool = False, data_file_mb: float = fmt.DATA_FILES_SIZE_IN_MB,
                           video_file_mb: float = fmt.VIDEO_FILES_SIZE_IN_MB) -> Path:
    """Writes the dataset from converted episode files; returns output_dir. The robot
    gives robot_type and the fps (its control rate). Raises LeRobotExportError."""
    output_dir = Path(output_dir)
    if output_dir.exists() and any(output_dir.iterdir()) and not overwrite:
        raise LeRobotExportError(f'{output_dir} exists and is not empty; pass --overwrite to replace it')
    if not episode_files:
        raise LeRobotExportError('no converted episodes to export')
    partial = output_dir.with_name(f'.{output_dir.name}.partial')
    shutil.rmtree(partial, ignore_errors=True)
    try:
        _write(sorted(map(Path, episode_files), key=_file_index), partial, robot, data_file_mb, video_file_mb)
    except BaseException:
        shutil.rmtree(partial, ignore_errors=True)
        raise
    if output_dir.exists():
        shutil.rmtree(output_dir)
    os.replace(partial, output_dir)
    return output_dir


def _write(paths: list[Path], root: Path, robot: RobotConfig, data_file_mb: float, video_file_mb: float) -> None:
    import h5py
    import pandas as pd
    import pyarrow as pa
    import pyarrow.parquet as pq

    fps = int(round(robot.control_rate_hz))
    tasks: dict[str, int] = {}
    rows, all_stats, sources = [], [], []
    first: _Episode | None = None
    cameras: dict[str, tuple[int, int]] = {}
    data_writer, data_number, data_bytes = None, 0, 0
    videos: dict[str, _VideoFile] = {}
    video_numbers: dict[str, int] = {}
    total = 0
    try:
        for episode_index, path in enumerate(paths):
            with h5py.File(path, 'r') as h5:
                episode = _Episode(path, h5)
                shapes = {}
                for camera in episode.cameras:
                    name = image_path(camera)
                    if name not in h5:
                        raise LeRobotExportError(f'{path}: {name}: listed in camera_names but missing')
                    shapes[camera] = tuple(int(v) for v in read_frames(h5, name, 0, 1).shape[1:3])
                if first is None:
                    first, cameras = episode, shapes
                    video_numbers = {camera: 0 for camera in cameras}
                _check_same(path, first, episode, cameras, shapes)
                task_index = tasks.setdefault(episode.task, len(tasks))
                length = len(episode.state)
                columns = {fmt.STATE: episode.state}
                if episode.velocity is not None:
                    columns[fmt.VELOCITY] = episode.velocity
                columns.update({
                    fmt.ACTION: episode.action,
                    'timestamp': (np.arange(length) / fps).astype(np.float32),
                    'frame_index': np.arange(length, dtype=np.int64),
                    'episode_index': np.full(length, episode_index, dtype=np.int64),
                    'index': np.arange(total, total + length, dtype=np.int64),
                    'task_index': np.full(length, task_index, dtype=np.int64),
                })
                stats = {key: vector_stats(value) for key, value in columns.items()}
                row = {'episode_index': episode_index, 'tasks': [episode.task], 'length': length}

                # Data: append to the current file; a new one starts once it passed the size setting.
                chunk, file = fmt.chunk_and_file(data_number)
                if data_writer is None:
                    data_path = root / fmt.DATA_PATH.format(chunk_index=chunk, file_index=file)
                    data_path.parent.mkdir(parents=True, exist_ok=True)
                    table = _table(columns)
                    data_writer = pq.ParquetWriter(data_path, table.schema)
                else:
                    table = _table(columns)
                data_writer.write_table(table)
                data_bytes += table.nbytes
                row.update({fmt.DATA_CHUNK_COLUMN: chunk, fmt.DATA_FILE_COLUMN: file,
                            'dataset_from_index': total, 'dataset_to_index': total + length})
                if data_bytes >= data_file_mb * 1e6:
                    data_writer.close()
                    data_writer, data_number, data_bytes = None, data_number + 1, 0

                for camera, (height, width) in cameras.items():
                    key, name = fmt.IMAGE_PREFIX + camera, image_path(camera)
                    chunk, file = fmt.chunk_and_file(video_numbers[camera])
                    if camera not in videos:
                        videos[camera] = _VideoFile(root / fmt.VIDEO_PATH.format(video_key=key, chunk_index=chunk,
                                                                                 file_index=file), fps, height, width)
                    video = videos[camera]
                    start_frame = video.frames
                    picks = set(np.unique(np.linspace(0, length - 1, min(length, _STATS_FRAMES)).round().astype(int)).tolist())
                    sampled = []
                    for start in range(0, length, _READ_BLOCK):
                        block = read_frames(h5, name, start, min(start + _READ_BLOCK, length))  # (n, H, W, 3)
                        video.write(block)
                        sampled += [block[i - start] for i in range(start, start + len(block)) if i in picks]
                    stats[key] = image_stats(np.stack(sampled))
                    chunk_column, file_column, from_column, to_column = fmt.video_columns(key)
                    row.update({chunk_column: chunk, file_column: file, from_column: start_frame / fps,
                                to_column: video.frames / fps})
                    if video.bytes >= video_file_mb * 1e6:
                        video.close()
                        del videos[camera]
                        video_numbers[camera] += 1
            row.update({fmt.EPISODES_CHUNK_COLUMN: 0, fmt.EPISODES_FILE_COLUMN: 0})
            for key, values in stats.items():
                for stat, value in values.items():
                    row[fmt.stats_column(key, stat)] = np.asarray(value).tolist()
            rows.append(row)
            all_stats.append(stats)
            sources.append({'episode_index': episode_index, 'source': str(path)})
            total += length
    finally:
        if data_writer is not None:
            data_writer.close()
        for video in videos.values():
            video.close()

    meta = root / 'meta'
    episodes_path = root / fmt.EPISODES_PATH.format(chunk_index=0, file_index=0)
    episodes_path.parent.mkdir(parents=True, exist_ok=True)
    pq.write_table(pa.Table.from_pylist(rows), episodes_path)
    # LeRobot reads tasks with pandas: the task strings are the frame's index.
    task_frame = pd.DataFrame({'task_index': list(tasks.values())}, index=pd.Index(list(tasks), name='task'))
    pq.write_table(pa.Table.from_pandas(task_frame), root / fmt.TASKS_PATH)
    (root / fmt.STATS_PATH).write_text(json.dumps(_jsonable(aggregate_stats(all_stats)), indent=4))
    info = {
        'codebase_version': fmt.CODEBASE_VERSION, 'robot_type': robot.name, 'total_episodes': len(rows),
        'total_frames': total, 'total_tasks': len(tasks), 'chunks_size': fmt.CHUNKS_SIZE,
        'data_files_size_in_mb': data_file_mb, 'video_files_size_in_mb': video_file_mb, 'fps': fps,
        'splits': {'train': f'0:{len(rows)}'}, 'data_path': fmt.DATA_PATH, 'video_path': fmt.VIDEO_PATH if cameras else None,
        'features': _features(first, cameras, fps),
    }
    (root / fmt.INFO_PATH).write_text(json.dumps(info, indent=4))
    (meta / 'act_sources.json').write_text(json.dumps(sources, indent=2))


def _file_index(path: Path) -> tuple[int, str]:
    stem = path.stem
    return (int(stem.split('_')[-1]) if stem.split('_')[-1].isdigit() else 1 << 60, str(path))
