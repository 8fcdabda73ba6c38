"""The ACT network: CVAE encoder (training only) + ResNet-18 + transformer encoder-decoder.

Tokens of the main encoder: [latent z, proprioception, camera 1 tokens..., camera N tokens...].
The decoder gets zeros as input and one learned query per chunk step as its position term;
a linear head maps each decoded query to one action. With ModelConfig.image_aux_weight, a
second linear head (training only) predicts the chunk from the pooled image features alone.

All inputs are normalized: images by `act_training.data.images.normalize_images`,
qpos/actions by the dataset statistics (`act_training.data.normalization`).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from act_training.config import ModelConfig
from act_training.model.backbone import FEATURE_CHANNELS, ResNet18Features, feature_map_size
from act_training.model.position import sinusoidal_1d, sinusoidal_2d
from act_training.model.transformer import Decoder, Encoder


@dataclass
class ActOutput:
    actions: torch.Tensor  # (B, S, action_dim), normalized units
    mu: torch.Tensor | None  # (B, latent_dim); None when z was not inferred (z = 0)
    logvar: torch.Tensor | None  # (B, latent_dim)
    # (B, S, action_dim): the image-only auxiliary head's chunk (ModelConfig.image_aux_weight),
    # in training only; None otherwise.
    image_aux: torch.Tensor | None = None


class SpatialSoftmax(nn.Module):
    """(B, C, h, w) features -> (B, K, 2) keypoints: for each of K learned 1x1-conv maps,
    the softmax-weighted mean image position (x, y), each in [-1, 1] (Levine et al. 2016,
    "End-to-End Training of Deep Visuomotor Policies"; robomimic's SpatialSoftmax)."""

    def __init__(self, channels: int, keypoints: int, height: int, width: int):
        super().__init__()
        self.attention = nn.Conv2d(channels, keypoints, kernel_size=1)
        ys, xs = torch.meshgrid(torch.linspace(-1.0, 1.0, height), torch.linspace(-1.0, 1.0, width), indexing='ij')
        self.register_buffer('grid', torch.stack((xs.flatten(), ys.flatten()), dim=1), persistent=False)  # (h * w, 2)

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        logits = self.attention(features).flatten(2).float()  # (B, K, h * w); softmax in fp32 under autocast
        return logits.softmax(dim=-1) @ self.grid.float()  # (B, K, 2)


def image_tokens_from_features(features: torch.Tensor, batch: int, input_proj: nn.Module,
                               keypoints: nn.Module | None, keypoint_proj: nn.Module | None) -> torch.Tensor:
    """(B * N_cam, 512, h, w) backbone features -> (B, N_cam * (h * w + K), D) tokens:
    every camera's feature-map tokens, then every camera's keypoint tokens (the order of
    ActModel.encoder_positions). Shared by the model and the inference fast path."""
    tokens = feature_tokens(input_proj(features), batch)  # (B, N_cam * h * w, D)
    if keypoints is None:
        return tokens
    points = keypoints(features)  # (B * N_cam, K, 2)
    point_tokens = keypoint_proj(points.to(tokens.dtype))  # (B * N_cam, K, D)
    return torch.cat((tokens, point_tokens.reshape(batch, -1, point_tokens.shape[-1])), dim=1)


def feature_tokens(features: torch.Tensor, batch: int) -> torch.Tensor:
    """(B * N_cam, D, h, w) projected feature maps -> (B, N_cam * h * w, D) tokens, camera by
    camera, each map row-major (the order of `camera_pos`)."""
    tokens = features.flatten(2).transpose(1, 2)  # (B * N_cam, h * w, D)
    return tokens.reshape(batch, -1, tokens.shape[-1])  # (B, N_cam * h * w, D)


class ActModel(nn.Module):
    def __init__(self, config: ModelConfig):
        super().__init__()
        if not config.is_resolved:
            raise ValueError('ActModel needs a resolved config (camera_names, state_dim and action_dim set), '
                             f'got camera_names={list(config.camera_names)}, state_dim={config.state_dim}, '
                             f'action_dim={config.action_dim}')
        self.config = config
        # Set by use_channels_last (the trainer's layout).
        self.channels_last = False
        dim = config.dim_model
        layer_args = (dim, config.n_heads, config.dim_feedforward, config.dropout, config.pre_norm)

        # Images -> tokens. One backbone for all cameras (shared weights, as in the paper).
        self.backbone = ResNet18Features(config.backbone_norm, config.backbone_dilation)
        self.input_proj = nn.Conv2d(FEATURE_CHANNELS, dim, kernel_size=1)
        feature_h, feature_w = feature_map_size(config.image_height, config.image_width, self.backbone.stride)
        # Every camera gets the same 2D embedding (the paper's code concatenates the
        # per-camera maps side by side, each with its own copy).
        self.register_buffer('camera_pos', sinusoidal_2d(feature_h, feature_w, dim).repeat(len(config.camera_names), 1),
                             persistent=False)  # (N_cam * h * w, D)
        self.keypoints = self.keypoint_proj = self.keypoint_pos = None
        if config.keypoints:
            self.keypoints = SpatialSoftmax(FEATURE_CHANNELS, config.keypoints, feature_h, feature_w)
            self.keypoint_proj = nn.Linear(2, dim)
            # Learned, one per camera and keypoint: which keypoint a token is.
            self.keypoint_pos = nn.Embedding(len(config.camera_names) * config.keypoints, dim)

        # The two non-image tokens of the main encoder and their learned positions.
        self.latent_proj = nn.Linear(config.latent_dim, dim)
        self.state_proj = nn.Linear(config.state_dim, dim)
        self.token_pos = nn.Embedding(2, dim)

        self.encoder = Encoder(config.n_encoder_layers, *layer_args)
        self.decoder = Decoder(config.n_decoder_layers, *layer_args)
        self.queries = nn.Embedding(config.chunk_size, dim)
        self.action_head = nn.Linear(dim, config.action_dim)
        self.image_aux_head = None
        if config.image_aux_weight > 0:
            # Training only: pooled features of every camera -> the whole chunk.
            self.image_aux_head = nn.Linear(len(config.camera_names) * FEATURE_CHANNELS,
                                            config.chunk_size * config.action_dim)

        if config.use_vae:
            self.vae_cls = nn.Embedding(1, dim)
            self.vae_state_proj = nn.Linear(config.state_dim, dim)
            self.vae_action_proj = nn.Linear(config.action_dim, dim)
            self.vae_encoder = Encoder(config.n_vae_encoder_layers, *layer_args)
            self.vae_to_latent = nn.Linear(dim, 2 * config.latent_dim)
            self.register_buffer('vae_pos', sinusoidal_1d(config.chunk_size + 2, dim), persistent=False)  # (S + 2, D)
        self._init_transformer_weights()

    def _init_transformer_weights(self) -> None:
        # Xavier-uniform for the transformers' matrices, as DETR/ACT do; the projections
        # and embeddings keep PyTorch's defaults, as there.
        for name, parameter in self.named_parameters():
            if name.split('.')[0] in ('encoder', 'decoder', 'vae_encoder') and parameter.dim() > 1:
                nn.init.xavier_uniform_(parameter)

    def use_channels_last(self) -> None:
        """Runs the backbone in channels_last: the layout cuDNN's fastest convolution
        kernels use, and on the CPU oneDNN's too (measured at batch 8, 480x640: the
        backbone's forward and backward about 10% faster than NCHW, its max pool several
        times faster)."""
        self.backbone.to(memory_format=torch.channels_last)
        self.channels_last = True

    def backbone_parameters(self):
        return self.backbone.parameters()

    def head_parameters(self):
        return (parameter for name, parameter in self.named_parameters() if not name.startswith('backbone.'))

    # --- pieces shared with the inference fast path -------------------------------------

    def image_features(self, images: torch.Tensor) -> torch.Tensor:
        """(B, N_cam, 3, H, W) normalized images -> (B * N_cam, 512, h, w) backbone features."""
        flat = images.flatten(0, 1)  # (B * N_cam, 3, H, W)
        if self.channels_last:
            flat = flat.contiguous(memory_format=torch.channels_last)
        return self.backbone(flat)

    def encoder_positions(self) -> torch.Tensor:
        """(2 + N_cam * (h * w + K), D): learned positions of [latent, state], the cameras'
        feature maps, then the learned ones of the keypoints."""
        parts = [self.token_pos.weight, self.camera_pos]
        if self.keypoint_pos is not None:
            parts.append(self.keypoint_pos.weight)
        return torch.cat(parts, dim=0)

    def decode(self, memory: torch.Tensor) -> torch.Tensor:
        """(B, 2 + N, D) encoder memory -> (B, S, action_dim) normalized actions."""
        decoded = self.decoder(memory, self.encoder_positions(), self.queries.weight)  # (B, S, D)
        return self.action_head(decoded)

    # --- training / reference forward ---------------------------------------------------

    def encode_latent(self, qpos: torch.Tensor, actions: torch.Tensor, is_pad: torch.Tensor):
        """CVAE posterior q(z | qpos, action chunk): returns (mu, logvar), each (B, latent_dim)."""
        batch = qpos.shape[0]
        cls = self.vae_cls.weight.expand(batch, 1, -1)  # (B, 1, D)
        state = self.vae_state_proj(qpos)[:, None, :]  # (B, 1, D)
        chunk = self.vae_action_proj(actions)  # (B, S, D)
        tokens = torch.cat((cls, state, chunk), dim=1)  # (B, S + 2, D)
        # The CLS and state tokens are never padding; steps past the episode end are.
        keep_first = torch.zeros(batch, 2, dtype=torch.bool, device=is_pad.device)
        padding = torch.cat((keep_first, is_pad), dim=1)  # (B, S + 2)
        encoded = self.vae_encoder(tokens, self.vae_encoder.project_positions(self.vae_pos), padding)  # (B, S + 2, D)
        mu, logvar = self.vae_to_latent(encoded[:, 0]).chunk(2, dim=-1)  # (B, L) each
        return mu, logvar

    def forward(self, images: torch.Tensor, qpos: torch.Tensor, actions: torch.Tensor | None = None,
                is_pad: torch.Tensor | None = None) -> ActOutput:
        """images: (B, N_cam, 3, H, W) normalized; qpos: (B, state_dim); actions: (B, S, action_dim)
        and is_pad: (B, S) bool, both normalized targets, given in training.

        With actions (and use_vae), z is sampled from the CVAE posterior by
        reparameterization; without, z = 0 (the prior's mean), which is what inference uses.
        The image-only auxiliary chunk (ModelConfig.image_aux_weight) is computed only with
        actions given."""
        batch = qpos.shape[0]
        mu = logvar = None
        if self.config.use_vae and actions is not None:
            if is_pad is None:
                is_pad = torch.zeros(actions.shape[:2], dtype=torch.bool, device=actions.device)
            mu, logvar = self.encode_latent(qpos, actions, is_pad)
            z = mu + (0.5 * logvar).exp() * torch.randn_like(mu)  # (B, L)
        else:
            z = qpos.new_zeros(batch, self.config.latent_dim)  # (B, L)
        latent_token = self.latent_proj(z)[:, None, :]  # (B, 1, D)
        state_token = self.state_proj(qpos)[:, None, :]  # (B, 1, D)
        features = self.image_features(images)  # (B * N_cam, 512, h, w)
        image_tokens = image_tokens_from_features(features, batch, self.input_proj, self.keypoints,
                                                  self.keypoint_proj)  # (B, N, D)
        tokens = torch.cat((latent_token, state_token, image_tokens), dim=1)  # (B, 2 + N, D)
        memory = self.encoder(tokens, self.encoder.project_positions(self.encoder_positions()))  # (B, 2 + N, D)
        image_aux = None
        if self.image_aux_head is not None and actions is not None:
            pooled = features.mean(dim=(2, 3)).reshape(batch, -1)  # (B, N_cam * 512)
            image_aux = self.image_aux_head(pooled).reshape(batch, self.config.chunk_size, -1)  # (B, S, action_dim)
        return ActOutput(self.decode(memory), mu, logvar, image_aux)


def build_model(config: ModelConfig) -> ActModel:
    """The one factory: a model with transformer weights initialized and the backbone random
    (load_backbone_weights or a checkpoint fills it)."""
    return ActModel(config)
