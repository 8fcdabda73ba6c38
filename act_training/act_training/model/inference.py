"""The inference-only ACT forward: what a trained policy runs at every control query.

Same function as `ActModel.forward` without actions (z = 0), computed with less work:
- no CVAE encoder: with z = 0 the latent token is the constant latent_proj(0);
- frozen BatchNorm folded into the backbone's convolutions;
- every position term of every attention (pos @ W_q, pos @ W_k) precomputed once;
- the first decoder layer's self-attention block precomputed: its input is all zeros, so
  its values are all equal to the V bias, attention returns that bias whatever the
  weights, and the block's output (and the cross-attention queries built from it) are
  constants of the weights;
- uint8 HWC frames in, normalized in one pass straight into the channels-last layout the
  backbone runs in;
- optionally in bf16 (`set_compute_dtype`): weights converted once, not per call as
  autocast would; the pixel normalization and the action head stay fp32.
Results match `ActModel` up to float rounding in fp32, and to bf16 rounding in bf16 (tested).
"""

from __future__ import annotations

import copy

import torch
from torch import nn

from act_training.data.images import IMAGENET_MEAN, IMAGENET_STD
from act_training.model.act import ActModel, image_tokens_from_features
from act_training.model.backbone import fold_frozen_batchnorm


class ActInference(nn.Module):
    def __init__(self, model: ActModel):
        super().__init__()
        # Its own copy of the weights: the runners convert and replace layers in place.
        model = copy.deepcopy(model).eval()
        config = model.config
        self.config = config
        # channels_last: the layout the uint8 HWC frames already have, and the one oneDNN
        # (CPU) and cuDNN (GPU) convolutions run fastest in.
        self.backbone = fold_frozen_batchnorm(model.backbone).to(memory_format=torch.channels_last)
        self.input_proj = model.input_proj
        self.keypoints, self.keypoint_proj = model.keypoints, model.keypoint_proj
        self.state_proj = model.state_proj
        self.encoder_layers = model.encoder.layers
        self.encoder_norm = model.encoder.norm
        self.decoder_layers = model.decoder.layers
        self.decoder_norm = model.decoder.norm
        self.action_head = model.action_head

        scale = torch.tensor([1.0 / (255.0 * s) for s in IMAGENET_STD])  # (3,)
        shift = torch.tensor([-m / s for m, s in zip(IMAGENET_MEAN, IMAGENET_STD)])  # (3,)
        self.register_buffer('pixel_scale', scale[None, :, None, None])  # (1, 3, 1, 1)
        self.register_buffer('pixel_shift', shift[None, :, None, None])  # (1, 3, 1, 1)

        with torch.no_grad():
            pos = model.encoder_positions()  # (2 + N, D)
            query_pos = model.queries.weight  # (S, D)
            dim = config.dim_model
            self.register_buffer('latent_token', model.latent_proj(pos.new_zeros(1, config.latent_dim)))  # (1, D)
            self.register_buffer('encoder_pos_qk', torch.stack(
                [layer.self_attn.project_pos_qk(pos) for layer in self.encoder_layers]))  # (L_enc, 2 + N, 2D)
            self.register_buffer('memory_pos_k', torch.stack(
                [layer.cross_attn.project_pos_k(pos) for layer in self.decoder_layers]))  # (L_dec, 2 + N, D)
            self.register_buffer('query_pos_qk', torch.stack(
                [layer.self_attn.project_pos_qk(query_pos) for layer in self.decoder_layers]))  # (L_dec, S, 2D)
            self.register_buffer('query_pos_q', torch.stack(
                [layer.cross_attn.project_pos_q(query_pos) for layer in self.decoder_layers]))  # (L_dec, S, D)
            first = self.decoder_layers[0]
            after_self = first.self_attention_block(pos.new_zeros(1, config.chunk_size, dim), self.query_pos_qk[0])  # (1, S, D)
            self.register_buffer('first_after_self', after_self)
            self.register_buffer('first_cross_q', first.cross_query(after_self, self.query_pos_q[0]))  # (1, S, D)
        for parameter in self.parameters():
            parameter.requires_grad_(False)

    @property
    def compute_dtype(self) -> torch.dtype:
        return self.latent_token.dtype

    @property
    def token_count(self) -> int:
        """Tokens of the main encoder per sample: 2 + N_cam * h * w."""
        return self.encoder_pos_qk.shape[1]

    def set_compute_dtype(self, dtype: torch.dtype) -> 'ActInference':
        """Backbone and transformer in `dtype` (torch.float32 or torch.bfloat16); the
        pixel normalization and the action head stay fp32: the head's output is the command
        sent to the robot."""
        self.to(dtype)
        self.action_head.float()
        self.pixel_scale, self.pixel_shift = self.pixel_scale.float(), self.pixel_shift.float()
        return self

    def normalize(self, frames: torch.Tensor) -> torch.Tensor:
        """(B, N_cam, H, W, 3) uint8 -> (B * N_cam, 3, H, W) float, ImageNet-normalized, in
        channels-last memory (what the HWC bytes already are: no transpose copy)."""
        flat = frames.flatten(0, 1).permute(0, 3, 1, 2)  # (B * N_cam, 3, H, W), a view with NHWC strides
        return torch.addcmul(self.pixel_shift, flat.float(), self.pixel_scale)  # (B * N_cam, 3, H, W)

    def forward(self, frames: torch.Tensor, qpos: torch.Tensor) -> torch.Tensor:
        """frames: (B, N_cam, H, W, 3) uint8 at the model's image size; qpos: (B, state_dim)
        normalized -> (B, S, action_dim) normalized actions."""
        batch, dtype = frames.shape[0], self.compute_dtype
        images = self.normalize(frames).to(dtype).contiguous(memory_format=torch.channels_last)  # a no-op for HWC frames
        image_tokens = image_tokens_from_features(self.backbone(images), batch, self.input_proj, self.keypoints,
                                                  self.keypoint_proj)  # (B, N, D)
        tokens = torch.cat((self.latent_token.expand(batch, 1, -1),  # (B, 1, D)
                            self.state_proj(qpos.to(dtype))[:, None, :],  # (B, 1, D)
                            image_tokens), dim=1)  # (B, 2 + N, D)
        for layer, pos_qk in zip(self.encoder_layers, self.encoder_pos_qk):
            tokens = layer(tokens, pos_qk)
        memory = self.encoder_norm(tokens)  # (B, 2 + N, D)

        t = self.first_after_self.expand(batch, -1, -1)  # (B, S, D)
        cross_q = self.first_cross_q.expand(batch, -1, -1)  # (B, S, D)
        for i, layer in enumerate(self.decoder_layers):
            if i > 0:
                t = layer.self_attention_block(t, self.query_pos_qk[i])
                cross_q = layer.cross_query(t, self.query_pos_q[i])
            t = layer.rest(t, cross_q, layer.cross_attn.project_kv(memory), self.memory_pos_k[i])
        decoded = self.decoder_norm(t)  # (B, S, D)
        return self.action_head(decoded.float())  # (B, S, action_dim), fp32
