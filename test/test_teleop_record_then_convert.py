"""A bag recorded by RecorderNode from another process converts with `act convert`."""

import json
import subprocess
import sys
import threading
import time

import h5py
import numpy as np
import pytest
import rclpy
from rclpy.context import Context
from rclpy.executors import SingleThreadedExecutor

from act_common.config_paths import robot_config_path
from act_teleop.recorder_node import RecorderNode

# Recorder and publisher processes, then `act convert` in another.
pytestmark = pytest.mark.slow

ROBOT = str(robot_config_path('aloha_sim'))


@pytest.mark.timeout(120)
def test_recorded_bag_converts_to_the_act_layout(tmp_path, peer_env):
    context = Context()
    rclpy.init(context=context)
    recorder = RecorderNode(context=context, cli_args=[
        '--ros-args', '-p', f'robot_config:={ROBOT}', '-p', f'output_dir:={tmp_path / "bags"}', '-p', 'cameras:=[top]'])
    executor = SingleThreadedExecutor(context=context)
    executor.add_node(recorder)
    spinner = threading.Thread(target=executor.spin, daemon=True)
    spinner.start()
    try:
        # As `act record --sim` does: the sim's render settings go with the episode.
        started = recorder.start_episode('synthetic_task', -1, 3, render_settings={'shadow_map_size': 512, 'multisamples': 0})
        assert started.camera_sizes == {'top': [480, 640]}  # the robot config's
        published = subprocess.run(
            [sys.executable, '-m', 'act_teleop.synthetic_streams', '--robot-config', ROBOT, '--cameras', 'top',
             '--height', '48', '--width', '64', '--duration', '2'], capture_output=True, text=True, timeout=90, env=peer_env)
        assert published.returncode == 0, published.stdout + published.stderr
        time.sleep(0.3)
        record = recorder.stop_episode(success=True)
    finally:
        executor.shutdown()
        spinner.join(timeout=5)
        recorder.destroy_node()
        rclpy.shutdown(context=context)
    counts = json.loads(published.stdout.strip().splitlines()[-1])['published']
    assert record.message_count == sum(counts.values()) and record.dropped_count == 0

    convert = [sys.executable, '-m', 'act_tools.cli.main', 'convert', str(tmp_path / 'bags'), '--output', str(tmp_path / 'hdf5')]
    done = subprocess.run(convert, capture_output=True, text=True, timeout=120, env=peer_env)
    assert done.returncode == 0, done.stdout + done.stderr
    assert '1 converted' in done.stdout
    with h5py.File(tmp_path / 'hdf5' / 'episode_0.hdf5', 'r') as episode:
        T = episode['/action'].shape[0]
        assert 90 <= T <= 101  # 2 s of 50 Hz commands, the streams' common span
        assert episode['/observations/images/top'].shape == (T, 48, 64, 3)
        assert episode['/observations/qpos'].shape == (T, 14)
        assert episode.attrs['task'] == 'synthetic_task' and episode.attrs['seed'] == 3 and bool(episode.attrs['success'])
        assert np.all(np.isfinite(episode['/observations/qpos'][()]))
        assert json.loads(episode.attrs['render_settings']) == {'shadow_map_size': 512, 'multisamples': 0}
    again = subprocess.run(convert, capture_output=True, text=True, timeout=120, env=peer_env)
    assert 'exists; pass --overwrite' in again.stdout
