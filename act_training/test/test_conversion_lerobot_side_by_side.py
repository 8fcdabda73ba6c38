"""Our LeRobotDataset v3.0 export, opened by LeRobot 0.4.x's own LeRobotDataset, matches
the source HDF5 episodes: frames, states, actions, episode boundaries, delta_timestamps.

LeRobot 0.4 needs torch < 2.11, so it lives in its own venv (DEVELOPERS.md):
    python3.11 -m venv /work/main/.venv-lerobot04 && /work/main/.venv-lerobot04/bin/pip install 'lerobot==0.4.*'
The test runs lerobot_side_by_side.py with that interpreter (ACT_LEROBOT04_PYTHON overrides
the path) and skips, saying why, where it is missing.
"""

import json
import os
import subprocess
from pathlib import Path

import h5py
import numpy as np
import pytest

from act_training.conversion import ConversionConfig, convert_episodes
from conversion_synthetic_bags import ROBOT, write_bag

LEROBOT_PYTHON = Path(os.environ.get('ACT_LEROBOT04_PYTHON', '/work/main/.venv-lerobot04/bin/python'))
HELPER = Path(__file__).with_name('lerobot_side_by_side.py')


def lerobot_version():
    if not LEROBOT_PYTHON.is_file():
        return None
    done = subprocess.run([str(LEROBOT_PYTHON), '-c', 'import lerobot, importlib.metadata as m; print(m.version("lerobot"))'],
                          capture_output=True, text=True, timeout=120)
    return done.stdout.strip() if done.returncode == 0 else None


VERSION = lerobot_version()
pytestmark = [
    pytest.mark.skipif(VERSION is None or not VERSION.startswith('0.4'),
                       reason=f'needs lerobot 0.4.x at {LEROBOT_PYTHON} (found: {VERSION}); see the module doc'),
    pytest.mark.slow,  # LeRobot 0.4 in its own venv and process
]


def test_lerobot_04_loads_our_export_and_it_matches_the_hdf5(tmp_path):
    bags = [write_bag(tmp_path / 'bags' / f'episode_{i}', index=i, duration_s=1.0, image_shape=(48, 64)).path
            for i in (0, 3)]
    root = tmp_path / 'lerobot'
    report = convert_episodes(ConversionConfig(bags=tuple(bags), output_dir=tmp_path / 'hdf5', robot=ROBOT, lerobot_dir=root))
    assert report.ok, [r.summary() for r in report.results]
    qpos, action, images, lengths = [], [], [], []
    for result in report.converted:
        with h5py.File(result.output, 'r') as episode:
            qpos.append(episode['observations/qpos'][()])
            action.append(episode['action'][()])
            images.append(episode['observations/images/top'][()])
            lengths.append(len(qpos[-1]))
    reference = tmp_path / 'reference.npz'
    np.savez(reference, qpos=np.concatenate(qpos), action=np.concatenate(action), images=np.concatenate(images),
             lengths=np.array(lengths))
    env = {key: value for key, value in os.environ.items() if not key.startswith(('PYTHON', 'AMENT', 'LD_LIBRARY'))}
    env.update(HF_HUB_OFFLINE='1', HF_DATASETS_OFFLINE='1', HF_HOME=str(tmp_path / 'hf'))
    done = subprocess.run([str(LEROBOT_PYTHON), str(HELPER), str(root), str(reference), 'top'],
                          capture_output=True, text=True, timeout=600, env=env)
    lines = [line for line in done.stdout.splitlines() if line.startswith('RESULT ')]
    assert done.returncode == 0 and lines, done.stdout[-3000:] + done.stderr[-5000:]
    result = json.loads(lines[-1][len('RESULT '):])
    starts = np.concatenate(([0], np.cumsum(lengths)[:-1]))
    assert result['num_episodes'] == 2 and result['num_frames'] == sum(lengths) and result['fps'] == 50
    assert result['boundaries'] == [[int(s), int(s + n)] for s, n in zip(starts, lengths)]
    assert result['episode_ok'] and result['task'] == 'synthetic_task'
    assert result['state_err'] < 1e-6 and result['action_err'] < 1e-6  # float32 of the float64 source
    assert result['image_mean_abs_err'] < 4  # lossy AV1 of flat frames, 0..255 scale
    assert len(result['delta_checks']) == 4
    for check in result['delta_checks']:
        assert check['action_err'] < 1e-6 and check['action_pad_ok'] and check['state_pad_ok'], check
        assert check['state_prev_err'] < 1e-6 and check['image_prev_err'] < 4, check
