"""Real ACT checkpoints for the policy node tests, trained with act_training in seconds.

Episodes are written in the ACT HDF5 layout (act_training.data.episodes) with the
aloha_sim vector names and cameras, a smooth joint trajectory around the home pose and a
moving square in the camera image; `train_checkpoint` runs act_training's real trainer
on them for a few steps. The model's size decides how long inference takes: a 480x640
image through ResNet-18 takes about 100 ms on this CPU, five control ticks.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import h5py
import numpy as np

from act_common.robot_config import RobotConfig
from act_training.config import ModelConfig, TrainConfig
from act_training.train.checkpoint import MODEL_FILE
from act_training.train.trainer import train

HOME = np.array([0.0, -0.96, 1.16, 0.0, -0.3, 0.0, 0.55])  # per arm: 6 joints (rad), gripper opening


def write_episodes(folder: Path, robot: RobotConfig, cameras: tuple[str, ...], count: int = 3, length: int = 30,
                   height: int = 48, width: int = 64, vector_names: tuple[str, ...] | None = None) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    names = list(vector_names or robot.vector_names)
    for index in range(count):
        t = np.arange(length + 1)[:, None]  # (T + 1, 1)
        arm = HOME + 0.1 * np.sin(0.2 * t + index)  # (T + 1, 7)
        trajectory = np.tile(arm, (1, len(names) // 7))[:, :len(names)]  # (T + 1, D)
        with h5py.File(folder / f'episode_{index}.hdf5', 'w') as h5:
            h5['/observations/qpos'] = trajectory[:-1].astype(np.float32)
            h5['/observations/qvel'] = np.diff(trajectory, axis=0).astype(np.float32)
            h5['/action'] = trajectory[1:].astype(np.float32)
            for camera in cameras:
                frames = np.zeros((length, height, width, 3), dtype=np.uint8)
                for step in range(length):
                    x = int(step / max(1, length - 1) * (width - 8))
                    frames[step, 10:18, x:x + 8] = 255
                h5[f'/observations/images/{camera}'] = frames
            h5.attrs['sim'] = True
            h5.attrs['vector_names'] = json.dumps(names)
            h5.attrs['camera_names'] = json.dumps(list(cameras))
            h5.attrs['control_rate_hz'] = robot.control_rate_hz
            h5.attrs['task'] = 'synthetic'
            h5.attrs['robot'] = robot.name
    return folder


def train_checkpoint(workdir: Path, robot: RobotConfig, cameras: tuple[str, ...] = ('top',), *,
                     image_size: tuple[int, int] = (48, 64), chunk_size: int = 20, dim_model: int = 32,
                     vector_names: tuple[str, ...] | None = None, steps: int = 4) -> Path:
    """Trains a small real ACT checkpoint and returns its folder."""
    data = write_episodes(workdir / 'episodes', robot, cameras, vector_names=vector_names)
    model = ModelConfig(camera_names=cameras, image_height=image_size[0], image_width=image_size[1],
                        chunk_size=chunk_size, dim_model=dim_model, n_heads=4, dim_feedforward=2 * dim_model,
                        n_encoder_layers=1, n_decoder_layers=1, n_vae_encoder_layers=1, latent_dim=8,
                        dropout=0.0, backbone_weights='none')
    config = TrainConfig(steps=steps, batch_size=2, lr=1e-4, backbone_lr=1e-4, val_fraction=0.0, val_every=0,
                         checkpoint_every=steps, log_every=steps, device='cpu', num_workers=0, tensorboard=False)
    result = train(model, config, data, workdir / 'run', progress=None)
    return result.last_checkpoint


def nan_checkpoint(source: Path, target: Path) -> Path:
    """A copy of `source` whose action head weights are NaN: every predicted action is NaN."""
    from safetensors.torch import load_file, save_file

    shutil.copytree(source, target)
    weights = load_file(str(target / MODEL_FILE))
    heads = [name for name in weights if name.startswith('action_head.')]
    assert heads, f'no action_head.* tensor in {sorted(weights)[:10]}...'
    for name in heads:
        weights[name] = np.nan * weights[name]
    save_file(weights, str(target / MODEL_FILE), metadata={'format': 'act_training.checkpoint/1'})
    return target
