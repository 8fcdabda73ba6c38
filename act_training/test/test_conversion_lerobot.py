"""The LeRobot export (codebase v2.1): meta, parquet and AV1 videos with the episode's data."""

import json

import numpy as np
import pyarrow.parquet as pq
import pytest

from act_training.conversion import ConversionConfig, convert_episodes
from act_training.conversion.lerobot_export import LeRobotExportError, export_lerobot_dataset
from conversion_synthetic_bags import ROBOT, write_bag


def test_lerobot_dataset_holds_the_converted_episodes(tmp_path):
    bags = [write_bag(tmp_path / 'bags' / f'episode_{i}', index=i, duration_s=1.0, image_shape=(64, 96)).path
            for i in (2, 5)]
    config = ConversionConfig(bags=tuple(bags), output_dir=tmp_path / 'hdf5', robot=ROBOT, lerobot_dir=tmp_path / 'lerobot')
    report = convert_episodes(config)
    assert report.ok, [r.summary() for r in report.results]
    root = tmp_path / 'lerobot'
    info = json.loads((root / 'meta' / 'info.json').read_text())
    lengths = [r.frames for r in report.converted]
    assert info['codebase_version'] == 'v2.1' and info['fps'] == 50 and info['robot_type'] == 'aloha_sim'
    assert info['total_episodes'] == 2 and info['total_frames'] == sum(lengths) and info['total_videos'] == 2
    assert info['features']['observation.state']['names'] == list(ROBOT.vector_names)
    assert info['features']['observation.images.top']['shape'] == [64, 96, 3]
    episodes = [json.loads(line) for line in (root / 'meta' / 'episodes.jsonl').read_text().splitlines()]
    assert episodes == [{'episode_index': i, 'tasks': ['synthetic_task'], 'length': n} for i, n in enumerate(lengths)]
    assert (root / 'meta' / 'tasks.jsonl').read_text().strip() == json.dumps({'task_index': 0, 'task': 'synthetic_task'})
    stats = [json.loads(line)['stats'] for line in (root / 'meta' / 'episodes_stats.jsonl').read_text().splitlines()]
    assert np.array(stats[0]['observation.images.top']['mean']).shape == (3, 1, 1)
    assert len(stats[1]['action']['mean']) == 14 and stats[1]['index']['min'] == [lengths[0]]

    import h5py

    table = pq.read_table(root / 'data' / 'chunk-000' / 'episode_000001.parquet').to_pydict()
    with h5py.File(report.converted[1].output, 'r') as episode:
        np.testing.assert_allclose(np.array(table['action']), episode['action'][()], atol=1e-6)
        np.testing.assert_allclose(np.array(table['observation.state']), episode['observations/qpos'][()], atol=1e-6)
        images = episode['observations/images/top'][()]
    assert table['index'][0] == lengths[0] and table['episode_index'] == [1] * lengths[1]
    np.testing.assert_allclose(table['timestamp'], np.arange(lengths[1]) / 50, atol=1e-6)

    import av

    with av.open(str(root / 'videos' / 'chunk-000' / 'observation.images.top' / 'episode_000001.mp4')) as video:
        frames = [frame.to_ndarray(format='rgb24') for frame in video.decode(video=0)]
    assert len(frames) == lengths[1]
    assert np.abs(np.stack(frames).astype(int) - images.astype(int)).mean() < 4  # lossy AV1, flat test frames

    with pytest.raises(LeRobotExportError, match='exists and is not empty; pass --overwrite'):
        export_lerobot_dataset([r.output for r in report.converted], root, ROBOT)
