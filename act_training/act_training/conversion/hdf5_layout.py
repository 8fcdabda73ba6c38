"""The training episode file: the original ACT HDF5 layout, plus attributes that say what
the numbers are. This layout is the contract between conversion and training.

    /observations/qpos            (T, D) float64  follower state on the control grid
    /observations/qvel            (T, D) float64  its velocity (rad/s; gripper: opening/s)
    /observations/images/<camera> (T, H, W, 3) uint8 RGB
    /action                       (T, D) float64  commanded targets at each tick
    attributes: sim (bool), task, robot, vector_names (JSON list, names of qpos/qvel),
    action_names (JSON list, names of action), camera_names (JSON list), control_rate_hz, success, seed, source (the bag path), episode_index,
    action_source, time_source

D = len(vector_names): per arm 6 joints (rad) then the gripper opening normalized
0 = closed .. 1 = open (qpos: the follower fingers; action: the leader gripper).
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np


@dataclass
class TrainingEpisode:
    qpos: np.ndarray  # (T, D)
    qvel: np.ndarray  # (T, D)
    action: np.ndarray  # (T, D)
    images: dict[str, np.ndarray]  # camera -> (T, H, W, 3) uint8, or filled by write_rows
    attributes: dict


def episode_file_name(index: int) -> str:
    return f'episode_{index}.hdf5'


class EpisodeFileWriter:
    """Writes one episode file through a temporary name, renamed into place on success,
    so an interrupted or failed conversion never leaves a half-written episode."""

    def __init__(self, path: Path, length: int, vector_size: int):
        import h5py

        self.path = Path(path)
        self.length = length
        self._tmp = self.path.with_name(f'.{self.path.name}.partial')
        self._file = h5py.File(self._tmp, 'w')
        observations = self._file.create_group('observations')
        self.qpos = observations.create_dataset('qpos', (length, vector_size), dtype='float64')
        self.qvel = observations.create_dataset('qvel', (length, vector_size), dtype='float64')
        self.action = self._file.create_dataset('action', (length, vector_size), dtype='float64')
        self._images = observations.create_group('images')
        self.images: dict = {}

    def camera(self, name: str, height: int, width: int):
        """The (T, H, W, 3) uint8 dataset of a camera, created on first use; one frame per chunk
        (as the original ACT files), so training reads a step without decompressing others."""
        if name not in self.images:
            self.images[name] = self._images.create_dataset(
                name, (self.length, height, width, 3), dtype='uint8', chunks=(1, height, width, 3))
        dataset = self.images[name]
        if dataset.shape[1:3] != (height, width):
            raise ValueError(f'camera {name}: frame of {height}x{width} after frames of {dataset.shape[1]}x{dataset.shape[2]}')
        return dataset

    def set_attributes(self, attributes: dict) -> None:
        for key, value in attributes.items():
            self._file.attrs[key] = json.dumps(value) if isinstance(value, (list, tuple, dict)) else value

    def commit(self) -> None:
        self._file.close()
        os.replace(self._tmp, self.path)

    def abort(self) -> None:
        try:
            self._file.close()
        finally:
            self._tmp.unlink(missing_ok=True)


def read_attributes(path: Path) -> dict:
    """The root attributes of an episode file, JSON lists decoded."""
    import h5py

    with h5py.File(path, 'r') as episode:
        attributes = dict(episode.attrs)
    for key in ('vector_names', 'camera_names'):
        if key in attributes:
            attributes[key] = json.loads(attributes[key])
    return attributes
