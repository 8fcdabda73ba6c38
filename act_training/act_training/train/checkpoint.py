"""Checkpoint folders: what they hold, written atomically, read without unpickling.

A checkpoint is a folder:
  model.safetensors           the network's weights (fp32)
  config.json                 model and training configs, dataset info, step, metrics
  normalization.json          qpos/action mean and std (robot units <-> model units)
  training_state.safetensors  optimizer tensors (resumable checkpoints only)
  training_state.json         step, optimizer hyperparameters, scheduler, best validation

Atomic replacement: the new folder is written under a temporary name and fsynced; then
the old folder is renamed aside (`.<name>.prev`), the new one renamed into place, and the
old one deleted. At every instant either `<name>` or `.<name>.prev` is a complete
checkpoint, and `resolve_checkpoint_dir` finds it; a kill mid-save never leaves a
half-written folder under the real name.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping

import torch

from act_common.errors import ActError
from act_training.config import (DatasetInfo, ModelConfig, TrainConfig, config_to_dict, model_config_from_dict,
                                 train_config_from_dict)
from act_training.data.normalization import Normalization

log = logging.getLogger('act_training')

FORMAT = 'act_training.checkpoint/1'
MODEL_FILE = 'model.safetensors'
CONFIG_FILE = 'config.json'
NORMALIZATION_FILE = 'normalization.json'
STATE_TENSORS_FILE = 'training_state.safetensors'
STATE_JSON_FILE = 'training_state.json'


class CheckpointError(ActError, RuntimeError):
    """A checkpoint folder is missing or unreadable; the message names the folder and file."""


@dataclass
class TrainingState:
    """Everything besides the weights that `--resume` needs to continue exactly."""

    step: int  # optimizer steps completed
    optimizer: dict[str, Any]  # torch optimizer state_dict
    scheduler: dict[str, Any]  # torch LR scheduler state_dict
    best_val_l1: float | None = None
    best_step: int | None = None
    elapsed_s: float = 0.0


@dataclass
class Checkpoint:
    path: Path
    model_config: ModelConfig
    train_config: TrainConfig
    dataset: DatasetInfo
    normalization: Normalization
    state_dict: dict[str, torch.Tensor]
    step: int
    metrics: dict[str, Any] = field(default_factory=dict)
    # sha256 of model.safetensors: identifies the weights whatever the folder is called.
    weights_sha256: str = ''


def _prev_dir(path: Path) -> Path:
    return path.parent / f'.{path.name}.prev'


def resolve_checkpoint_dir(path: str | Path) -> Path:
    """The complete checkpoint at `path`, or the previous one if a save was killed between
    its two renames."""
    path = Path(path)
    if (path / CONFIG_FILE).is_file():
        return path
    previous = _prev_dir(path)
    if (previous / CONFIG_FILE).is_file():
        log.warning('%s is missing (a save was interrupted); using the previous checkpoint %s', path, previous)
        return previous
    if path.is_dir():
        raise CheckpointError(f'{path}: not a checkpoint folder (no {CONFIG_FILE})')
    raise CheckpointError(f'{path}: checkpoint folder does not exist')


def _write_file(path: Path, data: bytes) -> None:
    with open(path, 'wb') as handle:
        handle.write(data)
        handle.flush()
        os.fsync(handle.fileno())


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _flatten_optimizer(state: Mapping[str, Any]) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    """torch optimizer state_dict -> (tensors for safetensors, JSON-able rest)."""
    tensors, scalars = {}, {}
    for index, per_param in state['state'].items():
        for key, value in per_param.items():
            if isinstance(value, torch.Tensor):
                tensors[f'optimizer.{index}.{key}'] = value.detach().cpu().contiguous()
            else:
                scalars[f'{index}.{key}'] = value
    groups = [{key: list(value) if isinstance(value, tuple) else value for key, value in group.items()}
              for group in state['param_groups']]
    return tensors, {'param_groups': groups, 'scalars': scalars}


def _unflatten_optimizer(tensors: Mapping[str, torch.Tensor], meta: Mapping[str, Any]) -> dict[str, Any]:
    state: dict[int, dict[str, Any]] = {}
    for name, value in tensors.items():
        _, index, key = name.split('.', 2)
        state.setdefault(int(index), {})[key] = value
    for name, value in meta['scalars'].items():
        index, key = name.split('.', 1)
        state.setdefault(int(index), {})[key] = value
    groups = [{key: tuple(value) if key == 'betas' else value for key, value in group.items()}
              for group in meta['param_groups']]
    return {'state': state, 'param_groups': groups}


def save_checkpoint(path: str | Path, *, state_dict: Mapping[str, torch.Tensor], model_config: ModelConfig,
                    train_config: TrainConfig, dataset: DatasetInfo, normalization: Normalization, step: int,
                    metrics: Mapping[str, Any] | None = None, training_state: TrainingState | None = None) -> Path:
    """Writes the checkpoint folder `path` atomically (see the module docstring)."""
    from safetensors.torch import save as safetensors_bytes

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    for stale in path.parent.glob(f'.{path.name}.tmp-*'):
        shutil.rmtree(stale, ignore_errors=True)
    tmp = path.parent / f'.{path.name}.tmp-{os.getpid()}'
    tmp.mkdir()
    try:
        weights = {name: tensor.detach().cpu().contiguous() for name, tensor in state_dict.items()}
        _write_file(tmp / MODEL_FILE, safetensors_bytes(weights, metadata={'format': FORMAT}))
        config = {
            'format': FORMAT, 'step': step, 'metrics': dict(metrics or {}),
            'model': config_to_dict(model_config), 'train': config_to_dict(train_config),
            'dataset': dataset.to_dict(),
        }
        _write_file(tmp / CONFIG_FILE, json.dumps(config, indent=2).encode())
        _write_file(tmp / NORMALIZATION_FILE, normalization.to_json().encode())
        if training_state is not None:
            tensors, optimizer_meta = _flatten_optimizer(training_state.optimizer)
            _write_file(tmp / STATE_TENSORS_FILE, safetensors_bytes(tensors, metadata={'format': FORMAT}))
            state_json = {
                'format': FORMAT, 'step': training_state.step, 'optimizer': optimizer_meta,
                'scheduler': training_state.scheduler, 'best_val_l1': training_state.best_val_l1,
                'best_step': training_state.best_step, 'elapsed_s': training_state.elapsed_s,
            }
            _write_file(tmp / STATE_JSON_FILE, json.dumps(state_json, indent=2).encode())
        _fsync_dir(tmp)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    _swap_into_place(tmp, path)
    return path


def _swap_into_place(tmp: Path, path: Path) -> None:
    previous = _prev_dir(path)
    if path.exists():
        if previous.exists():
            shutil.rmtree(previous)  # left by an older interrupted save; `path` is complete
        os.rename(path, previous)
    os.rename(tmp, path)
    _fsync_dir(path.parent)
    if previous.exists():
        shutil.rmtree(previous)


def _read_json(path: Path) -> dict[str, Any]:
    try:
        return json.loads(path.read_text())
    except OSError as error:
        raise CheckpointError(f'{path}: cannot read: {error}') from error
    except json.JSONDecodeError as error:
        raise CheckpointError(f'{path}: not valid JSON: {error}') from error


def load_checkpoint_configs(path: str | Path) -> tuple[ModelConfig, TrainConfig]:
    """The model and training configs of a checkpoint (config.json only)."""
    path = resolve_checkpoint_dir(path)
    config = _read_json(path / CONFIG_FILE)
    try:
        return (model_config_from_dict(config['model'], f'{path / CONFIG_FILE}: model'),
                train_config_from_dict(config['train'], f'{path / CONFIG_FILE}: train'))
    except (KeyError, TypeError) as error:
        raise CheckpointError(f'{path / CONFIG_FILE}: malformed: {error}') from error


def load_checkpoint_dataset(path: str | Path) -> DatasetInfo:
    """What a checkpoint remembers of its training episodes (config.json only): cameras,
    their frame sizes, the sim render settings they were recorded with, ..."""
    path = resolve_checkpoint_dir(path)
    config = _read_json(path / CONFIG_FILE)
    try:
        return DatasetInfo.from_dict(config['dataset'])
    except (KeyError, TypeError, ValueError) as error:
        raise CheckpointError(f'{path / CONFIG_FILE}: malformed dataset info: {error}') from error


def load_checkpoint(path: str | Path, device: str | torch.device = 'cpu') -> Checkpoint:
    """Reads a checkpoint folder (weights through safetensors: nothing is unpickled)."""
    from safetensors.torch import load as safetensors_load

    path = resolve_checkpoint_dir(path)
    config = _read_json(path / CONFIG_FILE)
    if config.get('format') != FORMAT:
        raise CheckpointError(f'{path / CONFIG_FILE}: format {config.get("format")!r}, expected {FORMAT!r}')
    try:
        model_config = model_config_from_dict(config['model'], f'{path / CONFIG_FILE}: model')
        train_config = train_config_from_dict(config['train'], f'{path / CONFIG_FILE}: train')
        dataset = DatasetInfo.from_dict(config['dataset'])
    except (KeyError, TypeError, ValueError) as error:
        raise CheckpointError(f'{path / CONFIG_FILE}: malformed: {error}') from error
    try:
        normalization = Normalization.load(path / NORMALIZATION_FILE)
    except OSError as error:
        raise CheckpointError(f'{path / NORMALIZATION_FILE}: cannot read: {error}') from error
    try:
        data = (path / MODEL_FILE).read_bytes()
        state_dict = safetensors_load(data)
    except OSError as error:
        raise CheckpointError(f'{path / MODEL_FILE}: cannot read: {error}') from error
    except Exception as error:  # safetensors raises its own error types for corrupt files
        raise CheckpointError(f'{path / MODEL_FILE}: not a valid safetensors file: {error}') from error
    if str(device) != 'cpu':
        state_dict = {name: tensor.to(device) for name, tensor in state_dict.items()}
    return Checkpoint(path=path, model_config=model_config, train_config=train_config, dataset=dataset,
                      normalization=normalization, state_dict=state_dict, step=int(config.get('step', 0)),
                      metrics=dict(config.get('metrics', {})), weights_sha256=hashlib.sha256(data).hexdigest())


def load_training_state(path: str | Path) -> TrainingState:
    from safetensors.torch import load_file

    path = resolve_checkpoint_dir(path)
    if not (path / STATE_JSON_FILE).is_file() or not (path / STATE_TENSORS_FILE).is_file():
        raise CheckpointError(f'{path}: no training state ({STATE_JSON_FILE}); only `last` checkpoints can be resumed')
    meta = _read_json(path / STATE_JSON_FILE)
    try:
        tensors = load_file(str(path / STATE_TENSORS_FILE))
    except Exception as error:
        raise CheckpointError(f'{path / STATE_TENSORS_FILE}: not a valid safetensors file: {error}') from error
    try:
        return TrainingState(step=int(meta['step']), optimizer=_unflatten_optimizer(tensors, meta['optimizer']),
                             scheduler=dict(meta['scheduler']), best_val_l1=meta.get('best_val_l1'),
                             best_step=meta.get('best_step'), elapsed_s=float(meta.get('elapsed_s', 0.0)))
    except (KeyError, TypeError, ValueError) as error:
        raise CheckpointError(f'{path / STATE_JSON_FILE}: malformed: {error}') from error
