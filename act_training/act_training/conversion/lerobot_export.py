"""Training episodes (ACT HDF5) -> a LeRobot dataset on disk, so our recordings train in
LeRobot too.

Format: LeRobotDataset codebase v2.1 (lerobot 0.1 .. 0.3, the version pinned in this
suite's LeRobot benchmark venv, which loads it). lerobot >= 0.4 reads v3.0 and converts
v2.1 datasets with its own script (lerobot.datasets.v30.convert_dataset_v21_to_v30):

    meta/info.json               features, fps, paths, totals
    meta/tasks.jsonl             {"task_index", "task"} per task
    meta/episodes.jsonl          {"episode_index", "tasks", "length"} per episode
    meta/episodes_stats.jsonl    per-episode min/max/mean/std/count of every feature
    data/chunk-000/episode_000000.parquet    one row per control step
    videos/chunk-000/observation.images.<camera>/episode_000000.mp4   AV1, yuv420p

Columns: observation.state (qpos), observation.velocity (qvel), action, timestamp (s
from the episode start), frame_index, episode_index, index (over the dataset),
task_index. Episode indices are renumbered 0..N-1 in file order (LeRobot wants them
contiguous); each episode's source file is listed in meta/act_sources.json.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Sequence

import numpy as np

from act_common.robot_config import RobotConfig

CODEBASE_VERSION = 'v2.1'
CHUNK_SIZE = 1000
DATA_PATH = 'data/chunk-{episode_chunk:03d}/episode_{episode_index:06d}.parquet'
VIDEO_PATH = 'videos/chunk-{episode_chunk:03d}/{video_key}/episode_{episode_index:06d}.mp4'
# LeRobot's own encoding settings (AV1 through SVT-AV1, a keyframe every 2 frames for fast seeking).
VIDEO_CODEC, VIDEO_PIX_FMT, VIDEO_OPTIONS = 'libsvtav1', 'yuv420p', {'g': '2', 'crf': '30'}
INDEX_FEATURES = ('timestamp', 'frame_index', 'episode_index', 'index', 'task_index')


class LeRobotExportError(RuntimeError):
    pass


def _features(robot: RobotConfig, cameras: dict[str, tuple[int, int]], fps: int) -> dict:
    names = list(robot.vector_names)
    vector = {'dtype': 'float32', 'shape': [len(names)], 'names': names}
    features = {'observation.state': dict(vector), 'observation.velocity': dict(vector), 'action': dict(vector)}
    for camera, (height, width) in cameras.items():
        features[f'observation.images.{camera}'] = {
            'dtype': 'video', 'shape': [height, width, 3], 'names': ['height', 'width', 'channels'],
            'info': {'video.height': height, 'video.width': width, 'video.codec': 'av1', 'video.pix_fmt': VIDEO_PIX_FMT,
                     'video.is_depth_map': False, 'video.fps': fps, 'video.channels': 3, 'has_audio': False}}
    features['timestamp'] = {'dtype': 'float32', 'shape': [1], 'names': None}
    for name in INDEX_FEATURES[1:]:
        features[name] = {'dtype': 'int64', 'shape': [1], 'names': None}
    return features


def _stats(values: np.ndarray) -> dict:
    """min/max/mean/std over rows, count. values: (T, D) or (T,)"""
    keep = values.ndim == 1
    return {'min': np.min(values, axis=0, keepdims=keep).tolist(), 'max': np.max(values, axis=0, keepdims=keep).tolist(),
            'mean': np.mean(values, axis=0, keepdims=keep).tolist(), 'std': np.std(values, axis=0, keepdims=keep).tolist(),
            'count': [int(len(values))]}


def _image_stats(frames) -> dict:
    """Per-channel stats of frames scaled to 0..1, shaped (3, 1, 1) as LeRobot stores them;
    from at most ~100 evenly spaced frames, as LeRobot samples them."""
    length = frames.shape[0]
    picks = np.unique(np.linspace(0, length - 1, min(length, 100)).round().astype(int))
    sample = np.stack([frames[i] for i in picks]).astype(np.float32) / 255.0  # (S, H, W, 3)
    reduce = lambda f: f(sample, axis=(0, 1, 2)).reshape(3, 1, 1).tolist()  # noqa: E731
    return {'min': reduce(np.min), 'max': reduce(np.max), 'mean': reduce(np.mean), 'std': reduce(np.std),
            'count': [int(len(picks))]}


def _encode_video(path: Path, frames, fps: int) -> None:
    import os

    os.environ.setdefault('SVT_LOG', '1')  # SVT-AV1 prints its whole configuration per video otherwise
    import av

    path.parent.mkdir(parents=True, exist_ok=True)
    height, width = frames.shape[1:3]
    with av.open(str(path), 'w') as container:
        stream = container.add_stream(VIDEO_CODEC, rate=fps, options=dict(VIDEO_OPTIONS))
        stream.width, stream.height, stream.pix_fmt = width, height, VIDEO_PIX_FMT
        for index in range(frames.shape[0]):
            frame = av.VideoFrame.from_ndarray(np.asarray(frames[index]), format='rgb24')
            for packet in stream.encode(frame):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)


def export_lerobot_dataset(episode_files: Sequence[Path], output_dir: Path, robot: RobotConfig,
                           overwrite: bool = False) -> Path:
    """Writes the dataset from converted episode files; returns output_dir."""
    import h5py
    import pyarrow as pa
    import pyarrow.parquet as pq

    output_dir = Path(output_dir)
    if output_dir.exists() and any(output_dir.iterdir()):
        if not overwrite:
            raise LeRobotExportError(f'{output_dir} exists and is not empty; pass --overwrite to replace it')
        shutil.rmtree(output_dir)
    if not episode_files:
        raise LeRobotExportError('no converted episodes to export')
    fps = int(round(robot.control_rate_hz))
    tasks: dict[str, int] = {}
    episodes, episode_stats, sources = [], [], []
    cameras: dict[str, tuple[int, int]] | None = None
    total = 0
    (output_dir / 'meta').mkdir(parents=True)
    for episode_index, path in enumerate(sorted(map(Path, episode_files), key=_file_index)):
        with h5py.File(path, 'r') as episode:
            names = json.loads(episode.attrs['vector_names'])
            if names != list(robot.vector_names):
                raise LeRobotExportError(f'{path}: vector_names {names} differ from robot {robot.name!r}')
            images = episode['observations/images']
            shapes = {camera: tuple(images[camera].shape[1:3]) for camera in json.loads(episode.attrs['camera_names'])}
            if cameras is None:
                cameras = shapes
            elif shapes != cameras:
                raise LeRobotExportError(f'{path}: cameras {shapes} differ from the first episode {cameras}')
            task = str(episode.attrs['task'])
            task_index = tasks.setdefault(task, len(tasks))
            state = episode['observations/qpos'][()].astype(np.float32)  # (T, D)
            velocity = episode['observations/qvel'][()].astype(np.float32)  # (T, D)
            action = episode['action'][()].astype(np.float32)  # (T, D)
            length = len(state)
            columns = {
                'observation.state': state, 'observation.velocity': velocity, 'action': action,
                'timestamp': (np.arange(length) / fps).astype(np.float32),
                'frame_index': np.arange(length, dtype=np.int64),
                'episode_index': np.full(length, episode_index, dtype=np.int64),
                'index': np.arange(total, total + length, dtype=np.int64),
                'task_index': np.full(length, task_index, dtype=np.int64),
            }
            chunk = episode_index // CHUNK_SIZE
            table = pa.table({
                key: (pa.FixedSizeListArray.from_arrays(pa.array(value.reshape(-1)), value.shape[1]) if value.ndim == 2
                      else pa.array(value)) for key, value in columns.items()})
            data_path = output_dir / DATA_PATH.format(episode_chunk=chunk, episode_index=episode_index)
            data_path.parent.mkdir(parents=True, exist_ok=True)
            pq.write_table(table, data_path)
            stats = {key: _stats(value) for key, value in columns.items()}
            for camera in cameras:
                key = f'observation.images.{camera}'
                _encode_video(output_dir / VIDEO_PATH.format(episode_chunk=chunk, video_key=key, episode_index=episode_index),
                              images[camera], fps)
                stats[key] = _image_stats(images[camera])
        episodes.append({'episode_index': episode_index, 'tasks': [task], 'length': length})
        episode_stats.append({'episode_index': episode_index, 'stats': stats})
        sources.append({'episode_index': episode_index, 'source': str(path)})
        total += length
    info = {
        'codebase_version': CODEBASE_VERSION, 'robot_type': robot.name, 'total_episodes': len(episodes),
        'total_frames': total, 'total_tasks': len(tasks), 'total_videos': len(episodes) * len(cameras),
        'total_chunks': (len(episodes) - 1) // CHUNK_SIZE + 1, 'chunks_size': CHUNK_SIZE, 'fps': fps,
        'splits': {'train': f'0:{len(episodes)}'}, 'data_path': DATA_PATH, 'video_path': VIDEO_PATH,
        'features': _features(robot, cameras, fps),
    }
    meta = output_dir / 'meta'
    (meta / 'info.json').write_text(json.dumps(info, indent=4))
    (meta / 'tasks.jsonl').write_text(''.join(json.dumps({'task_index': i, 'task': t}) + '\n' for t, i in tasks.items()))
    (meta / 'episodes.jsonl').write_text(''.join(json.dumps(e) + '\n' for e in episodes))
    (meta / 'episodes_stats.jsonl').write_text(''.join(json.dumps(e) + '\n' for e in episode_stats))
    (meta / 'act_sources.json').write_text(json.dumps(sources, indent=2))
    return output_dir


def _file_index(path: Path) -> tuple[int, str]:
    stem = path.stem
    return (int(stem.split('_')[-1]) if stem.split('_')[-1].isdigit() else 1 << 60, str(path))
