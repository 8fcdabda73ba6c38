"""The inference API: a trained checkpoint that predicts action chunks in robot units.

The policy node and `act eval` use this class and nothing else of the package:

    policy = ActPolicy.load('runs/cube/best', device='cpu')
    chunk = policy.predict_chunk({'top': rgb_uint8_hwc}, qpos)   # (chunk_size, action_dim)

Deterministic (z = 0, dropout off), no autograd, no CVAE encoder (see model/inference.py).
Frames of any size are resized exactly as training resized them.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Mapping

import numpy as np
import torch

from act_training.data.images import frames_to_model_size
from act_training.model.act import build_model
from act_training.model.inference import ActInference
from act_training.train.checkpoint import Checkpoint, load_checkpoint

log = logging.getLogger('act_training')


class ActPolicy:
    """A loaded checkpoint. Attributes describe what predict_chunk expects and returns."""

    camera_names: tuple[str, ...]  # order the model expects
    vector_names: tuple[str, ...]  # names of state/action entries (for robot checks)
    state_dim: int
    action_dim: int
    chunk_size: int
    control_period_s: float  # the control period the data was recorded at
    image_size: tuple[int, int]  # (H, W) the model runs at
    model_id: str  # checkpoint folder name + short content hash
    precision: str  # 'fp32' or 'bf16': what the backbone and transformer run in
    precision_detail: str  # how it runs on this device, in words (runner.precision_detail; plus the Winograd
    # convolutions where CpuRunner runs some)

    def __init__(self, checkpoint: Checkpoint, device: str | torch.device = 'cpu', precision: str = 'auto'):
        """precision: 'auto' (bf16 where the device computes it natively, else fp32),
        'fp32' or 'bf16'; see act_training.model.runner."""
        config = checkpoint.model_config
        self.checkpoint_path = checkpoint.path
        self.camera_names = tuple(config.camera_names)
        self.vector_names = tuple(checkpoint.dataset.vector_names)
        self.state_dim = int(config.state_dim)
        self.action_dim = int(config.action_dim)
        self.chunk_size = config.chunk_size
        self.control_period_s = checkpoint.dataset.control_period_s
        self.image_size = config.image_size
        self.model_id = f'{checkpoint.path.name}-{checkpoint.weights_sha256[:8]}'
        self.device = torch.device(device)
        from act_training.model.runner import build_runner, precision_detail, resolve_precision

        dtype = resolve_precision(precision, self.device)
        self.precision = 'bf16' if dtype == torch.bfloat16 else 'fp32'  # what runs, 'auto' resolved
        self.precision_detail = precision_detail(self.precision, self.device)
        self._qpos_mean = checkpoint.normalization.qpos.mean  # (Ds,) float64
        self._qpos_std = checkpoint.normalization.qpos.std
        self._action_mean = checkpoint.normalization.action.mean  # (Da,) float64
        self._action_std = checkpoint.normalization.action.std

        model = build_model(config)
        model.load_state_dict(checkpoint.state_dict)
        self._runner = build_runner(ActInference(model).to(self.device), self.device, dtype,
                                    frame_shape=(len(self.camera_names), *self.image_size, 3), state_dim=self.state_dim)
        # PackedBackbone's (CpuRunner, fp32 at large frames only); CUDA runs cuDNN's choice.
        winograd = getattr(self._runner.engine.backbone, 'winograd_count', 0)
        if winograd:
            self.precision_detail += f', {winograd} backbone convolutions as Winograd F(4x4, 3x3)'

    @classmethod
    def load(cls, checkpoint_dir: str | Path, device: str = 'cpu', precision: str = 'auto') -> 'ActPolicy':
        return cls(load_checkpoint(checkpoint_dir), device, precision)

    def _frames(self, images: Mapping[str, np.ndarray]) -> list[np.ndarray]:
        """Per camera, in the model's order: (H, W, 3) uint8 at the model's size."""
        if not isinstance(images, Mapping):
            raise ValueError(f'images must map camera name -> (H, W, 3) uint8 array, got {type(images).__name__}')
        missing = [name for name in self.camera_names if name not in images]
        if missing:
            raise ValueError(f'images lack camera(s) {missing}: got {sorted(images)}, the model expects '
                             f'{list(self.camera_names)}')
        frames = []
        for name in self.camera_names:
            image = images[name]
            if not isinstance(image, np.ndarray) or image.dtype != np.uint8 or image.ndim != 3 or image.shape[2] != 3:
                shape = getattr(image, 'shape', None)
                raise ValueError(f'image of camera {name!r}: expected an (H, W, 3) uint8 RGB array, got '
                                 f'{type(image).__name__} {shape} {getattr(image, "dtype", "")}')
            if image.shape[:2] != self.image_size:
                image = frames_to_model_size(np.ascontiguousarray(image)[None], self.image_size)[0].permute(1, 2, 0).numpy()
            frames.append(image)
        return frames

    def _normalized_qpos(self, qpos: np.ndarray) -> np.ndarray:
        values = np.asarray(qpos, dtype=np.float64)
        if values.shape != (self.state_dim,):
            raise ValueError(f'qpos: expected {self.state_dim} entries ({", ".join(self.vector_names)}), '
                             f'got shape {values.shape}')
        if not np.all(np.isfinite(values)):
            bad = [self.vector_names[i] for i in np.flatnonzero(~np.isfinite(values))]
            raise ValueError(f'qpos: non-finite values at {bad}')
        return ((values - self._qpos_mean) / self._qpos_std).astype(np.float32)

    def predict_chunk(self, images: Mapping[str, np.ndarray], qpos: np.ndarray) -> np.ndarray:
        """images: camera name -> (H, W, 3) uint8 RGB, any size (resized like training);
        qpos: (state_dim,) in robot units. Returns (chunk_size, action_dim) float64 in robot
        units. Raises ValueError naming a missing camera or a wrong qpos length."""
        frames = self._frames(images)
        normalized = self._normalized_qpos(qpos)
        actions = self._runner(frames, normalized)  # (S, Da) float32, normalized
        return actions.astype(np.float64) * self._action_std + self._action_mean
