"""`act train --data` on other layouts: a LeRobotDataset v3.0 folder (ours, and one written
by LeRobot 0.4's own writer where its venv exists) and ALOHA 2 JPEG-row HDF5 episodes."""

import json
import os
import subprocess
import sys
from pathlib import Path

import h5py
import numpy as np
import pytest
from training_episodes import NAMES, TINY_YAML, episode_arrays, write_episodes

from act_common.robot_config import load_robot_config
from act_training.conversion import lerobot_format as fmt
from act_training.conversion.lerobot_export import export_lerobot_dataset
from act_training.conversion.lerobot_import import LeRobotImportError, import_lerobot_dataset
from act_training.data.episodes import EpisodeDataError, inspect_episode, read_frames
from act_training.data.jpeg_rows import encode_frame, pad_rows

ROBOT = load_robot_config(Path(__file__).resolve().parents[2] / 'act_common' / 'config' / 'robots' / 'aloha_sim.yaml')
LEROBOT_PYTHON = Path(os.environ.get('ACT_LEROBOT04_PYTHON', '/work/main/.venv-lerobot04/bin/python'))


def act(*argv) -> subprocess.CompletedProcess:
    """The `act` command as a user starts it (act_tools is a package above this one)."""
    return subprocess.run([sys.executable, '-m', 'act_tools.cli.main', *argv], capture_output=True, text=True,
                          timeout=300, env={**os.environ, 'PYTHONUNBUFFERED': '1'})


def train_cli(tmp_path, data, steps=2):
    config = tmp_path / 'tiny.yaml'
    config.write_text(TINY_YAML)
    run = tmp_path / 'run'
    result = act('train', '--data', str(data), '--output', str(run), '--config', str(config), '--device', 'cpu',
                 '--set', f'train.steps={steps}')
    assert result.returncode == 0, result.stderr
    assert f'act train: {steps} steps' in result.stdout
    return run


def our_v30_dataset(tmp_path, count=3, length=12):
    hdf5 = write_episodes(tmp_path / 'hdf5', count=count, length=length, height=32, width=32)
    return export_lerobot_dataset(sorted(hdf5.glob('*.hdf5')), tmp_path / 'lerobot', ROBOT), hdf5


def test_v30_import_maps_state_action_and_frames_onto_our_layout(tmp_path):
    root, hdf5 = our_v30_dataset(tmp_path)
    imported = import_lerobot_dataset(root, tmp_path / 'imported')
    for index in range(3):
        source, mine = h5py.File(hdf5 / f'episode_{index}.hdf5', 'r'), h5py.File(imported / f'episode_{index}.hdf5', 'r')
        with source, mine:
            np.testing.assert_allclose(mine['observations/qpos'][()], source['observations/qpos'][()], atol=1e-6)
            np.testing.assert_allclose(mine['action'][()], source['action'][()], atol=1e-6)
            np.testing.assert_allclose(mine['observations/qvel'][()], source['observations/qvel'][()], atol=1e-6)
            error = np.abs(mine['observations/images/top'][()].astype(int) - source['observations/images/top'][()]).mean()
            assert error < 6  # lossy AV1 of a moving white square
            assert json.loads(mine.attrs['vector_names']) == NAMES and mine.attrs['control_rate_hz'] == 50
            assert mine.attrs['task'] == 'synthetic' and json.loads(mine.attrs['camera_names']) == ['top']


@pytest.mark.slow
def test_act_train_accepts_a_v30_folder_and_decodes_it_once(tmp_path):
    root, _ = our_v30_dataset(tmp_path)
    run = train_cli(tmp_path, root)
    record = json.loads((run / 'lerobot_import' / 'lerobot_import.json').read_text())
    assert record['episodes'] == 3 and record['total_frames'] == 36
    stamp = (run / 'lerobot_import' / 'episode_0.hdf5').stat().st_mtime_ns
    assert act('train', '--data', str(root), '--output', str(run), '--resume', '--set', 'train.steps=4').returncode == 0
    assert (run / 'lerobot_import' / 'episode_0.hdf5').stat().st_mtime_ns == stamp  # reused, not decoded again


@pytest.mark.slow  # act train in another process
def test_a_v21_folder_and_a_mismatched_column_are_errors_naming_file_and_field(tmp_path):
    root, _ = our_v30_dataset(tmp_path, count=1)
    info = json.loads((root / fmt.INFO_PATH).read_text())
    info['codebase_version'] = 'v2.1'
    (root / fmt.INFO_PATH).write_text(json.dumps(info))
    with pytest.raises(LeRobotImportError, match=r"meta/info.json: codebase_version is 'v2.1'"):
        import_lerobot_dataset(root, tmp_path / 'imported')
    info['codebase_version'] = 'v3.0'
    info['features']['action']['shape'] = [5]
    info['features']['action']['names'] = NAMES + ['extra']
    (root / fmt.INFO_PATH).write_text(json.dumps(info))
    with pytest.raises(LeRobotImportError, match=r'file-000.parquet: column action: 4 entries per frame but .*'
                                                 r'features.action.shape is \[5\]'):
        import_lerobot_dataset(root, tmp_path / 'imported')
    assert not (tmp_path / 'imported').exists()
    config = tmp_path / 'tiny.yaml'
    config.write_text(TINY_YAML)
    result = act('train', '--data', str(root), '--output', str(tmp_path / 'run'), '--config', str(config))
    assert result.returncode == 1 and 'features.action.shape is [5]' in result.stderr


@pytest.mark.slow
@pytest.mark.skipif(not LEROBOT_PYTHON.is_file(), reason=f'needs lerobot 0.4.x at {LEROBOT_PYTHON} '
                    '(python3.11 -m venv /work/main/.venv-lerobot04 && .../pip install "lerobot==0.4.*")')
def test_a_dataset_written_by_lerobots_own_writer_trains(tmp_path):
    root = tmp_path / 'written_by_lerobot'
    env = {key: value for key, value in os.environ.items() if not key.startswith(('PYTHON', 'AMENT', 'LD_LIBRARY'))}
    env.update(HF_HUB_OFFLINE='1', HF_DATASETS_OFFLINE='1', HF_HOME=str(tmp_path / 'hf'), SVT_LOG='1')
    done = subprocess.run([str(LEROBOT_PYTHON), str(Path(__file__).with_name('lerobot_write_dataset.py')), str(root), '3', '16'],
                          capture_output=True, text=True, timeout=600, env=env)
    assert done.returncode == 0 and 'RESULT' in done.stdout, done.stderr[-3000:]
    run = train_cli(tmp_path, root)
    with h5py.File(run / 'lerobot_import' / 'episode_2.hdf5', 'r') as episode:
        steps = np.arange(17)[:, None]
        trajectory = np.sin(0.25 * steps * np.arange(1, 5) + 0.7 * 2).astype(np.float32)
        np.testing.assert_allclose(episode['observations/qpos'][()], trajectory[:-1], atol=1e-6)
        np.testing.assert_allclose(episode['action'][()], trajectory[1:], atol=1e-6)
        frames = episode['observations/images/top'][()]
        assert frames.shape == (16, 32, 32, 3) and frames[0, 15, 3].min() > 200 and frames[-1, 15, 3].max() < 60
        assert episode.attrs['task'] == 'move the square'


def write_aloha2_episode(path, seed=0, length=12, size=32):
    """The ALOHA 2 recorder's layout: JPEG rows padded to the longest, compress_len, compress=True."""
    arrays = episode_arrays(length=length, seed=seed, height=size, width=size)
    frames = arrays.pop('/observations/images/top')
    rows, lengths = pad_rows([encode_frame(frame, quality=95) for frame in frames])
    with h5py.File(path, 'w') as h5:
        for name, values in arrays.items():
            h5[name] = values
        h5.create_dataset('/observations/images/top', data=rows, chunks=(1, rows.shape[1]))
        h5['/compress_len'] = lengths[None, :].astype(np.float32)
        h5.attrs['sim'] = False
        h5.attrs['compress'] = True
    return frames


def test_aloha2_jpeg_rows_are_read_as_frames(tmp_path):
    frames = write_aloha2_episode(tmp_path / 'episode_0.hdf5')
    info = inspect_episode(tmp_path / 'episode_0.hdf5')
    assert info.cameras == {'top': (32, 32)} and info.length == 12
    with h5py.File(tmp_path / 'episode_0.hdf5', 'r') as h5:
        decoded = read_frames(h5, '/observations/images/top', 0, 12)
    assert decoded.shape == frames.shape and np.abs(decoded.astype(int) - frames).mean() < 3


def test_aloha2_channel_order_matches_opencv_imencode_of_the_frame(tmp_path):
    # cv2.imencode takes the frame as BGR: a pure-red RGB frame becomes a JPEG whose own red is 0.
    from PIL import Image
    import io

    red = np.zeros((16, 16, 3), dtype=np.uint8)
    red[..., 0] = 255
    jpeg = np.asarray(Image.open(io.BytesIO(encode_frame(red))).convert('RGB'))
    assert jpeg[..., 2].mean() > 240 and jpeg[..., 0].mean() < 15


@pytest.mark.slow
def test_an_aloha2_compressed_hdf5_trains(tmp_path):
    data = tmp_path / 'aloha2'
    data.mkdir()
    for index in range(3):
        write_aloha2_episode(data / f'episode_{index}.hdf5', seed=index)
    train_cli(tmp_path, data)


def test_byte_rows_without_the_compress_attribute_are_an_error(tmp_path):
    write_aloha2_episode(tmp_path / 'episode_0.hdf5')
    with h5py.File(tmp_path / 'episode_0.hdf5', 'a') as h5:
        del h5.attrs['compress']
    with pytest.raises(EpisodeDataError, match=r"episode_0.hdf5: /observations/images/top: \(T, L\) rows of bytes but "
                                               r"the file has no true `compress` attribute"):
        inspect_episode(tmp_path / 'episode_0.hdf5')


def test_a_corrupt_jpeg_row_names_file_camera_and_frame(tmp_path):
    write_aloha2_episode(tmp_path / 'episode_0.hdf5')
    with h5py.File(tmp_path / 'episode_0.hdf5', 'a') as h5:
        h5['/observations/images/top'][0, :20] = 7
    with pytest.raises(EpisodeDataError, match=r'episode_0.hdf5: /observations/images/top: frame 0: not a decodable JPEG'):
        inspect_episode(tmp_path / 'episode_0.hdf5')
