"""Camera frames: the one resize (recording size -> model size) used both when episodes are
loaded for training and by the inference API, the ImageNet normalization, and the
training-time random shift."""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
# Frames resized per call: bounds the kernel's scratch memory.
_RESIZE_BATCH = 32


def frames_to_model_size(frames: np.ndarray | torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """(N, H, W, 3) uint8 RGB -> (N, 3, h, w) uint8 at size = (h, w).

    Bilinear with antialiasing (no aliasing when shrinking 480x640 to 120x160), by PyTorch's
    uint8 kernel, which works in fixed point on the channels-last frames and rounds to uint8
    itself. Resizing in float32 and rounding gives the same bytes to within 1 (2.4 % of the
    values differ by 1 on a recorded episode), and took 19x longer: 4.4 against 0.23 ms per
    480x640 frame on one core of an AMD EPYC, 87 s for the demo's 45 episodes before
    training could start. Runs on the CPU so that training and inference produce the very
    same bytes."""
    frames = torch.as_tensor(frames)
    if frames.dtype != torch.uint8 or frames.dim() != 4 or frames.shape[-1] != 3:
        raise ValueError(f'expected (N, H, W, 3) uint8 frames, got {tuple(frames.shape)} {frames.dtype}')
    chw = frames.permute(0, 3, 1, 2)  # (N, 3, H, W), a channels-last view
    if tuple(chw.shape[-2:]) == tuple(size):
        return chw.contiguous()
    out = torch.empty((chw.shape[0], 3, *size), dtype=torch.uint8)
    for start in range(0, chw.shape[0], _RESIZE_BATCH):
        out[start:start + _RESIZE_BATCH] = F.interpolate(chw[start:start + _RESIZE_BATCH], size=size, mode='bilinear',
                                                         antialias=True, align_corners=False)
    return out


def normalize_images(images: torch.Tensor) -> torch.Tensor:
    """(..., 3, H, W) uint8 -> float in ImageNet normalization: (x / 255 - mean) / std."""
    scale = torch.tensor([1.0 / (255.0 * s) for s in IMAGENET_STD], device=images.device)  # (3,)
    shift = torch.tensor([-m / s for m, s in zip(IMAGENET_MEAN, IMAGENET_STD)], device=images.device)  # (3,)
    return images.float() * scale[:, None, None] + shift[:, None, None]


def random_shift(images: torch.Tensor, pad: int) -> torch.Tensor:
    """Each sample's frames moved by a random whole-pixel offset in [-pad, pad] on each axis,
    the uncovered border filled by repeating the edge pixels (DrQ's augmentation: Kostrikov
    et al. 2020, "Image Augmentation Is All You Need"). The cameras of one sample move
    together. (B, N_cam, 3, H, W) -> the same shape and dtype; pad 0 returns `images`.
    Offsets come from torch's global generator (the trainer seeds it per step)."""
    if pad <= 0:
        return images
    if images.dim() != 5:
        raise ValueError(f'expected (B, N_cam, 3, H, W) frames, got {tuple(images.shape)}')
    batch, cameras, channels, height, width = images.shape
    flat = images.reshape(batch, cameras * channels, height, width)
    # Replicate padding needs a float tensor; uint8 frames go through float and come back exact.
    padded = F.pad(flat.float(), (pad, pad, pad, pad), mode='replicate')  # (B, N*3, H+2p, W+2p)
    offsets = torch.randint(0, 2 * pad + 1, (batch, 2))  # (B, [dy, dx]), on the CPU: a few ints
    out = torch.stack([padded[b, :, dy:dy + height, dx:dx + width] for b, (dy, dx) in enumerate(offsets.tolist())])
    return out.to(images.dtype).reshape(images.shape)
