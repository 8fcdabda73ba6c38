"""Synthetic episodes in the ACT HDF5 layout, tiny configs, and a folded backbone with
non-trivial BatchNorm statistics, for the act_training tests.

An episode is a smooth trajectory: qpos_t = sin(w * t + phase) per entry, action_t =
qpos_{t+1} (the next target), and a camera frame in which a white square's position
encodes t. Small enough to train on in seconds, structured enough to be learnable.
"""

from __future__ import annotations

import json
from pathlib import Path

import h5py
import numpy as np

from act_training.config import ModelConfig, TrainConfig

STATE_DIM = 4
NAMES = [f'joint_{i}' for i in range(STATE_DIM)]


def episode_arrays(length: int = 24, seed: int = 0, height: int = 64, width: int = 64,
                   cameras: tuple[str, ...] = ('top',)) -> dict[str, np.ndarray]:
    steps = np.arange(length + 1, dtype=np.float64)[:, None]  # (T + 1, 1)
    trajectory = np.sin(0.25 * steps * np.arange(1, STATE_DIM + 1) + 0.7 * seed)  # (T + 1, D)
    arrays = {'/observations/qpos': trajectory[:-1].astype(np.float32),
              '/observations/qvel': np.diff(trajectory, axis=0).astype(np.float32),
              '/action': trajectory[1:].astype(np.float32)}
    for c, camera in enumerate(cameras):
        frames = np.full((length, height, width, 3), 40 * c, dtype=np.uint8)
        for t in range(length):
            x = int(t / max(1, length - 1) * (width - 12))
            y = (seed * 7 + 10 * c) % (height - 12)
            frames[t, y:y + 12, x:x + 12] = 255
        arrays[f'/observations/images/{camera}'] = frames
    return arrays


def write_episode(path: Path, arrays: dict[str, np.ndarray] | None = None, attrs: dict | None = None, **kwargs) -> Path:
    arrays = episode_arrays(**kwargs) if arrays is None else arrays
    with h5py.File(path, 'w') as h5:
        for name, values in arrays.items():
            h5[name] = values
        h5.attrs['sim'] = True
        defaults = {'vector_names': json.dumps(NAMES), 'control_rate_hz': 50.0, 'task': 'synthetic', 'robot': 'test'}
        for key, value in {**defaults, **(attrs or {})}.items():
            if value is not None:
                h5.attrs[key] = value
    return path


def write_episodes(folder: Path, count: int = 3, **kwargs) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for index in range(count):
        write_episode(folder / f'episode_{index}.hdf5', seed=index, **kwargs)
    return folder


def tiny_model_config(**overrides) -> ModelConfig:
    values = dict(camera_names=('top',), image_height=64, image_width=64, chunk_size=8, dim_model=32, n_heads=4,
                  dim_feedforward=64, n_encoder_layers=2, n_decoder_layers=1, n_vae_encoder_layers=1, latent_dim=8,
                  dropout=0.0, kl_weight=10.0, backbone_weights='none')
    values.update(overrides)
    return ModelConfig(**values)


def tiny_train_config(**overrides) -> TrainConfig:
    values = dict(steps=10, batch_size=4, lr=1e-3, backbone_lr=1e-3, val_every=5, checkpoint_every=5, log_every=5,
                  device='cpu', num_workers=0, tensorboard=False, seed=0)
    values.update(overrides)
    return TrainConfig(**values)

# A training config small enough to train in seconds (the CLI and import tests).
TINY_YAML = '''
model:
  camera_names: [top]
  image_height: 32
  image_width: 32
  chunk_size: 4
  dim_model: 32
  n_heads: 4
  dim_feedforward: 64
  n_encoder_layers: 1
  n_vae_encoder_layers: 1
  backbone_weights: none
train:
  steps: 2
  batch_size: 4
  lr: 1e-3
  backbone_lr: 0
  val_every: 2
  checkpoint_every: 2
  log_every: 1
  tensorboard: false
'''


def randomized_folded_backbone(seed: int, **kwargs):
    """A ResNet18Features (kwargs: its arguments) whose frozen BatchNorms hold random,
    non-identity statistics, folded for inference (fold_frozen_batchnorm) in channels-last
    memory: what PackedBackbone and the Winograd convolutions are checked against."""
    import torch
    import torchvision

    from act_training.model.backbone import ResNet18Features, fold_frozen_batchnorm

    torch.manual_seed(seed)
    backbone = ResNet18Features(**kwargs).eval()
    for module in backbone.modules():
        if isinstance(module, torchvision.ops.misc.FrozenBatchNorm2d):
            module.running_mean.uniform_(-0.2, 0.2)
            module.running_var.uniform_(0.5, 2.0)
            module.weight.uniform_(0.5, 1.5)
            module.bias.uniform_(-0.2, 0.2)
    return fold_frozen_batchnorm(backbone).to(memory_format=torch.channels_last)
