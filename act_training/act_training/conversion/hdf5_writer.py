"""Writes one training episode file in the layout of act_training.hdf5_format: qpos, qvel,
action, camera frames (raw, through an HDF5 filter, or as ALOHA 2 JPEG rows) and the root
attributes, through a temporary name renamed into place on success."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np

from act_training.data.jpeg_rows import DEFAULT_JPEG_QUALITY, encode_frame, pad_rows
from act_training.hdf5_format import ACTION, COMPRESS_ATTRIBUTE, COMPRESS_LEN, IMAGE_STORAGE, IMAGES, QPOS, QVEL

# gzip level 4: what the ALOHA recorders use for their gzip variant; higher levels cost
# time for little (bench/bench_conversion.py).
GZIP_LEVEL = 4


class EpisodeFileWriter:
    """Writes one episode file through a temporary name, renamed into place on success,
    so an interrupted or failed conversion never leaves a half-written episode."""

    def __init__(self, path: Path, length: int, vector_size: int, action_size: int | None = None,
                 image_storage: str = 'raw', jpeg_quality: int = DEFAULT_JPEG_QUALITY):
        import h5py

        if image_storage not in IMAGE_STORAGE:
            raise ValueError(f'image_storage must be one of {IMAGE_STORAGE}, got {image_storage!r}')
        self.path = Path(path)
        self.length = length
        self.image_storage, self.jpeg_quality = image_storage, jpeg_quality
        self._tmp = self.path.with_name(f'.{self.path.name}.partial')
        self._file = h5py.File(self._tmp, 'w')
        self.qpos = self._file.create_dataset(QPOS, (length, vector_size), dtype='float64')
        self.qvel = self._file.create_dataset(QVEL, (length, vector_size), dtype='float64')
        self.action = self._file.create_dataset(ACTION, (length, action_size or vector_size), dtype='float64')
        self._images = self._file.create_group(IMAGES)
        self.images: dict = {}

    def camera(self, name: str, height: int, width: int):
        """The (T, H, W, 3) uint8 dataset of a camera, created on first use; one frame per chunk
        (as the original ACT files), so training reads a step without decompressing others."""
        if name not in self.images:
            if self.image_storage == 'jpeg':
                self.images[name] = _JpegRows(self.length, height, width, self.jpeg_quality)
            else:
                compression = {'raw': {}, 'gzip': {'compression': 'gzip', 'compression_opts': GZIP_LEVEL},
                               'lzf': {'compression': 'lzf'}}[self.image_storage]
                self.images[name] = self._images.create_dataset(
                    name, (self.length, height, width, 3), dtype='uint8', chunks=(1, height, width, 3), **compression)
        dataset = self.images[name]
        if dataset.shape[1:3] != (height, width):
            raise ValueError(f'camera {name}: frame of {height}x{width} after frames of {dataset.shape[1]}x{dataset.shape[2]}')
        return dataset

    def set_attributes(self, attributes: dict) -> None:
        """Root attributes; lists, tuples and dicts are stored as JSON text (hdf5_format)."""
        for key, value in attributes.items():
            self._file.attrs[key] = json.dumps(value) if isinstance(value, (list, tuple, dict)) else value

    def commit(self) -> None:
        jpeg = {name: rows for name, rows in self.images.items() if isinstance(rows, _JpegRows)}
        if jpeg:
            padded = {name: rows.padded() for name, rows in jpeg.items()}
            for name, (rows, _) in padded.items():
                self._images.create_dataset(name, data=rows, chunks=(1, rows.shape[1]))
            # One row per camera in camera_names order, as the ALOHA recorders write it.
            self._file.create_dataset(COMPRESS_LEN, data=np.stack([n for _, n in padded.values()]).astype(np.float32))
            self._file.attrs[COMPRESS_ATTRIBUTE] = True
        self._file.close()
        os.replace(self._tmp, self.path)

    def abort(self) -> None:
        try:
            self._file.close()
        finally:
            self._tmp.unlink(missing_ok=True)


class _JpegRows:
    """Frames of one camera collected as JPEG bytes; written as padded rows on commit
    (the row width is the longest frame, known only at the end)."""

    def __init__(self, length: int, height: int, width: int, quality: int):
        self.shape = (length, height, width, 3)
        self.quality = quality
        self._encoded: list[bytes | None] = [None] * length
        self._last_frame, self._last_bytes = None, b''

    def __setitem__(self, row: int, rgb: np.ndarray) -> None:
        # The converter writes one frame to every grid row that shows it: encode it once.
        if rgb is not self._last_frame:
            self._last_frame, self._last_bytes = rgb, encode_frame(rgb, self.quality)
        self._encoded[row] = self._last_bytes

    def padded(self) -> tuple[np.ndarray, np.ndarray]:
        missing = [row for row, data in enumerate(self._encoded) if data is None]
        if missing:
            raise ValueError(f'JPEG rows {missing[:5]} were never written')
        return pad_rows(self._encoded)
