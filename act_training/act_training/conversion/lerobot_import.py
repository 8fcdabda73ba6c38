"""A LeRobotDataset v3.0 folder -> ACT HDF5 training episodes, so `act train --data DIR`
trains on LeRobot datasets exactly as on our own episodes.

The layout is in conversion.lerobot_format. Mapping: observation.state -> /observations/qpos,
action -> /action, observation.images.<camera> (video features) -> /observations/images/<camera>,
observation.velocity -> /observations/qvel (where absent: the state's finite difference
at the dataset's fps, as the converter does for joint states without velocities). Names
and fps become the vector_names / action_names / control_rate_hz attributes.

Each video frame is decoded once, while its episode is written; episodes are then read by
the training data code like any other HDF5 episode. Every mismatch (version, missing or
misshapen field, rows or frames missing) is a LeRobotImportError naming the file and the field.
"""

from __future__ import annotations

import json
import os
import shutil
import time
from pathlib import Path

import numpy as np

from act_common.episode_format import episode_file_name
from act_training.conversion import lerobot_format as fmt
from act_training.conversion.hdf5_writer import EpisodeFileWriter
from act_training.data.episodes import EpisodeDataError

# Written last into an import folder: its presence means the import completed.
IMPORT_RECORD = 'lerobot_import.json'
# How long DDP ranks other than 0 wait for rank 0's import, s (decoding is ~1 ms per 480x640 frame).
IMPORT_WAIT_S = 3600.0


class LeRobotImportError(EpisodeDataError):
    """The folder is not a LeRobotDataset v3.0 we can train on; names the file and field."""


def _names(info_path: Path, key: str, feature: dict) -> list[str] | None:
    """A feature's entry names: a list, or LeRobot's {"motors": [...]} form."""
    names = feature.get('names')
    if isinstance(names, dict) and len(names) == 1:
        names = next(iter(names.values()))
    if names is None:
        return None
    if not isinstance(names, list) or len(names) != int(np.prod(feature['shape'])):
        raise LeRobotImportError(f'{info_path}: features.{key}.names: {names!r} does not name the '
                                 f'{feature["shape"]} entries')
    return [str(n) for n in names]


def _read_info(root: Path) -> dict:
    path = root / fmt.INFO_PATH
    try:
        info = json.loads(path.read_text())
    except (OSError, ValueError) as error:
        raise LeRobotImportError(f'{path}: unreadable: {error}') from error
    version = info.get('codebase_version')
    if version != fmt.CODEBASE_VERSION:
        raise LeRobotImportError(f'{path}: codebase_version is {version!r}; only {fmt.CODEBASE_VERSION!r} is read '
                                 '(convert older datasets with LeRobot\'s convert_dataset_v21_to_v30)')
    features = info.get('features') or {}
    for key in (fmt.STATE, fmt.ACTION):
        if key not in features:
            raise LeRobotImportError(f'{path}: features.{key}: missing; ACT needs the state and the action')
        if len(features[key].get('shape', [])) != 1:
            raise LeRobotImportError(f'{path}: features.{key}.shape: {features[key].get("shape")}, expected one dimension')
    for key in ('fps', 'data_path'):
        if key not in info:
            raise LeRobotImportError(f'{path}: {key}: missing')
    cameras = [key for key, ft in features.items() if key.startswith(fmt.IMAGE_PREFIX)]
    if not cameras:
        raise LeRobotImportError(f'{path}: features: no {fmt.IMAGE_PREFIX}<camera> feature; ACT needs a camera')
    for key in cameras:
        if features[key].get('dtype') != 'video':
            raise LeRobotImportError(f'{path}: features.{key}.dtype: {features[key].get("dtype")!r}; '
                                     'only video cameras are read')
    return info


def _read_episodes(root: Path) -> list[dict]:
    import pyarrow.parquet as pq

    paths = sorted((root / fmt.EPISODES_DIR).glob('*/*.parquet'))
    if not paths:
        raise LeRobotImportError(f'{root / fmt.EPISODES_DIR}: no episode metadata parquet files')
    rows = []
    for path in paths:
        table = pq.read_table(path)
        table = table.select([name for name in table.column_names if not name.startswith('stats/')])
        rows += table.to_pylist()
    return sorted(rows, key=lambda row: row['episode_index'])


def _decode_episode_video(path: Path, key: str, start_s: float, length: int, fps: float) -> np.ndarray:
    """Frames at start_s + k / fps, k = 0..length-1, from one mp4: (length, H, W, 3) uint8."""
    import av

    frames: list[np.ndarray | None] = [None] * length
    try:
        with av.open(str(path)) as container:
            stream = container.streams.video[0]
            container.seek(int(start_s / stream.time_base), stream=stream, backward=True, any_frame=False)
            for frame in container.decode(stream):
                k = int(round((float(frame.pts * stream.time_base) - start_s) * fps))
                if k >= length:
                    break
                if k >= 0:
                    frames[k] = frame.to_ndarray(format='rgb24')
    except av.error.FFmpegError as error:
        raise LeRobotImportError(f'{path}: {key}: cannot decode: {error}') from error
    missing = [k for k, frame in enumerate(frames) if frame is None]
    if missing:
        raise LeRobotImportError(f'{path}: {key}: no frame at {len(missing)} of the episode\'s {length} timestamps '
                                 f'from {start_s:.3f} s (first missing: frame {missing[0]})')
    return np.stack(frames)


def import_lerobot_dataset(root: Path, output_dir: Path) -> Path:
    """Writes episode_<index>.hdf5 for every episode of the v3.0 dataset at root into
    output_dir (through a temporary folder renamed into place); returns output_dir."""
    import pandas as pd
    import pyarrow.parquet as pq

    root, output_dir = Path(root), Path(output_dir)
    info = _read_info(root)
    info_path = root / fmt.INFO_PATH
    features, fps = info['features'], float(info['fps'])
    cameras = [key for key in features if key.startswith(fmt.IMAGE_PREFIX)]
    state_dim, action_dim = int(features[fmt.STATE]['shape'][0]), int(features[fmt.ACTION]['shape'][0])
    state_names = _names(info_path, fmt.STATE, features[fmt.STATE])
    action_names = _names(info_path, fmt.ACTION, features[fmt.ACTION])
    has_velocity = fmt.VELOCITY in features and list(features[fmt.VELOCITY]['shape']) == [state_dim]
    tasks_path = root / fmt.TASKS_PATH
    task_of = {}
    if tasks_path.is_file():
        tasks = pd.read_parquet(tasks_path)
        task_of = {int(row.task_index): str(name) for name, row in tasks.iterrows()}
    episodes = _read_episodes(root)
    partial = output_dir.with_name(f'.{output_dir.name}.partial-{os.getpid()}')
    shutil.rmtree(partial, ignore_errors=True)
    partial.mkdir(parents=True)
    tables: dict[Path, object] = {}
    try:
        for row in episodes:
            index = int(row['episode_index'])
            data_path = root / info['data_path'].format(chunk_index=row[fmt.DATA_CHUNK_COLUMN],
                                                       file_index=row[fmt.DATA_FILE_COLUMN])
            if data_path not in tables:
                if not data_path.is_file():
                    raise LeRobotImportError(f'{data_path}: missing (episode {index}\'s data file)')
                tables = {data_path: pq.read_table(data_path).to_pandas()}  # one data file in memory at a time
            frame = tables[data_path]
            rows = frame[frame['episode_index'] == index].sort_values('frame_index')
            length = int(row['length'])
            if len(rows) != length:
                raise LeRobotImportError(f'{data_path}: episode_index {index}: {len(rows)} rows but meta/episodes says '
                                         f'length {length}')
            vectors = {}
            for key, dim in ((fmt.STATE, state_dim), (fmt.ACTION, action_dim)):
                if key not in rows:
                    raise LeRobotImportError(f'{data_path}: column {key}: missing')
                values = np.stack([np.asarray(v, dtype=np.float64).reshape(-1) for v in rows[key]])  # (T, D)
                if values.shape[1] != dim:
                    raise LeRobotImportError(f'{data_path}: column {key}: {values.shape[1]} entries per frame but '
                                             f'{info_path} features.{key}.shape is [{dim}]')
                vectors[key] = values
            velocity = (np.stack([np.asarray(v, dtype=np.float64) for v in rows[fmt.VELOCITY]]) if has_velocity
                        else np.gradient(vectors[fmt.STATE], 1.0 / fps, axis=0) if length > 1
                        else np.zeros_like(vectors[fmt.STATE]))
            writer = EpisodeFileWriter(partial / episode_file_name(index), length, state_dim, action_size=action_dim)
            try:
                for key in cameras:
                    chunk_column, file_column, from_column, _ = fmt.video_columns(key)
                    if from_column not in row:
                        raise LeRobotImportError(f'{root / fmt.EPISODES_DIR}: column {from_column}: missing')
                    video_path = root / info['video_path'].format(video_key=key, chunk_index=row[chunk_column],
                                                                  file_index=row[file_column])
                    if not video_path.is_file():
                        raise LeRobotImportError(f'{video_path}: missing ({key} of episode {index})')
                    frames = _decode_episode_video(video_path, key, float(row[from_column]), length, fps)
                    height, width = frames.shape[1:3]
                    expected = features[key].get('shape', [height, width, 3])
                    if [height, width] != list(expected[:2]):
                        raise LeRobotImportError(f'{video_path}: {key}: frames of {height}x{width} but {info_path} '
                                                 f'features.{key}.shape is {expected}')
                    dataset = writer.camera(key[len(fmt.IMAGE_PREFIX):], height, width)
                    dataset[:] = frames
                writer.qpos[:] = vectors[fmt.STATE]
                writer.qvel[:] = velocity
                writer.action[:] = vectors[fmt.ACTION]
                task = ''
                if row.get('tasks'):
                    task = row['tasks'][0]
                elif 'task_index' in rows and len(rows):
                    task = task_of.get(int(rows['task_index'].iloc[0]), '')
                attributes = {'sim': False, 'task': str(task), 'robot': str(info.get('robot_type') or ''),
                              'camera_names': [key[len(fmt.IMAGE_PREFIX):] for key in cameras],
                              'control_rate_hz': fps, 'success': True, 'seed': -1, 'episode_index': index,
                              'source': f'{root} episode {index}'}
                if state_names is not None:
                    attributes['vector_names'] = state_names
                if action_names is not None:
                    attributes['action_names'] = action_names
                writer.set_attributes(attributes)
                writer.commit()
            except BaseException:
                writer.abort()
                raise
        (partial / IMPORT_RECORD).write_text(json.dumps({'source': str(root.resolve()), 'episodes': len(episodes),
                                                         'total_frames': int(sum(int(r['length']) for r in episodes))}))
        if output_dir.exists():
            shutil.rmtree(output_dir)
        os.replace(partial, output_dir)
    finally:
        shutil.rmtree(partial, ignore_errors=True)
    return output_dir


def training_data_dir(data_dir: Path, work_dir: Path) -> Path:
    """The folder of HDF5 episodes to train on: data_dir itself, or for a LeRobotDataset
    folder (meta/info.json) its import under work_dir/lerobot_import, made once and reused
    while it is complete and from the same source."""
    data_dir = Path(data_dir)
    if not fmt.is_lerobot_dataset(data_dir):
        return data_dir
    target = Path(work_dir) / 'lerobot_import'
    record = target / IMPORT_RECORD

    def done() -> bool:
        try:
            return json.loads(record.read_text()).get('source') == str(data_dir.resolve())
        except (OSError, ValueError):
            return False

    if done():
        return target
    if int(os.environ.get('RANK', '0')) != 0:  # DDP: rank 0 imports, the others wait for it
        deadline = time.monotonic() + IMPORT_WAIT_S
        while not done():
            if time.monotonic() > deadline:
                raise LeRobotImportError(f'{data_dir}: rank 0 did not finish importing into {target} '
                                         f'within {IMPORT_WAIT_S:.0f} s')
            time.sleep(1.0)
        return target
    return import_lerobot_dataset(data_dir, target)
