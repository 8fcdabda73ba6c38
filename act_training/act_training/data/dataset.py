"""A folder of episodes, checked and made ready for training: model config resolved against
the data, train/validation split by episode, normalization statistics, and the sample
source (in memory or lazy)."""

from __future__ import annotations

import json

import logging
import time
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Callable, Sequence

import numpy as np
import torch

from act_training.config import ConfigError, DatasetInfo, ModelConfig, TrainConfig
from act_training.data.chunks import (ChunkVectors, FrameIndex, InMemoryChunks, LazyChunks, frame_bytes,
                                      validation_frames)
from act_training.data.episodes import (DEFAULT_CONTROL_RATE_HZ, EpisodeDataError, EpisodeInfo, check_consistent,
                                        default_vector_names, find_episodes, inspect_episode, read_vectors)
from act_training.data.normalization import Normalization, VectorStats
from act_training.hdf5_format import ACTION, QPOS

log = logging.getLogger('act_training')
GIB = 1024 ** 3


@dataclass
class TrainingData:
    model_config: ModelConfig  # resolved: cameras and vector sizes fixed
    info: DatasetInfo
    normalization: Normalization
    train_frames: np.ndarray  # start frames to sample from
    val_frames: np.ndarray  # the fixed validation samples
    # The vision diagnostic's samples (validation_probe_frames): {'t0': (E_val,), 'mid': (2 * E_val,)}
    probe_frames: dict[str, np.ndarray]
    source: InMemoryChunks | LazyChunks
    in_memory: bool


def oversample_early_steps(index: FrameIndex, episodes: Sequence[int], early_steps: int, weight: int) -> np.ndarray:
    """Start frames of the given episodes to sample from, with the first `early_steps` of
    each episode listed `weight` times (TrainConfig.early_steps says why). (N,) int64"""
    frames = index.frames_of(list(episodes))
    if early_steps <= 0 or weight <= 1 or len(frames) == 0:
        return frames
    step_in_episode = frames - index.starts[index.episode_of[frames]]  # (N,)
    early = frames[step_in_episode < early_steps]
    return np.concatenate([frames] + [early] * (weight - 1))


def validation_probe_frames(index: FrameIndex, episodes: Sequence[int]) -> dict[str, np.ndarray]:
    """The frames of the vision diagnostic, per held-out episode: 't0', its first step, and
    'mid', the steps at 1/4 and 1/2 of its length (100 and 200 of a 400-step episode).

    At t = 0 every scripted episode starts from the same qpos, so only the images tell the
    episodes apart: a policy that ignores its camera predicts the same chunk for all of
    them, and its t0 error stays far above its mid-episode error, where qpos already
    encodes the path (issue 10's measurement: 0.13-0.16 against 0.02-0.03 action std).
    """
    episodes = list(episodes)
    starts, lengths = index.starts[episodes], index.lengths[episodes]  # (E,)
    mid = np.concatenate([starts + lengths // 4, starts + lengths // 2])  # (2E,)
    return {'t0': np.asarray(starts, dtype=np.int64), 'mid': np.asarray(mid, dtype=np.int64)}


def split_episodes(names: Sequence[str], val_fraction: float, seed: int) -> tuple[list[str], list[str]]:
    """(train, val) episode names: a seeded shuffle, val gets round(fraction * n) episodes
    (at least one when the fraction is > 0 and there are two or more episodes)."""
    n = len(names)
    n_val = 0
    if val_fraction > 0 and n >= 2:
        n_val = min(max(1, round(val_fraction * n)), n - 1)
    order = np.random.Generator(np.random.PCG64(seed)).permutation(n)
    val = {names[i] for i in order[:n_val]}
    return [name for name in names if name not in val], [name for name in names if name in val]


def _resolve_model_config(config: ModelConfig, first: EpisodeInfo, data_dir: Path) -> ModelConfig:
    camera_names = config.camera_names or tuple(sorted(first.cameras))
    if not camera_names:
        raise EpisodeDataError(f'{first.path}: /observations/images: no cameras; ACT needs at least one')
    for name, value, where in (('state_dim', first.state_dim, QPOS), ('action_dim', first.action_dim, ACTION)):
        wanted = getattr(config, name)
        if wanted is not None and wanted != value:
            raise EpisodeDataError(f'{data_dir}: model.{name} is {wanted} but the episodes\' {where} has {value} entries per step')
    return replace(config, camera_names=camera_names, state_dim=first.state_dim, action_dim=first.action_dim)


def _dataset_info(infos: Sequence[EpisodeInfo], config: ModelConfig, train: Sequence[str], val: Sequence[str]) -> DatasetInfo:
    first = infos[0]
    rate = first.control_rate_hz
    if rate is None:
        log.warning('%s: no control_rate_hz attribute; assuming %s Hz (ALOHA)', first.path, DEFAULT_CONTROL_RATE_HZ)
        rate = DEFAULT_CONTROL_RATE_HZ
    return DatasetInfo(
        vector_names=first.vector_names or default_vector_names(first.state_dim),
        camera_names=config.camera_names, control_rate_hz=rate,
        train_episodes=tuple(train), val_episodes=tuple(val),
        robot=str(first.attrs.get('robot', '')), task=str(first.attrs.get('task', '')),
        episode_lengths={info.name: info.length for info in infos},
        camera_sizes={name: first.cameras[name] for name in config.camera_names if name in first.cameras},
        render_settings=_render_settings(infos))


def _render_settings(infos: Sequence[EpisodeInfo]) -> dict | None:
    """The episodes' common `render_settings` attribute (a JSON object); None when the
    first has none. Episodes rendered differently are refused: which scene would the
    checkpoint have learned?"""
    def read(info: EpisodeInfo):
        value = info.attrs.get('render_settings')
        if value is None:
            return None
        try:
            value = json.loads(value) if isinstance(value, str) else value
        except json.JSONDecodeError as error:
            raise EpisodeDataError(f'{info.path}: attribute render_settings: not JSON ({error})') from None
        if not isinstance(value, dict):
            raise EpisodeDataError(f'{info.path}: attribute render_settings: expected a JSON object, got {value!r}')
        return value

    first = read(infos[0])
    for info in infos[1:]:
        other = read(info)
        if other != first:
            raise EpisodeDataError(f'{info.path}: attribute render_settings {other} differs from {first} of '
                                   f'{infos[0].path}: the episodes were rendered differently')
    return first


def inspect_data_dir(data_dir: str | Path, camera_names: Sequence[str] = ()) -> list[EpisodeInfo]:
    """Checks every episode of the folder (no frames read) and that they agree."""
    data_dir = Path(data_dir)
    paths = find_episodes(data_dir)
    first = inspect_episode(paths[0], camera_names or None)
    cameras = list(camera_names) or sorted(first.cameras)
    infos = [first] + [inspect_episode(path, cameras) for path in paths[1:]]
    check_consistent(infos)
    return infos


def prepare_training_data(data_dir: str | Path, model_config: ModelConfig, train_config: TrainConfig, *,
                          device: torch.device, world_size: int = 1,
                          resume_info: DatasetInfo | None = None, resume_normalization: Normalization | None = None,
                          progress: Callable[[int, int], None] | None = None) -> TrainingData:
    """Checks the whole folder first (any bad episode fails here, before anything is
    written), then loads it. On resume, the split and statistics come from the checkpoint
    and the folder must still hold the same episodes with the same lengths."""
    data_dir = Path(data_dir)
    infos = inspect_data_dir(data_dir, model_config.camera_names)
    config = _resolve_model_config(model_config, infos[0], data_dir)
    by_name = {info.name: info for info in infos}

    if resume_info is not None:
        train_names, val_names = list(resume_info.train_episodes), list(resume_info.val_episodes)
        for name in train_names + val_names:
            if name not in by_name:
                raise EpisodeDataError(f'{data_dir}: {name}: the checkpoint trained on it but it is missing; resume needs the same data')
            if resume_info.episode_lengths.get(name) not in (None, by_name[name].length):
                raise EpisodeDataError(f'{data_dir / name}: {QPOS}: {by_name[name].length} steps, but the checkpoint '
                                       f'trained on {resume_info.episode_lengths[name]}; resume needs the same data')
    else:
        train_names, val_names = split_episodes(list(by_name), train_config.val_fraction, train_config.seed)
    used = [by_name[name] for name in train_names + val_names]
    info = _dataset_info(used, config, train_names, val_names)
    if train_config.batch_size % world_size:
        raise ConfigError(f'train.batch_size ({train_config.batch_size}) must be divisible by the number of processes ({world_size})')

    episodes = [read_vectors(e) for e in used]
    normalization = resume_normalization or Normalization(
        qpos=VectorStats.of([e.qpos for e in episodes[:len(train_names)]], train_config.std_floor),
        action=VectorStats.of([e.action for e in episodes[:len(train_names)]], train_config.std_floor),
        std_floor=train_config.std_floor)
    vectors = ChunkVectors(episodes, normalization, config.chunk_size)
    train_frames = oversample_early_steps(vectors.index, range(len(train_names)), train_config.early_steps,
                                          train_config.early_steps_weight)
    val_frames = validation_frames(vectors.index.frames_of(range(len(train_names), len(used))), train_config.val_samples)
    probe_frames = validation_probe_frames(vectors.index, range(len(train_names), len(used)))

    n_bytes = frame_bytes(vectors.index.n_frames, len(config.camera_names), config.image_size)
    in_memory = n_bytes <= train_config.memory_budget_gb * GIB
    if in_memory:
        store_device = torch.device('cpu')
        if device.type == 'cuda':
            free, _ = torch.cuda.mem_get_info(device)
            # Frames on the GPU make a batch one gather there, with no host-to-device copy;
            # half the free memory is left to the model and activations.
            if n_bytes <= free // 2:
                store_device = device
        log.info('loading %d frames x %d cameras at %dx%d into %s memory (%.2f GiB of a %.1f GiB budget)',
                 vectors.index.n_frames, len(config.camera_names), *config.image_size, store_device.type,
                 n_bytes / GIB, train_config.memory_budget_gb)
        started = time.monotonic()
        source = InMemoryChunks(used, vectors, config.camera_names, config.image_size, store_device, progress)
        log.info('frames decoded and resized in %.1f s', time.monotonic() - started)
    else:
        log.info('frames need %.1f GiB > memory_budget_gb %.1f: %d worker processes read them from the HDF5 files',
                 n_bytes / GIB, train_config.memory_budget_gb, train_config.num_workers)
        source = LazyChunks(used, vectors, config.camera_names, config.image_size, train_config.num_workers,
                            pin_memory=device.type == 'cuda')
    return TrainingData(model_config=config, info=info, normalization=normalization, train_frames=train_frames,
                        val_frames=val_frames, probe_frames=probe_frames, source=source, in_memory=in_memory)
