"""Closed loop: `act eval` drives act_sim's sim_node (its own process) with the policy node
over ROS, and reports. Checks that the loop runs end to end, not the success value (a
checkpoint trained for seconds on synthetic data does not solve the task)."""

import json
import os
import subprocess
import sys
from pathlib import Path

import imageio.v2 as imageio
import pytest

from act_common.robot_config import load_robot_config
from policy_checkpoints import train_checkpoint
from policy_harness import ROBOT_CONFIG

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
    assert 'success 0/2' in run.stdout or 'success 1/2' in run.stdout or 'success 2/2' in run.stdout, run.stdout

    report = json.loads((output / 'transfer_cube_results.json').read_text())
    assert report['episodes_run'] == 2 and report['seeds'] == [7, 8] and report['task'] == 'transfer_cube'
    assert 0.0 <= report['success_rate'] <= 1.0 and report['max_max_reward'] >= report['mean_max_reward'] >= 0.0
    for episode in report['per_episode']:
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
