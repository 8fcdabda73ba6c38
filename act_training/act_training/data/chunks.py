"""Training samples: (episode, start step) pairs -> observation at the start step and the
next chunk_size actions, padded and masked past the episode end.

Which samples form step k's batch is a pure function of (seed, k) (`StepSampler`), so a
resumed run sees exactly the batches an uninterrupted one would, and DDP ranks split each
global batch without talking to each other.

Frames are decoded and resized once. When the whole data set fits `memory_budget_gb`,
`InMemoryChunks` keeps every frame as uint8 (on the GPU when training there and it fits)
and a batch is one gather. Otherwise `LazyFrameDataset` reads each sample's frames from
the HDF5 files in DataLoader worker processes; qpos/actions (small) stay in memory.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterator, Sequence

import numpy as np
import torch

from act_training.data.episodes import Episode, EpisodeInfo, read_frames
from act_training.hdf5_format import image_path
from act_training.data.images import frames_to_model_size
from act_training.data.normalization import Normalization

# Frames read from HDF5 per call while loading an episode (bounds the scratch memory).
_READ_BLOCK = 64


@dataclass
class Batch:
    images: torch.Tensor  # (B, N_cam, 3, H, W) uint8
    qpos: torch.Tensor  # (B, state_dim) float32, normalized
    actions: torch.Tensor  # (B, S, action_dim) float32, normalized
    is_pad: torch.Tensor  # (B, S) bool, True past the episode end

    def to(self, device: torch.device | str, non_blocking: bool = False) -> 'Batch':
        return Batch(*(t.to(device, non_blocking=non_blocking) for t in (self.images, self.qpos, self.actions, self.is_pad)))

    def pin_memory(self) -> 'Batch':
        return Batch(*(t.pin_memory() for t in (self.images, self.qpos, self.actions, self.is_pad)))

    def __len__(self) -> int:
        return self.qpos.shape[0]


class FrameIndex:
    """Flat numbering of every step of every episode: frame f is step t of episode e."""

    def __init__(self, lengths: Sequence[int]):
        self.lengths = np.asarray(lengths, dtype=np.int64)
        self.starts = np.concatenate(([0], np.cumsum(self.lengths)[:-1]))  # (E,) first frame of each episode
        self.episode_of = np.repeat(np.arange(len(self.lengths)), self.lengths)  # (N,)
        self.end_of = (self.starts + self.lengths)[self.episode_of]  # (N,) one past the episode's last frame

    @property
    def n_frames(self) -> int:
        return int(self.lengths.sum())

    def frames_of(self, episodes: Sequence[int]) -> np.ndarray:
        """Frame numbers of the given episodes, in order."""
        if len(episodes) == 0:
            return np.zeros(0, dtype=np.int64)
        return np.concatenate([np.arange(self.starts[e], self.starts[e] + self.lengths[e]) for e in episodes])


class StepSampler:
    """Start frames of each step's global batch: consecutive slices of a stream of
    permutations of the training frames, a fresh permutation per epoch seeded by
    (seed, epoch). Rank r of w takes the r-th of w equal parts of the global batch."""

    def __init__(self, frames: np.ndarray, global_batch: int, seed: int):
        if len(frames) == 0:
            raise ValueError('no training frames to sample from')
        self.frames = np.asarray(frames, dtype=np.int64)
        self.global_batch = global_batch
        self.seed = seed
        self._cache: dict[int, np.ndarray] = {}

    def _epoch(self, epoch: int) -> np.ndarray:
        if epoch not in self._cache:
            if len(self._cache) > 2:
                self._cache.pop(min(self._cache))
            rng = np.random.Generator(np.random.PCG64([self.seed, epoch]))
            self._cache[epoch] = self.frames[rng.permutation(len(self.frames))]
        return self._cache[epoch]

    def global_indices(self, step: int) -> np.ndarray:
        n = len(self.frames)
        positions = np.arange(step * self.global_batch, (step + 1) * self.global_batch, dtype=np.int64)
        out = np.empty(self.global_batch, dtype=np.int64)
        for epoch in np.unique(positions // n):
            here = positions // n == epoch
            out[here] = self._epoch(int(epoch))[positions[here] % n]
        return out

    def rank_indices(self, step: int, rank: int, world_size: int) -> np.ndarray:
        per_rank = self.global_batch // world_size
        return self.global_indices(step)[rank * per_rank:(rank + 1) * per_rank]


def validation_frames(frames: np.ndarray, count: int) -> np.ndarray:
    """`count` frames evenly spread over the held-out frames (all of them if fewer)."""
    if len(frames) <= count:
        return np.asarray(frames, dtype=np.int64)
    return np.asarray(frames, dtype=np.int64)[np.linspace(0, len(frames) - 1, count).round().astype(np.int64)]


class ChunkVectors:
    """qpos and action chunks of every frame, normalized, in memory (they are small)."""

    def __init__(self, episodes: Sequence[Episode], normalization: Normalization, chunk_size: int):
        self.index = FrameIndex([len(e.qpos) for e in episodes])
        self.chunk_size = chunk_size
        self.qpos = normalization.qpos.normalize(torch.from_numpy(np.concatenate([e.qpos for e in episodes])))  # (N, Ds)
        self.action = normalization.action.normalize(torch.from_numpy(np.concatenate([e.action for e in episodes])))  # (N, Da)
        self._end_of = torch.from_numpy(self.index.end_of)  # (N,)

    def gather(self, frames: np.ndarray) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """(B,) start frames -> qpos (B, Ds), actions (B, S, Da), is_pad (B, S)."""
        start = torch.from_numpy(np.asarray(frames, dtype=np.int64))  # (B,)
        steps = start[:, None] + torch.arange(self.chunk_size)  # (B, S) frame of each chunk step
        end = self._end_of[start][:, None]  # (B, 1)
        is_pad = steps >= end  # (B, S)
        # Past the end the last action repeats; it is masked out of the loss anyway.
        steps = torch.minimum(steps, end - 1)
        return self.qpos[start], self.action[steps], is_pad


def frame_bytes(n_frames: int, n_cameras: int, image_size: tuple[int, int]) -> int:
    return n_frames * n_cameras * 3 * image_size[0] * image_size[1]


def _read_camera(h5, camera: str, image_size: tuple[int, int], out: torch.Tensor) -> None:
    """Decodes and resizes one camera's frames of one episode into out: (T, 3, H, W) uint8."""
    name = image_path(camera)
    length = h5[name].shape[0]
    for start in range(0, length, _READ_BLOCK):
        block = read_frames(h5, name, start, min(start + _READ_BLOCK, length))  # (n, H0, W0, 3) uint8
        out[start:start + len(block)] = frames_to_model_size(block, image_size)


class InMemoryChunks:
    """Every frame of every episode, resized, as one (N, N_cam, 3, H, W) uint8 tensor."""

    def __init__(self, infos: Sequence[EpisodeInfo], vectors: ChunkVectors, camera_names: Sequence[str],
                 image_size: tuple[int, int], device: torch.device | str = 'cpu', progress=None):
        import h5py

        self.vectors = vectors
        n_frames = vectors.index.n_frames
        self.frames = torch.empty((n_frames, len(camera_names), 3, *image_size), dtype=torch.uint8, device=device)
        for e, info in enumerate(infos):
            start = int(vectors.index.starts[e])
            scratch = torch.empty((info.length, 3, *image_size), dtype=torch.uint8)
            with h5py.File(info.path, 'r') as h5:
                for c, camera in enumerate(camera_names):
                    _read_camera(h5, camera, image_size, scratch)
                    self.frames[start:start + info.length, c].copy_(scratch)
            if progress is not None:
                progress(e + 1, len(infos))

    def batch(self, frames: np.ndarray) -> Batch:
        qpos, actions, is_pad = self.vectors.gather(frames)
        index = torch.from_numpy(np.asarray(frames, dtype=np.int64)).to(self.frames.device)
        return Batch(self.frames.index_select(0, index), qpos, actions, is_pad)

    def iterate(self, sampler: StepSampler, steps: range, rank: int, world_size: int) -> Iterator[tuple[int, Batch]]:
        for step in steps:
            yield step, self.batch(sampler.rank_indices(step, rank, world_size))


class LazyFrameDataset(torch.utils.data.Dataset):
    """Frames of one start step, read from its HDF5 file on demand (in a worker process)."""

    def __init__(self, infos: Sequence[EpisodeInfo], index: FrameIndex, camera_names: Sequence[str],
                 image_size: tuple[int, int]):
        self.paths = [str(info.path) for info in infos]
        self.index = index
        self.camera_names = tuple(camera_names)
        self.image_size = image_size
        self._files: dict[int, object] = {}  # opened per worker: h5py handles do not cross processes

    def __len__(self) -> int:
        return self.index.n_frames

    def __getitem__(self, frame: int) -> torch.Tensor:
        import h5py

        episode = int(self.index.episode_of[frame])
        step = int(frame - self.index.starts[episode])
        if episode not in self._files:
            self._files[episode] = h5py.File(self.paths[episode], 'r')
        h5 = self._files[episode]
        frames = np.concatenate([read_frames(h5, image_path(camera), step, step + 1)
                                 for camera in self.camera_names])  # (N_cam, H0, W0, 3)
        return frames_to_model_size(frames, self.image_size)  # (N_cam, 3, H, W)

    def __getstate__(self):
        state = dict(self.__dict__)
        state['_files'] = {}
        return state


class _StepBatches(torch.utils.data.Sampler):
    def __init__(self, sampler: StepSampler, steps: range, rank: int, world_size: int):
        self.sampler, self.steps, self.rank, self.world_size = sampler, steps, rank, world_size

    def __iter__(self):
        for step in self.steps:
            yield self.sampler.rank_indices(step, self.rank, self.world_size).tolist()

    def __len__(self) -> int:
        return len(self.steps)


class LazyChunks:
    """Batches whose frames come from DataLoader workers reading the HDF5 files."""

    def __init__(self, infos: Sequence[EpisodeInfo], vectors: ChunkVectors, camera_names: Sequence[str],
                 image_size: tuple[int, int], num_workers: int, pin_memory: bool):
        self.vectors = vectors
        self.dataset = LazyFrameDataset(infos, vectors.index, camera_names, image_size)
        self.num_workers = num_workers
        self.pin_memory = pin_memory

    def batch(self, frames: np.ndarray) -> Batch:
        qpos, actions, is_pad = self.vectors.gather(frames)
        images = torch.stack([self.dataset[int(f)] for f in frames])
        return Batch(images, qpos, actions, is_pad)

    def iterate(self, sampler: StepSampler, steps: range, rank: int, world_size: int) -> Iterator[tuple[int, Batch]]:
        loader = torch.utils.data.DataLoader(
            self.dataset, batch_sampler=_StepBatches(sampler, steps, rank, world_size),
            num_workers=self.num_workers, pin_memory=self.pin_memory, persistent_workers=False,
            prefetch_factor=4 if self.num_workers > 0 else None)
        for step, images in zip(steps, loader):
            qpos, actions, is_pad = self.vectors.gather(sampler.rank_indices(step, rank, world_size))
            yield step, Batch(images, qpos, actions, is_pad)

