"""sensor_msgs/Image and CompressedImage <-> numpy arrays, without cv_bridge.

Encodings the suite uses are plain array views: rgb8/bgr8 are HxWx3 uint8, mono8 HxW.
Everything the model sees is RGB uint8 HxWx3, so `to_rgb` is the one conversion nodes and
the converter call.
"""

from __future__ import annotations

import io

import numpy as np

CHANNELS = {'rgb8': 3, 'bgr8': 3, 'mono8': 1}


class ImageEncodingError(ValueError):
    """An image message cannot be read as the suite's RGB uint8 array."""


def image_array(encoding: str, height: int, width: int, step: int, data: bytes | memoryview | np.ndarray) -> np.ndarray:
    """The pixels of a raw image as an (H, W, C) or (H, W) uint8 view, honouring row padding."""
    if encoding not in CHANNELS:
        raise ImageEncodingError(f'unsupported image encoding {encoding!r}; supported: {sorted(CHANNELS)}')
    channels = CHANNELS[encoding]
    row_bytes = width * channels
    if step < row_bytes:
        raise ImageEncodingError(f'{encoding} image step {step} is shorter than a row of {row_bytes} bytes')
    buffer = np.frombuffer(data, dtype=np.uint8)
    if buffer.size < step * height:
        raise ImageEncodingError(f'{encoding} image of {height}x{width} needs {step * height} bytes, got {buffer.size}')
    rows = buffer[: step * height].reshape(height, step)[:, :row_bytes]
    return rows.reshape(height, width, channels) if channels > 1 else rows.reshape(height, width)


def to_rgb(encoding: str, pixels: np.ndarray) -> np.ndarray:
    """Any supported encoding's pixels as an (H, W, 3) uint8 RGB array."""
    if encoding == 'rgb8':
        return pixels
    if encoding == 'bgr8':
        return pixels[..., ::-1]
    if encoding == 'mono8':
        return np.repeat(pixels[..., None], 3, axis=-1)
    raise ImageEncodingError(f'unsupported image encoding {encoding!r}')


def image_msg_to_rgb(msg) -> np.ndarray:
    """A sensor_msgs/Image (live or deserialized from a bag) as (H, W, 3) uint8 RGB."""
    pixels = image_array(msg.encoding, msg.height, msg.width, msg.step, msg.data)
    return np.ascontiguousarray(to_rgb(msg.encoding, pixels))


def compressed_to_rgb(format_: str, data: bytes | np.ndarray) -> np.ndarray:
    """A sensor_msgs/CompressedImage payload (jpeg/png) as (H, W, 3) uint8 RGB."""
    from PIL import Image as PilImage  # only compressed topics need the decoder

    payload = data.tobytes() if isinstance(data, np.ndarray) else bytes(data)
    try:
        with PilImage.open(io.BytesIO(payload)) as image:
            return np.asarray(image.convert('RGB'))
    except Exception as error:  # PIL raises several types for corrupt payloads
        raise ImageEncodingError(f'cannot decode compressed image (format {format_!r}): {error}') from error


def rgb_to_image_fields(rgb: np.ndarray) -> dict:
    """Fields of an rgb8 sensor_msgs/Image for an (H, W, 3) uint8 array."""
    if rgb.dtype != np.uint8 or rgb.ndim != 3 or rgb.shape[2] != 3:
        raise ImageEncodingError(f'expected (H, W, 3) uint8, got {rgb.shape} {rgb.dtype}')
    height, width, _ = rgb.shape
    return {
        'height': height,
        'width': width,
        'encoding': 'rgb8',
        'is_bigendian': 0,
        'step': width * 3,
        'data': np.ascontiguousarray(rgb).tobytes(),
    }


# image_transport's compressed plugin: "<source encoding>; <jpeg|png> compressed <stored encoding>".
COMPRESSED_FORMATS = ('jpeg', 'png')
# image_transport's naming: the compressed transport of topic `<base>` is `<base>/compressed`.
COMPRESSED_SUFFIX = '/compressed'


def rgb_to_compressed(rgb: np.ndarray, compression: str = 'jpeg', jpeg_quality: int = 90) -> tuple[str, bytes]:
    """(H, W, 3) uint8 RGB -> (format, data) of a sensor_msgs/CompressedImage as
    image_transport's compressed plugin publishes it (format "rgb8; jpeg compressed bgr8":
    the payload holds the true colours, as any JPEG/PNG decoder shows them). PNG is
    lossless; JPEG quality 90 (image_transport's default is 95): 0.2 grey levels of mean
    absolute error on the sim's 480x640 frames (bench/bench_conversion.py)."""
    from PIL import Image as PilImage

    if compression not in COMPRESSED_FORMATS:
        raise ImageEncodingError(f'compression must be one of {COMPRESSED_FORMATS}, got {compression!r}')
    if rgb.dtype != np.uint8 or rgb.ndim != 3 or rgb.shape[2] != 3:
        raise ImageEncodingError(f'expected (H, W, 3) uint8, got {rgb.shape} {rgb.dtype}')
    buffer = io.BytesIO()
    image = PilImage.fromarray(np.ascontiguousarray(rgb))
    if compression == 'jpeg':
        image.save(buffer, format='JPEG', quality=int(jpeg_quality))
    else:
        image.save(buffer, format='PNG', compress_level=3)  # image_transport's default png_level
    return f'rgb8; {compression} compressed bgr8', buffer.getvalue()
