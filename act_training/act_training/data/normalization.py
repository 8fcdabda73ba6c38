"""Mean/std normalization of qpos and actions with the training episodes' statistics.

Stored with every checkpoint as normalization.json, so the inference API maps robot units
to model units and back exactly as training did."""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import numpy as np
import torch


@dataclass(frozen=True)
class VectorStats:
    mean: np.ndarray  # (D,) float64
    std: np.ndarray  # (D,) float64, already floored

    def normalize(self, values: torch.Tensor) -> torch.Tensor:
        mean = torch.as_tensor(self.mean, dtype=values.dtype, device=values.device)
        std = torch.as_tensor(self.std, dtype=values.dtype, device=values.device)
        return (values - mean) / std

    def denormalize(self, values: torch.Tensor) -> torch.Tensor:
        mean = torch.as_tensor(self.mean, dtype=values.dtype, device=values.device)
        std = torch.as_tensor(self.std, dtype=values.dtype, device=values.device)
        return values * std + mean

    @classmethod
    def of(cls, arrays: Sequence[np.ndarray], std_floor: float) -> 'VectorStats':
        """Statistics over all rows of all arrays, each (T, D)."""
        stacked = np.concatenate([np.asarray(a, dtype=np.float64) for a in arrays], axis=0)  # (sum T, D)
        return cls(mean=stacked.mean(axis=0), std=np.maximum(stacked.std(axis=0), std_floor))


@dataclass(frozen=True)
class Normalization:
    qpos: VectorStats
    action: VectorStats
    std_floor: float

    def to_json(self) -> str:
        def pack(stats: VectorStats) -> dict:
            return {'mean': [float(v) for v in stats.mean], 'std': [float(v) for v in stats.std]}

        return json.dumps({'qpos': pack(self.qpos), 'action': pack(self.action), 'std_floor': self.std_floor}, indent=2)

    @classmethod
    def from_json(cls, text: str, source: str = 'normalization.json') -> 'Normalization':
        try:
            data = json.loads(text)
            parsed = {}
            for key in ('qpos', 'action'):
                mean = np.asarray(data[key]['mean'], dtype=np.float64)
                std = np.asarray(data[key]['std'], dtype=np.float64)
                if mean.ndim != 1 or mean.shape != std.shape or not np.all(np.isfinite(mean)) or not np.all(std > 0):
                    raise ValueError(f'{key}: mean/std must be equal-length finite lists with std > 0')
                parsed[key] = VectorStats(mean, std)
            return cls(qpos=parsed['qpos'], action=parsed['action'], std_floor=float(data.get('std_floor', math.nan)))
        except (KeyError, TypeError, ValueError) as error:
            raise ValueError(f'{source}: malformed normalization statistics: {error}') from error

    @classmethod
    def load(cls, path: str | Path) -> 'Normalization':
        path = Path(path)
        return cls.from_json(path.read_text(), str(path))
