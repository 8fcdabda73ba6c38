"""The training loss of one batch: optional random shift, pixels normalized, optional qpos noise, the model's
forward pass under the step's autocast, then ACT's objective (model.loss.act_loss). Its own
module because the trainer and the step-time measurement (train.step_time) both run it.
"""

from __future__ import annotations

import torch

from act_training.config import ModelConfig
from act_training.data.chunks import Batch
from act_training.data.images import normalize_images, random_shift
from act_training.model.loss import LossTerms, act_loss


def forward_loss(model, batch: Batch, config: ModelConfig, autocast, qpos_noise_std: float = 0.0,
                 image_shift: int = 0, qpos_dropout: float = 0.0) -> LossTerms:
    """The training loss of one batch. qpos_noise_std: Gaussian noise added to the
    normalized qpos the model reads (TrainConfig.qpos_noise_std says why). image_shift:
    random shift of each sample's frames by up to this many pixels (TrainConfig.image_shift).
    qpos_dropout: probability that a sample's normalized qpos is replaced by 0, the dataset
    mean (TrainConfig.qpos_dropout says why)."""
    images = normalize_images(random_shift(batch.images, image_shift))  # (B, N_cam, 3, H, W)
    qpos = batch.qpos
    if qpos_noise_std > 0:
        qpos = qpos + qpos_noise_std * torch.randn_like(qpos)  # (B, Ds); drawn from the step's seed
    if qpos_dropout > 0:
        kept = torch.rand(qpos.shape[0], 1, device=qpos.device) >= qpos_dropout  # (B, 1)
        qpos = qpos * kept
    with autocast():
        out = model(images, qpos, batch.actions, batch.is_pad)
    return act_loss(out.actions, batch.actions, batch.is_pad, out.mu, out.logvar, config.kl_weight,
                    out.image_aux, config.image_aux_weight, config.action_loss, config.smooth_l1_beta)
