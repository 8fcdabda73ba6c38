"""The LeRobotDataset v3.0 export: every file and field LeRobot 0.4's reader opens, checked
without lerobot (meta/info.json, stats.json, tasks.parquet, episodes parquet, data parquet,
per-camera mp4 with from/to timestamps), and width checks between data and names."""

import json

import h5py
import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest

from act_training.conversion import ConversionConfig, convert_episodes
from act_training.conversion import lerobot_format as fmt
from act_training.conversion.lerobot_export import LeRobotExportError, export_lerobot_dataset
from conversion_synthetic_bags import ROBOT, write_bag


@pytest.fixture(scope='module')
def exported(tmp_path_factory):
    """Three converted episodes exported with small file-size settings, so data and video
    files hold several episodes and a second file starts."""
    tmp_path = tmp_path_factory.mktemp('lerobot')
    bags = [write_bag(tmp_path / 'bags' / f'episode_{i}', index=i, duration_s=1.0, image_shape=(64, 96)).path
            for i in (2, 5, 7)]
    config = ConversionConfig(bags=tuple(bags), output_dir=tmp_path / 'hdf5', robot=ROBOT)
    report = convert_episodes(config)
    assert report.ok, [r.summary() for r in report.results]
    files = [r.output for r in report.converted]
    root = export_lerobot_dataset(files, tmp_path / 'lerobot', ROBOT, data_file_mb=0.015, video_file_mb=0.001)
    return root, files


def read_hdf5(path):
    with h5py.File(path, 'r') as episode:
        return (episode['observations/qpos'][()], episode['action'][()], episode['observations/images/top'][()])


def test_info_json_is_v30_with_features_fps_and_file_settings(exported):
    root, files = exported
    info = json.loads((root / fmt.INFO_PATH).read_text())
    lengths = [len(read_hdf5(f)[0]) for f in files]
    assert info['codebase_version'] == 'v3.0' and info['fps'] == 50 and info['robot_type'] == 'aloha_sim'
    assert info['total_episodes'] == 3 and info['total_frames'] == sum(lengths) and info['total_tasks'] == 1
    assert info['chunks_size'] == 1000 and info["data_files_size_in_mb"] == 0.015 and info["video_files_size_in_mb"] == 0.001
    assert info['data_path'] == 'data/chunk-{chunk_index:03d}/file-{file_index:03d}.parquet'
    assert info['video_path'] == 'videos/{video_key}/chunk-{chunk_index:03d}/file-{file_index:03d}.mp4'
    features = info['features']
    assert features['observation.state'] == {'dtype': 'float32', 'shape': [14], 'names': list(ROBOT.vector_names)}
    assert features['action']['shape'] == [14] and features['action']['names'] == list(ROBOT.vector_names)
    video = features['observation.images.top']
    assert video['dtype'] == 'video' and video['shape'] == [64, 96, 3] and video['info']['video.fps'] == 50
    for name in fmt.INDEX_FEATURES:
        assert features[name]['shape'] == [1]
    assert not (root / 'meta' / 'episodes.jsonl').exists() and not (root / 'meta' / 'tasks.jsonl').exists()


def test_tasks_parquet_reads_like_lerobot_reads_it(exported):
    root, _ = exported
    tasks = pd.read_parquet(root / fmt.TASKS_PATH)  # LeRobot: load_tasks
    assert list(tasks.index) == ['synthetic_task'] and tasks.loc['synthetic_task', 'task_index'] == 0
    assert tasks.iloc[0].name == 'synthetic_task'  # how LeRobotDataset turns task_index into the task


def test_episode_rows_hold_index_ranges_files_and_video_timestamps(exported):
    root, files = exported
    paths = sorted((root / fmt.EPISODES_DIR).glob('*/*.parquet'))
    assert [p.relative_to(root).as_posix() for p in paths] == ['meta/episodes/chunk-000/file-000.parquet']
    rows = pq.read_table(paths[0]).to_pylist()
    lengths = [len(read_hdf5(f)[0]) for f in files]
    starts = np.concatenate(([0], np.cumsum(lengths)[:-1]))
    key = 'observation.images.top'
    for e, row in enumerate(rows):
        assert row['episode_index'] == e and row['tasks'] == ['synthetic_task'] and row['length'] == lengths[e]
        assert (row['dataset_from_index'], row['dataset_to_index']) == (starts[e], starts[e] + lengths[e])
        assert row['meta/episodes/chunk_index'] == 0 and row['meta/episodes/file_index'] == 0
        assert row[f'stats/{key}/mean'] is not None and np.array(row[f'stats/{key}/mean']).shape == (3, 1, 1)
        assert len(row['stats/action/q99']) == 14
    # Small size settings: the first data file holds episodes 0-1, the next starts a new file.
    data_files = [(row['data/chunk_index'], row['data/file_index']) for row in rows]
    assert data_files[0] == data_files[1] == (0, 0) and data_files[2] == (0, 1)
    video_files = [(row[f'videos/{key}/chunk_index'], row[f'videos/{key}/file_index']) for row in rows]
    assert video_files[0] == (0, 0) and len(set(video_files)) >= 2
    for e, row in enumerate(rows):
        same_file = [r for r in rows[:e] if (r[f'videos/{key}/chunk_index'], r[f'videos/{key}/file_index']) == video_files[e]]
        expected_from = sum(r['length'] for r in same_file) / 50
        assert row[f'videos/{key}/from_timestamp'] == pytest.approx(expected_from)
        assert row[f'videos/{key}/to_timestamp'] == pytest.approx(expected_from + lengths[e] / 50)


def test_data_files_hold_the_episodes_rows(exported):
    root, files = exported
    rows = pq.read_table(root / fmt.EPISODES_PATH.format(chunk_index=0, file_index=0)).to_pylist()
    for e, (row, path) in enumerate(zip(rows, files)):
        table = pq.read_table(root / fmt.DATA_PATH.format(chunk_index=row['data/chunk_index'],
                                                          file_index=row['data/file_index'])).to_pandas()
        mine = table[table['episode_index'] == e]
        qpos, action, _ = read_hdf5(path)
        np.testing.assert_allclose(np.stack(mine['observation.state']), qpos, atol=1e-6)
        np.testing.assert_allclose(np.stack(mine['action']), action, atol=1e-6)
        assert list(mine['index']) == list(range(row['dataset_from_index'], row['dataset_to_index']))
        assert list(mine['frame_index']) == list(range(len(qpos)))
        np.testing.assert_allclose(mine['timestamp'], np.arange(len(qpos)) / 50, atol=1e-6)
        assert set(mine['task_index']) == {0}


def test_video_frames_sit_at_from_timestamp_plus_the_frame_time(exported):
    import av

    root, files = exported
    rows = pq.read_table(root / fmt.EPISODES_PATH.format(chunk_index=0, file_index=0)).to_pylist()
    key = 'observation.images.top'
    for row, path in zip(rows, files):
        video_path = root / fmt.VIDEO_PATH.format(video_key=key, chunk_index=row[f'videos/{key}/chunk_index'],
                                                  file_index=row[f'videos/{key}/file_index'])
        with av.open(str(video_path)) as container:
            decoded = {round(float(frame.pts * frame.time_base) * 50): frame.to_ndarray(format='rgb24')
                       for frame in container.decode(video=0)}
        _, _, images = read_hdf5(path)
        first = round(row[f'videos/{key}/from_timestamp'] * 50)
        mine = np.stack([decoded[first + k] for k in range(len(images))])
        assert np.abs(mine.astype(int) - images.astype(int)).mean() < 4  # lossy AV1, flat test frames


def test_stats_json_aggregates_every_feature(exported):
    root, files = exported
    stats = json.loads((root / fmt.STATS_PATH).read_text())
    qpos = np.concatenate([read_hdf5(f)[0] for f in files])
    for name in ('min', 'max', 'mean', 'std', 'count', 'q01', 'q50', 'q99'):
        assert name in stats['observation.state']
    np.testing.assert_allclose(stats['observation.state']['mean'], qpos.mean(axis=0), atol=1e-5)
    np.testing.assert_allclose(stats['observation.state']['std'], qpos.std(axis=0), atol=1e-5)
    assert stats['observation.state']['count'] == [len(qpos)]
    assert np.array(stats['observation.images.top']['mean']).shape == (3, 1, 1)
    assert set(stats) >= {'observation.state', 'action', 'timestamp', 'index', 'observation.images.top'}


def test_export_refuses_to_overwrite_and_leaves_no_partial_dataset(exported, tmp_path):
    root, files = exported
    with pytest.raises(LeRobotExportError, match='exists and is not empty; pass --overwrite'):
        export_lerobot_dataset(files, root, ROBOT)
    assert not any(p.name.endswith('.partial') for p in root.parent.iterdir())


def _hdf5(path, action_width=14, names=None, action_names=None):
    with h5py.File(path, 'w') as h5:
        h5['observations/qpos'] = np.zeros((5, 14))
        h5['observations/qvel'] = np.zeros((5, 14))
        h5['action'] = np.arange(5 * action_width, dtype=np.float64).reshape(5, action_width)
        h5['observations/images/top'] = np.zeros((5, 8, 8, 3), dtype=np.uint8)
        h5.attrs['vector_names'] = json.dumps(names or list(ROBOT.vector_names))
        h5.attrs['camera_names'] = json.dumps(['top'])
        h5.attrs['task'] = 't'
        if action_names is not None:
            h5.attrs['action_names'] = json.dumps(action_names)
    return path


def test_action_wider_than_its_names_is_an_error_naming_the_field(tmp_path):
    path = _hdf5(tmp_path / 'episode_0.hdf5', action_width=16)
    with pytest.raises(LeRobotExportError, match=r'episode_0.hdf5: /action: 16 entries per step but attribute '
                                                 r'vector_names has 14 names'):
        export_lerobot_dataset([path], tmp_path / 'out', ROBOT)
    assert not (tmp_path / 'out').exists()


def test_state_width_mismatch_is_an_error_naming_the_field(tmp_path):
    path = _hdf5(tmp_path / 'episode_0.hdf5', names=list(ROBOT.vector_names)[:12])
    with pytest.raises(LeRobotExportError, match=r'/observations/qpos: 14 entries per step but attribute vector_names has 12'):
        export_lerobot_dataset([path], tmp_path / 'out', ROBOT)


def test_action_is_exported_with_its_real_width_and_names(tmp_path):
    names = list(ROBOT.vector_names) + ['base_linear', 'base_angular']
    path = _hdf5(tmp_path / 'episode_0.hdf5', action_width=16, action_names=names)
    root = export_lerobot_dataset([path], tmp_path / 'out', ROBOT)
    info = json.loads((root / fmt.INFO_PATH).read_text())
    assert info['features']['action'] == {'dtype': 'float32', 'shape': [16], 'names': names}
    table = pq.read_table(root / fmt.DATA_PATH.format(chunk_index=0, file_index=0)).to_pydict()
    np.testing.assert_array_equal(np.array(table['action']), np.arange(80).reshape(5, 16))


def test_convert_with_lerobot_dir_writes_v30(tmp_path):
    bag = write_bag(tmp_path / 'bags' / 'episode_0', duration_s=0.5, image_shape=(16, 16)).path
    config = ConversionConfig(bags=(bag,), output_dir=tmp_path / 'hdf5', robot=ROBOT, lerobot_dir=tmp_path / 'lr')
    assert convert_episodes(config).ok
    assert json.loads((tmp_path / 'lr' / fmt.INFO_PATH).read_text())['codebase_version'] == 'v3.0'


def test_an_aloha2_jpeg_episode_without_names_exports_with_the_aloha_names(tmp_path):
    from act_training.data.episodes import ALOHA_VECTOR_NAMES
    from act_training.data.jpeg_rows import encode_frame, pad_rows

    frames = np.zeros((6, 16, 24, 3), dtype=np.uint8)
    frames[:, :, :, 1] = np.arange(6)[:, None, None] * 40
    rows, lengths = pad_rows([encode_frame(frame, quality=95) for frame in frames])
    path = tmp_path / 'episode_0.hdf5'
    with h5py.File(path, 'w') as h5:
        h5['observations/qpos'] = np.ones((6, 14))
        h5['action'] = np.ones((6, 14)) * 2
        h5.create_dataset('observations/images/top', data=rows)
        h5['compress_len'] = lengths[None].astype(np.float32)
        h5.attrs['compress'] = True
    root = export_lerobot_dataset([path], tmp_path / 'out', ROBOT)
    info = json.loads((root / fmt.INFO_PATH).read_text())
    assert info['features']['observation.state']['names'] == list(ALOHA_VECTOR_NAMES)
    assert info['features']['observation.images.top']['shape'] == [16, 24, 3]
    assert 'observation.velocity' not in info['features']
    import av

    with av.open(str(root / fmt.VIDEO_PATH.format(video_key='observation.images.top', chunk_index=0, file_index=0))) as video:
        decoded = np.stack([frame.to_ndarray(format='rgb24') for frame in video.decode(video=0)])
    assert np.abs(decoded[..., 1].astype(int).mean(axis=(1, 2)) - np.arange(6) * 40).max() < 6


def test_export_leaves_the_callers_scheduling_policy_as_it_was(tmp_path):
    """Run as root, SVT-AV1 turns the thread that opens the encoder into SCHED_FIFO 99, which
    every process started afterwards from that thread inherited (ROS nodes included)."""
    import os
    import subprocess
    import sys

    before = os.sched_getscheduler(0), os.sched_getparam(0)
    bag = write_bag(tmp_path / 'bags' / 'episode_0', index=0, duration_s=0.5, image_shape=(48, 64)).path
    report = convert_episodes(ConversionConfig(bags=(bag,), output_dir=tmp_path / 'hdf5', robot=ROBOT))
    export_lerobot_dataset([r.output for r in report.converted], tmp_path / 'lerobot', ROBOT)
    assert (os.sched_getscheduler(0), os.sched_getparam(0)) == before
    child = subprocess.run([sys.executable, '-c', 'import os; print(os.sched_getscheduler(0))'],
                           capture_output=True, text=True, check=True)
    assert int(child.stdout) == before[0]


def test_the_scheduling_guard_restores_a_policy_changed_inside_it():
    import os

    from act_training.conversion.lerobot_export import _keep_scheduling_policy

    before = os.sched_getscheduler(0), os.sched_getparam(0)
    try:
        with _keep_scheduling_policy():
            os.sched_setscheduler(0, os.SCHED_FIFO, os.sched_param(1))
    except PermissionError:
        pytest.skip('changing the scheduling policy needs root or CAP_SYS_NICE')
    assert (os.sched_getscheduler(0), os.sched_getparam(0)) == before
