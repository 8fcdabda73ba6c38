"""The LeRobotDataset v3.0 layout: every path, column and constant our writer and reader
share, in one place. Source: lerobot 0.4.x, src/lerobot/datasets/utils.py (paths and
defaults), lerobot_dataset.py (what LeRobotDataset opens), video_utils.py (how a frame is
found in a video file), compute_stats.py (the statistics).

    meta/info.json                                 codebase_version "v3.0", features, fps, sizes
    meta/stats.json                                {feature: {min, max, mean, std, count, q01..q99}}
    meta/tasks.parquet                             task_index, indexed by the task string
    meta/episodes/chunk-000/file-000.parquet       one row per episode (see EPISODE_COLUMNS)
    data/chunk-000/file-000.parquet                one row per frame, many episodes per file
    videos/<video_key>/chunk-000/file-000.mp4      many episodes per file, one after the other

A frame of episode e at time t (s from the episode start) is the video frame at
`videos/<key>/from_timestamp` + t in its file; a data row's place in the whole dataset is
its `index`, and episode e owns rows dataset_from_index .. dataset_to_index - 1.
"""

from __future__ import annotations

CODEBASE_VERSION = 'v3.0'
INFO_PATH = 'meta/info.json'
STATS_PATH = 'meta/stats.json'
TASKS_PATH = 'meta/tasks.parquet'
EPISODES_DIR = 'meta/episodes'
CHUNK_FILE = 'chunk-{chunk_index:03d}/file-{file_index:03d}'
EPISODES_PATH = EPISODES_DIR + '/' + CHUNK_FILE + '.parquet'
DATA_PATH = 'data/' + CHUNK_FILE + '.parquet'
VIDEO_PATH = 'videos/{video_key}/' + CHUNK_FILE + '.mp4'
# LeRobot's defaults: files per chunk folder, and the size at which a new data / video file starts.
CHUNKS_SIZE = 1000
DATA_FILES_SIZE_IN_MB = 100
VIDEO_FILES_SIZE_IN_MB = 200

# Episode-metadata columns: where an episode's frames and its metadata row are stored, and
# its statistics (one column per feature and statistic: stats_column).
DATA_CHUNK_COLUMN, DATA_FILE_COLUMN = 'data/chunk_index', 'data/file_index'
EPISODES_CHUNK_COLUMN, EPISODES_FILE_COLUMN = 'meta/episodes/chunk_index', 'meta/episodes/file_index'

STATE = 'observation.state'
VELOCITY = 'observation.velocity'
ACTION = 'action'
IMAGE_PREFIX = 'observation.images.'
# Columns LeRobot adds to every frame (shape [1]); timestamp float32, the others int64.
INDEX_FEATURES = ('timestamp', 'frame_index', 'episode_index', 'index', 'task_index')
STAT_NAMES = ('min', 'max', 'mean', 'std', 'count', 'q01', 'q10', 'q50', 'q90', 'q99')
QUANTILES = {'q01': 0.01, 'q10': 0.10, 'q50': 0.50, 'q90': 0.90, 'q99': 0.99}

# LeRobot's own encoding settings (AV1 through SVT-AV1, a keyframe every 2 frames for fast seeking).
VIDEO_CODEC, VIDEO_CODEC_NAME, VIDEO_PIX_FMT, VIDEO_OPTIONS = 'libsvtav1', 'av1', 'yuv420p', {'g': '2', 'crf': '30'}


def chunk_and_file(file_number: int) -> tuple[int, int]:
    """The n-th file of a kind (0, 1, ...) -> (chunk_index, file_index)."""
    return file_number // CHUNKS_SIZE, file_number % CHUNKS_SIZE


def stats_column(feature: str, stat: str) -> str:
    """The episode-metadata column of one statistic of one feature (stat of STAT_NAMES)."""
    return f'stats/{feature}/{stat}'


def video_columns(video_key: str) -> tuple[str, str, str, str]:
    """Episode-metadata columns of one camera: chunk, file, from and to timestamp (s)."""
    prefix = f'videos/{video_key}/'
    return prefix + 'chunk_index', prefix + 'file_index', prefix + 'from_timestamp', prefix + 'to_timestamp'


def is_lerobot_dataset(path) -> bool:
    from pathlib import Path

    return (Path(path) / INFO_PATH).is_file()
