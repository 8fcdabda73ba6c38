"""Closed loop: `act eval` drives act_sim's sim_node (its own process) with the policy node
over ROS, and reports. Checks that the loop runs end to end and that the figures it
reports are the ones the episodes produced: 60 steps (1.2 s of sim time) are far too few to
lift and hand over the cube (the scripted demonstrations take about 300), so the only
correct outcome is 0/2, with its Wilson interval."""

import json
import os
import subprocess
import sys
from pathlib import Path

import imageio.v2 as imageio
import pytest

from act_common.config_paths import robot_config_path
from act_common.robot_config import load_robot_config
from act_common.success_rate import wilson_interval

# The policy node tests' checkpoint helper (real act_training checkpoints trained in seconds).
sys.path.insert(0, str(Path(__file__).resolve().parents[2] / 'act_policy_node' / 'test'))
from policy_checkpoints import train_checkpoint  # noqa: E402

# End to end: `act eval` drives sim_node in its own process.
pytestmark = pytest.mark.slow

ROBOT_CONFIG = robot_config_path('aloha_sim')

STEPS = 60


@pytest.mark.timeout(300)
def test_act_eval_runs_the_policy_against_the_sim(tmp_path):
    checkpoint = train_checkpoint(tmp_path / 'train', load_robot_config(ROBOT_CONFIG), image_size=(48, 64), steps=2)
    output, videos = tmp_path / 'eval', tmp_path / 'videos'
    act = [sys.executable, '-m', 'act_tools.cli.main']
    run = subprocess.run(act + ['eval', '--checkpoint', str(checkpoint), '--task', 'transfer_cube', '--episodes', '2',
                                '--episode-steps', str(STEPS), '--seed-start', '7', '--output', str(output),
                                '--video', str(videos)],
                         capture_output=True, text=True, timeout=280, env={**os.environ, 'PYTHONUNBUFFERED': '1'})
    assert run.returncode == 0, f'act eval failed:\n{run.stdout[-3000:]}\n{run.stderr[-3000:]}'
    assert 'success 0/2 = 0 % (95 % CI 0-66 %)' in run.stdout, run.stdout

    report = json.loads((output / 'transfer_cube_results.json').read_text())
    assert report['episodes_run'] == 2 and report['seeds'] == [7, 8] and report['task'] == 'transfer_cube'
    assert report['success_rate'] == 0.0 and report['success']['successes'] == 0
    assert (report['success']['ci95_low'], report['success']['ci95_high']) == pytest.approx(wilson_interval(0, 2))
    episode_max = [episode['episode_max_reward'] for episode in report['per_episode']]
    assert report['max_max_reward'] == max(episode_max) and report['mean_max_reward'] == pytest.approx(sum(episode_max) / 2)
    for episode in report['per_episode']:
        assert not episode['success'] and 0.0 <= episode['episode_max_reward'] < episode['max_reward']
        assert episode['steps'] >= STEPS and episode['max_reward'] == 4.0
        policy = episode['policy']
        # The policy computed chunks from the sim's images and commanded on its ticks.
        assert policy['chunks_computed'] >= 2 and policy['ticks'] >= STEPS // 2
        assert policy['held_ticks'] < policy['ticks']
        assert Path(episode['video']).is_file()
    loop = report['control_loop']
    assert loop['inference_latency_ms']['count'] == loop['chunks_computed'] > 0
    assert loop['observation_to_command_ms']['mean'] > 0
    frames = imageio.mimread(report['per_episode'][0]['video'])
    assert len(frames) >= STEPS // 2 and frames[0].shape == (240, 320, 3)
