"""`act eval --mode lockstep` commands what the plain-Python lockstep loop commands.

One checkpoint (act_training's real trainer, a few steps on synthetic episodes around the
simulated robot's home pose), one seed, the same settings (temporal ensembling oldest
first with m = 0.5, a query every 3 ticks, chunk size 10, fp32):
- the ROS path: act_tools.evaluation in lockstep: sim_node in its own process at
  real_time_factor 0, the policy node in this process (chunk buffer, ensembler, control
  loop, inference worker, command filter), commands recorded by the trajectory trace;
- the reference: act_tools.lockstep_rollout.run_episode against AlohaSim, no ROS.
Both must command the same targets, tick for tick. A different ensembling order or query
period changes the commands by far more than the tolerance (checked here too), so the
test fails if either path departs from the other.

Also: the render settings of the training episodes travel into the checkpoint and
become the sim's settings in evaluation.
"""

import json
from pathlib import Path

import h5py
import numpy as np
import pytest

from act_common.config_paths import robot_config_path
from act_common.robot_config import load_robot_config

# A trained checkpoint evaluated by `act eval` against sim_node in its own process.
pytestmark = pytest.mark.slow

SEED = 100_003
STEPS = 30
CHUNK = 10
PERIOD_TICKS = 3
M = 0.5
# The training episodes say they were rendered with a 256 shadow map: evaluation must
# render so too (the default is no shadows).
RECORDED_RENDER = {'shadow_map_size': 256, 'multisamples': 0}


def _write_episodes(folder: Path, names: list[str], count: int = 3, length: int = 30) -> Path:
    """Smooth motions around the sim's home pose (every command stays within the follower's
    max_step of the last, so the policy node's command filter lets the targets through)."""
    from act_sim.scene import HOME_ARM_POSE, HOME_FINGER_M
    from act_sim.scene import FOLLOWER_FINGER

    home = np.concatenate([HOME_ARM_POSE, [FOLLOWER_FINGER.normalize(HOME_FINGER_M)]])  # (7,)
    folder.mkdir(parents=True, exist_ok=True)
    for index in range(count):
        t = np.arange(length + 1)[:, None]  # (T + 1, 1)
        arm = home + 0.05 * np.sin(0.2 * t + index)  # (T + 1, 7)
        trajectory = np.tile(arm, (1, 2))  # (T + 1, 14)
        with h5py.File(folder / f'episode_{index}.hdf5', 'w') as h5:
            h5['/observations/qpos'] = trajectory[:-1]
            h5['/observations/qvel'] = np.diff(trajectory, axis=0)
            h5['/action'] = trajectory[1:]
            frames = np.zeros((length, 48, 64, 3), dtype=np.uint8)
            for step in range(length):
                frames[step, 10:18, step:step + 8] = 255
            h5['/observations/images/top'] = frames
            h5.attrs['sim'] = True
            h5.attrs['vector_names'] = json.dumps(names)
            h5.attrs['camera_names'] = json.dumps(['top'])
            h5.attrs['control_rate_hz'] = 50.0
            h5.attrs['task'] = 'transfer_cube'
            h5.attrs['robot'] = 'aloha_sim'
            h5.attrs['render_settings'] = json.dumps(RECORDED_RENDER)
    return folder


@pytest.fixture(scope='module')
def checkpoint(tmp_path_factory) -> Path:
    from act_training.config import ModelConfig, TrainConfig
    from act_training.train.trainer import train

    workdir = tmp_path_factory.mktemp('lockstep')
    robot = load_robot_config(robot_config_path('aloha_sim'))
    data = _write_episodes(workdir / 'episodes', list(robot.vector_names))
    model = ModelConfig(camera_names=('top',), image_height=48, image_width=64, chunk_size=CHUNK, dim_model=32,
                        n_heads=4, dim_feedforward=64, n_encoder_layers=1, n_decoder_layers=1,
                        n_vae_encoder_layers=1, latent_dim=8, dropout=0.0, backbone_weights='none')
    config = TrainConfig(steps=4, batch_size=2, lr=1e-4, backbone_lr=1e-4, val_fraction=0.0, val_every=0,
                         checkpoint_every=4, log_every=4, device='cpu', num_workers=0, tensorboard=False)
    return train(model, config, data, workdir / 'run', progress=None).last_checkpoint


def test_render_settings_travel_from_the_episodes_to_the_evaluation(checkpoint):
    from act_tools.evaluation import eval_render_settings
    from act_training.train.checkpoint import load_checkpoint_dataset

    dataset = load_checkpoint_dataset(checkpoint)
    assert dataset.render_settings == RECORDED_RENDER
    assert dataset.camera_sizes == {'top': (48, 64)}
    warnings = []
    assert eval_render_settings(checkpoint, {}, warnings.append) == RECORDED_RENDER and warnings == []
    # Told to differ: it does, and says so.
    told = eval_render_settings(checkpoint, {'shadow_map_size': 0}, warnings.append)
    assert told == {'shadow_map_size': 0, 'multisamples': 0}
    assert len(warnings) == 1 and 'shadow_map_size' in warnings[0] and '256' in warnings[0]


def _rollout(checkpoint: Path, weighting, period_ticks: int) -> np.ndarray:
    """run_episode's commands for SEED. (STEPS, 14)"""
    from act_tools.lockstep_rollout import RolloutConfig, run_episode
    from act_sim.rendering import CameraRenderer, CameraSpec, RenderSettings
    from act_sim.sim import AlohaSim
    from act_training.policy import ActPolicy

    policy = ActPolicy.load(str(checkpoint), device='cpu', precision='fp32')
    sim = AlohaSim('transfer_cube')
    renderer = CameraRenderer(sim.model, [CameraSpec('top', 480, 640)], RenderSettings(**RECORDED_RENDER))
    try:
        config = RolloutConfig(query_period_ticks=period_ticks, weighting=weighting, ensemble_m=M)
        return run_episode(policy, sim, renderer, SEED, config, steps=STEPS).commands
    finally:
        renderer.close()


@pytest.mark.timeout(300)
def test_act_eval_in_lockstep_commands_what_the_plain_python_loop_commands(checkpoint, tmp_path):
    from act_tools.evaluation import EvalConfig, evaluate
    from act_tools.trajectory_trace import Trajectory
    from act_policy_node.temporal_ensembler import Weighting

    config = EvalConfig(
        checkpoint=checkpoint, task='transfer_cube', episodes=1, seed_start=SEED, episode_steps=STEPS,
        mode='lockstep', output_dir=tmp_path / 'eval', trace_episodes=1,
        policy_parameters={'ensemble_weighting': 'oldest_first', 'ensemble_m': M,
                           'query_period_ticks': PERIOD_TICKS, 'precision': 'fp32'})
    lines = []
    report = evaluate(config, progress=lines.append)
    [outcome] = report.episodes
    assert report.render_settings == RECORDED_RENDER
    assert report.to_dict()['success']['mode'] == 'lockstep'
    # Every tick was commanded from a chunk, none held: the node waited for each due chunk.
    assert outcome.policy['held_ticks'] == 0, outcome.policy
    assert outcome.policy['chunks_computed'] >= STEPS // PERIOD_TICKS
    ros = Trajectory.load(Path(outcome.trace)).command
    assert len(ros) >= STEPS, f'{len(ros)} commands traced'
    ros = ros[:STEPS]  # (STEPS, 14); a command after the last step may follow

    plain = _rollout(checkpoint, Weighting.OLDEST_FIRST, PERIOD_TICKS)
    np.testing.assert_allclose(ros, plain, rtol=0, atol=1e-6)

    # The comparison can fail: the same loop ensembling in the other order, or querying
    # on another period, commands measurably different targets.
    for weighting, period in ((Weighting.NEWEST_FIRST, PERIOD_TICKS), (Weighting.OLDEST_FIRST, PERIOD_TICKS - 1)):
        other = _rollout(checkpoint, weighting, period)
        assert np.abs(other - ros).max() > 1e-4, (weighting, period)
