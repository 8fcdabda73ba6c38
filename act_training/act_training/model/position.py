"""Fixed sinusoidal position embeddings: 1D for the CVAE encoder's sequence, 2D for the
camera feature maps (DETR's normalized sine embedding, which ACT uses)."""

from __future__ import annotations

import math

import torch


def _frequencies(dim: int, temperature: float = 10000.0) -> torch.Tensor:
    """The dim/2 frequencies 1 / temperature^(2i/dim), each used once for sin and once for cos."""
    exponents = torch.arange(0, dim, 2, dtype=torch.float64) / dim  # (dim/2,)
    return temperature ** (-exponents)


def _interleave_sin_cos(angles: torch.Tensor) -> torch.Tensor:
    """(..., dim/2) angles -> (..., dim) with sin at even and cos at odd channels."""
    return torch.stack((angles.sin(), angles.cos()), dim=-1).flatten(-2)


def sinusoidal_1d(length: int, dim: int) -> torch.Tensor:
    """(length, dim) float32: position p at channels (2i, 2i+1) = sin/cos(p / 10000^(2i/dim))."""
    positions = torch.arange(length, dtype=torch.float64)[:, None]  # (L, 1)
    return _interleave_sin_cos(positions * _frequencies(dim)).float()  # (L, dim)


def sinusoidal_2d(height: int, width: int, dim: int) -> torch.Tensor:
    """(height * width, dim) float32, row-major over the feature map: the first dim/2
    channels encode y, the last dim/2 encode x. Coordinates run 1..n, normalized to
    (0, 2*pi] as in DETR's `normalize=True`, so the embedding does not depend on the
    feature map size in absolute pixels."""
    half = dim // 2
    eps = 1e-6
    ys = torch.arange(1, height + 1, dtype=torch.float64) / (height + eps) * (2 * math.pi)  # (H,)
    xs = torch.arange(1, width + 1, dtype=torch.float64) / (width + eps) * (2 * math.pi)  # (W,)
    freqs = _frequencies(half)  # (half/2,)
    y_embed = _interleave_sin_cos(ys[:, None] * freqs)  # (H, half)
    x_embed = _interleave_sin_cos(xs[:, None] * freqs)  # (W, half)
    grid = torch.cat((y_embed[:, None, :].expand(height, width, half),
                      x_embed[None, :, :].expand(height, width, half)), dim=-1)  # (H, W, dim)
    return grid.reshape(height * width, dim).float()
