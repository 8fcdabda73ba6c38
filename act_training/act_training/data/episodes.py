"""Reads and checks episodes in the ACT HDF5 layout (act_training.hdf5_format), the
contract between conversion and training; existing ALOHA datasets (without our attributes,
or in the ALOHA 2 JPEG-row variant) read too.

Every check happens before training starts, and every error names the file and the field.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from act_common.episode_format import HDF5_SUFFIX, episode_index_of
from act_common.errors import ActError
from act_training.data.jpeg_rows import JpegRowError, decode_row, decode_rows
from act_training.hdf5_format import ACTION, COMPRESS_ATTRIBUTE, IMAGES, JSON_LIST_ATTRIBUTES, QPOS, image_path

# The ALOHA rate, for datasets that do not record theirs.
DEFAULT_CONTROL_RATE_HZ = 50.0
# The ALOHA vector layout (act_common's robot configs), assumed for 14-entry datasets
# recorded before vector_names existed: per arm 6 joints then the gripper.
ALOHA_JOINTS = ('waist', 'shoulder', 'elbow', 'forearm_roll', 'wrist_angle', 'wrist_rotate', 'gripper')
ALOHA_VECTOR_NAMES = tuple(f'{arm}_{joint}' for arm in ('left', 'right') for joint in ALOHA_JOINTS)


class EpisodeDataError(ActError, ValueError):
    """An episode file is unusable; the message names the file and the field."""


@dataclass(frozen=True)
class EpisodeInfo:
    """What an episode holds, read without loading its frames."""

    path: Path
    length: int
    state_dim: int
    action_dim: int
    # Camera name -> (H, W) of its frames.
    cameras: dict[str, tuple[int, int]]
    attrs: dict[str, Any] = field(default_factory=dict)

    @property
    def name(self) -> str:
        return self.path.name

    @property
    def vector_names(self) -> tuple[str, ...] | None:
        names = self.attrs.get('vector_names')
        return tuple(names) if names is not None else None

    @property
    def control_rate_hz(self) -> float | None:
        rate = self.attrs.get('control_rate_hz')
        return float(rate) if rate is not None else None


@dataclass
class Episode:
    info: EpisodeInfo
    qpos: np.ndarray  # (T, D_state) float32
    action: np.ndarray  # (T, D_action) float32


def find_episodes(data_dir: str | Path) -> list[Path]:
    """episode_<index>.hdf5 files in data_dir, ordered by index."""
    data_dir = Path(data_dir)
    if not data_dir.is_dir():
        raise EpisodeDataError(f'{data_dir}: data directory does not exist')
    found = [(index, path) for path in data_dir.iterdir()
             if (index := episode_index_of(path.name, HDF5_SUFFIX)) is not None]
    if not found:
        raise EpisodeDataError(f'{data_dir}: no episode_<index>.hdf5 files')
    return [path for _, path in sorted(found)]


def _decode_attr(value: Any) -> Any:
    if isinstance(value, bytes):
        value = value.decode()
    if isinstance(value, np.generic):
        value = value.item()
    return value


def _read_attrs(path: Path, attrs) -> dict[str, Any]:
    out = {key: _decode_attr(attrs[key]) for key in attrs}
    for key in JSON_LIST_ATTRIBUTES:
        if key in out:
            value = out[key]
            if isinstance(value, str):
                try:
                    value = json.loads(value)
                except json.JSONDecodeError as error:
                    raise EpisodeDataError(f'{path}: attribute {key}: not a JSON list ({error})') from None
            elif isinstance(value, np.ndarray):
                value = [_decode_attr(v) for v in value.tolist()]
            if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
                raise EpisodeDataError(f'{path}: attribute {key}: expected a JSON list of strings, got {value!r}')
            out[key] = value
    rate = out.get('control_rate_hz')
    if rate is not None and (not isinstance(rate, (int, float)) or not np.isfinite(rate) or rate <= 0):
        raise EpisodeDataError(f'{path}: attribute control_rate_hz: expected a positive number, got {rate!r}')
    return out


def _vector_dataset(path: Path, h5, name: str) -> tuple[int, int]:
    if name not in h5:
        raise EpisodeDataError(f'{path}: {name}: missing')
    dataset = h5[name]
    if dataset.ndim != 2 or dataset.dtype.kind not in 'fiu':
        raise EpisodeDataError(f'{path}: {name}: expected a (T, D) numeric array, got shape {dataset.shape} {dataset.dtype}')
    return dataset.shape


def inspect_episode(path: str | Path, camera_names: Sequence[str] | None = None) -> EpisodeInfo:
    """Checks the layout (datasets present, shapes consistent, non-empty, finite values)
    without reading frames. camera_names: cameras that must be present; None = any."""
    import h5py

    path = Path(path)
    try:
        h5 = h5py.File(path, 'r')
    except OSError as error:
        raise EpisodeDataError(f'{path}: cannot open as HDF5: {error}') from error
    with h5:
        length, state_dim = _vector_dataset(path, h5, QPOS)
        action_length, action_dim = _vector_dataset(path, h5, ACTION)
        if length == 0:
            raise EpisodeDataError(f'{path}: {QPOS}: empty episode (0 steps)')
        if action_length != length:
            raise EpisodeDataError(f'{path}: {ACTION}: has {action_length} steps but {QPOS} has {length}')
        for name in (QPOS, ACTION):
            values = h5[name][()]
            bad = np.argwhere(~np.isfinite(values))
            if len(bad):
                raise EpisodeDataError(f'{path}: {name}: non-finite value {values[tuple(bad[0])]} at step {bad[0][0]}, '
                                       f'entry {bad[0][1]} ({len(bad)} in all)')
        available = sorted(h5[IMAGES].keys()) if IMAGES in h5 else []
        wanted = available if camera_names is None else list(camera_names)
        cameras = {}
        for camera in wanted:
            name = image_path(camera)
            if camera not in available:
                raise EpisodeDataError(f'{path}: {name}: missing camera {camera!r}; the file has cameras {available}')
            frames = h5[name]
            if frames.shape[0] != length:
                raise EpisodeDataError(f'{path}: {name}: has {frames.shape[0]} frames but {QPOS} has {length} steps')
            cameras[camera] = _frame_size(path, h5, name)
        attrs = _read_attrs(path, h5.attrs)
    info = EpisodeInfo(path=path, length=int(length), state_dim=int(state_dim), action_dim=int(action_dim),
                       cameras=cameras, attrs=attrs)
    names = info.vector_names
    if names is not None and len(names) != state_dim:
        raise EpisodeDataError(f'{path}: attribute vector_names: {len(names)} names but {QPOS} has {state_dim} entries')
    action_names = attrs.get('action_names')
    if action_names is not None and len(action_names) != action_dim:
        raise EpisodeDataError(f'{path}: attribute action_names: {len(action_names)} names but {ACTION} has '
                               f'{action_dim} entries')
    return info


def jpeg_rows(h5, name: str) -> bool:
    """Whether dataset `name` holds ALOHA 2 JPEG rows (T, L) rather than (T, H, W, 3) pixels."""
    return h5[name].ndim == 2


def _frame_size(path: Path, h5, name: str) -> tuple[int, int]:
    """(H, W) of a camera dataset, either layout; errors name the file and the dataset."""
    frames = h5[name]
    if frames.dtype != np.uint8:
        raise EpisodeDataError(f'{path}: {name}: expected uint8 frames, got {frames.dtype}')
    if frames.ndim == 4 and frames.shape[-1] == 3:
        return int(frames.shape[1]), int(frames.shape[2])
    if frames.ndim == 2:
        if not h5.attrs.get(COMPRESS_ATTRIBUTE, False):
            raise EpisodeDataError(f'{path}: {name}: (T, L) rows of bytes but the file has no true `{COMPRESS_ATTRIBUTE}` '
                                   'attribute (the ALOHA 2 JPEG layout sets it)')
        if frames.shape[0] == 0:
            raise EpisodeDataError(f'{path}: {name}: no frames')
        try:
            first = decode_row(frames[0])
        except JpegRowError as error:
            raise EpisodeDataError(f'{path}: {name}: frame 0: {error}') from None
        return int(first.shape[0]), int(first.shape[1])
    raise EpisodeDataError(f'{path}: {name}: expected (T, H, W, 3) uint8 RGB frames or (T, L) uint8 JPEG rows '
                           f'(ALOHA 2 `{COMPRESS_ATTRIBUTE}` layout), got shape {frames.shape}')


def read_frames(h5, name: str, start: int, stop: int) -> np.ndarray:
    """Frames start..stop-1 of camera dataset `name` as (n, H, W, 3) uint8, either layout."""
    block = h5[name][start:stop]
    if block.ndim == 4:
        return block
    try:
        return decode_rows(block)
    except JpegRowError as error:
        raise EpisodeDataError(f'{h5.filename}: {name}: frames {start}..{stop - 1}: {error}') from None


def default_vector_names(state_dim: int) -> tuple[str, ...]:
    """Names for episodes without the vector_names attribute."""
    return ALOHA_VECTOR_NAMES if state_dim == len(ALOHA_VECTOR_NAMES) else tuple(f'state_{i}' for i in range(state_dim))


def read_vectors(info: EpisodeInfo) -> Episode:
    import h5py

    with h5py.File(info.path, 'r') as h5:
        return Episode(info=info, qpos=h5[QPOS][()].astype(np.float32), action=h5[ACTION][()].astype(np.float32))


def check_consistent(infos: Sequence[EpisodeInfo]) -> None:
    """All episodes must describe the same robot: same vector sizes and names, same cameras."""
    first = infos[0]
    for info in infos[1:]:
        for field_name, where in (('state_dim', QPOS), ('action_dim', ACTION)):
            if getattr(info, field_name) != getattr(first, field_name):
                raise EpisodeDataError(f'{info.path}: {where}: {getattr(info, field_name)} entries per step, but '
                                       f'{first.name} has {getattr(first, field_name)}')
        if info.vector_names and first.vector_names and info.vector_names != first.vector_names:
            raise EpisodeDataError(f'{info.path}: attribute vector_names {list(info.vector_names)} differs from '
                                   f'{first.name}: {list(first.vector_names)}')
        if sorted(info.cameras) != sorted(first.cameras):
            raise EpisodeDataError(f'{info.path}: {IMAGES}: cameras {sorted(info.cameras)} differ from {first.name}: '
                                   f'{sorted(first.cameras)}')
