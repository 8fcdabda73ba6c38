"""`act demo` end to end at CI size: 2 scripted episodes recorded through teleop as
rosbags, converted, 20 training steps, 1 closed-loop evaluation episode against the sim
in its own process, and the report. Checks that each stage handed the next real output."""

import json
import subprocess
from pathlib import Path

import numpy as np
import pytest

from act_common.success_rate import wilson_interval

# End to end: `act demo` records, converts, trains and evaluates in several processes.
pytestmark = pytest.mark.slow


@pytest.mark.timeout(600)
def test_act_demo_runs_every_stage_at_ci_size(tmp_path, peer_env):
    output = tmp_path / 'demo'
    command = ['act', 'demo', '--episodes', '2', '--eval-episodes', '1', '--output', str(output),
               '--set', 'train.steps=20', '--set', 'train.val_every=10', '--set', 'train.checkpoint_every=10',
               '--set', 'train.log_every=5']
    run = subprocess.run(command, env=peer_env, capture_output=True, text=True, timeout=580)
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    # The rate with its interval, episode count, seeds and mode.
    assert 'success (transfer_cube, max reward reached): ' in run.stdout and '95 % CI' in run.stdout
    assert 'realtime, seeds 100000' in run.stdout

    summary = json.loads((output / 'report' / 'summary.json').read_text())
    assert summary['recorded_episodes'] == 2 and summary['converted_episodes'] == 2
    assert sorted(p.name for p in (output / 'bags').iterdir()) == ['episode_0', 'episode_1']
    assert sorted(p.name for p in (output / 'episodes').glob('*.hdf5')) == ['episode_0.hdf5', 'episode_1.hdf5']
    assert summary['training']['steps'] == 20
    assert [point['step'] for point in summary['training_curve']] == [5, 10, 15, 20]
    assert all(np.isfinite(point['l1']) and point['l1'] > 0 for point in summary['training_curve'])
    assert (output / 'run' / 'last' / 'config.json').is_file()

    evaluation = summary['evaluation']
    assert evaluation['episodes_run'] == 1 and evaluation['seeds'] == [100000]
    # One episode of 400 steps on seed 100000, judged by TaskSpec.success (the task's
    # maximum reward reached at some step): the rate, the episode's outcome and the Wilson
    # interval of 0/1 or 1/1 must all say the same thing.
    (episode,) = evaluation['per_episode']
    assert episode['seed'] == 100000 and episode['steps'] >= evaluation['episode_steps'] == 400
    assert 0.0 <= episode['episode_max_reward'] <= episode['max_reward'] == 4.0
    assert episode['success'] == (episode['episode_max_reward'] == episode['max_reward'])
    assert summary['success_rate'] == float(episode['success'])
    success = evaluation['success']
    assert success['episodes'] == 1 and success['seeds'] == [100000] and success['mode'] == 'realtime'
    # The CPU demo executes chunks (DemoConfig.eval_ensemble_weighting), and says so with the figure.
    assert evaluation['execution'] == 'chunked execution' and success['text'].endswith(', chunked execution')
    assert evaluation['policy_parameters'] == {'ensemble_weighting': 'chunked'}
    assert success['successes'] == int(episode['success']) and success['rate'] == summary['success_rate']
    low, high = wilson_interval(success['successes'], 1)
    assert (success['ci95_low'], success['ci95_high']) == pytest.approx((low, high))
    assert (low, high) == pytest.approx((0.2065, 1.0), abs=1e-4) if episode['success'] else \
        (low, high) == pytest.approx((0.0, 0.7935), abs=1e-4)
    # One scene from recording to evaluation: the recorded render settings reach the HDF5
    # files, the checkpoint and the evaluated sim.
    import h5py

    from act_sim.rendering import RenderSettings
    from act_training.train.checkpoint import load_checkpoint_dataset

    default = RenderSettings().to_dict()
    for name in ('episode_0', 'episode_1'):
        assert json.loads((output / 'bags' / name / 'episode.json').read_text())['render_settings'] == default
        with h5py.File(output / 'episodes' / f'{name}.hdf5', 'r') as episode:
            assert json.loads(episode.attrs['render_settings']) == default
    assert load_checkpoint_dataset(output / 'run' / 'last').render_settings == default
    assert evaluation['render_settings'] == default
    loop = evaluation['control_loop']
    assert loop['ticks'] > 300 and loop['chunks_computed'] > 0  # 400 steps of 50 Hz control
    assert set(summary['stage_seconds']) == {'record', 'convert', 'train', 'eval', 'report', 'total'}

    files = summary['report_files']
    for name in ('training_curves', 'success_per_episode', 'trajectories', 'video'):
        assert Path(files[name]).parent == output / 'report', files
        assert Path(files[name]).stat().st_size > 1000, name
    trace = np.load(evaluation['per_episode'][0]['trace'])
    # The policy's commands and the followers' joint states over the whole episode (8 s).
    assert trace['command'].shape[1] == 14 and len(trace['command']) > 300
    assert trace['measured'].shape[1] == 14 and trace['measured_t'][-1] > 7.0
    assert np.isfinite(trace['command']).all()


def test_act_demo_refuses_to_mix_runs(tmp_path, peer_env):
    (tmp_path / 'demo').mkdir()
    (tmp_path / 'demo' / 'earlier.txt').write_text('an earlier run')
    run = subprocess.run(['act', 'demo', '--output', str(tmp_path / 'demo')], env=peer_env, capture_output=True,
                         text=True, timeout=120)
    assert run.returncode == 1
    assert 'already holds a run' in run.stderr and '--overwrite' in run.stderr
    assert (tmp_path / 'demo' / 'earlier.txt').read_text() == 'an earlier run'
