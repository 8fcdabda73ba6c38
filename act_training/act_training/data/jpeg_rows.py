"""Camera frames stored as JPEG bytes in padded rows: the ALOHA 2 HDF5 variant.

The Interbotix aloha and act-plus-plus recorders (record_episodes.py, COMPRESS = True)
write each camera as

    /observations/images/<camera>   (T, L) uint8   JPEG bytes of frame t, zero padded to L
    /compress_len                   (N_cam, T)     byte length of each frame (optional here)
    root attribute `compress` = True

L is the longest frame of the episode. The frames were encoded with OpenCV's
`cv2.imencode('.jpg', frame)`, which takes its input as BGR; the arrays it was given are
the cameras' RGB frames, so the JPEG's own "red" holds the frame's blue. Reading them back
with OpenCV (as those repositories do) returns the original arrays; with Pillow, as here,
the channels are reversed after decoding (and before encoding, when we write the layout),
so files stay interchangeable with theirs. Trailing zero padding is ignored by the JPEG
decoder (it stops at the end-of-image marker).
"""

from __future__ import annotations

import io

import numpy as np

# act-plus-plus uses quality 50 ("tried as low as 20, seems fine"); 90 keeps our sim
# frames within 0.2 grey levels (mean absolute error) of the originals (bench/bench_conversion.py).
DEFAULT_JPEG_QUALITY = 90


class JpegRowError(ValueError):
    pass


def decode_row(row: np.ndarray) -> np.ndarray:
    """One padded JPEG row (L,) uint8 -> (H, W, 3) uint8 frame, ALOHA channel order."""
    from PIL import Image

    try:
        with Image.open(io.BytesIO(np.ascontiguousarray(row).tobytes())) as image:
            rgb = np.asarray(image.convert('RGB'))
    except Exception as error:  # Pillow raises several types for corrupt payloads
        raise JpegRowError(f'not a decodable JPEG row ({type(error).__name__}: {error})') from None
    return np.ascontiguousarray(rgb[..., ::-1])


def decode_rows(rows: np.ndarray) -> np.ndarray:
    """(n, L) uint8 rows -> (n, H, W, 3) uint8 frames."""
    return np.stack([decode_row(row) for row in rows])


def encode_frame(frame: np.ndarray, quality: int = DEFAULT_JPEG_QUALITY) -> bytes:
    """(H, W, 3) uint8 frame -> JPEG bytes in the ALOHA channel convention (see module doc)."""
    from PIL import Image

    buffer = io.BytesIO()
    Image.fromarray(np.ascontiguousarray(frame[..., ::-1])).save(buffer, format='JPEG', quality=int(quality))
    return buffer.getvalue()


def pad_rows(encoded: list[bytes]) -> tuple[np.ndarray, np.ndarray]:
    """JPEG payloads -> ((T, L) uint8 zero-padded rows, (T,) lengths)."""
    lengths = np.array([len(data) for data in encoded], dtype=np.int64)
    rows = np.zeros((len(encoded), int(lengths.max()) if len(encoded) else 0), dtype=np.uint8)
    for index, data in enumerate(encoded):
        rows[index, :len(data)] = np.frombuffer(data, dtype=np.uint8)
    return rows, lengths
