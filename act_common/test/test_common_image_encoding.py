import io

import numpy as np
import pytest
from PIL import Image

from act_common.image_encoding import (
    ImageEncodingError,
    compressed_to_rgb,
    image_array,
    rgb_to_image_fields,
    to_rgb,
)


def test_rgb_round_trip_through_message_fields():
    rgb = np.random.default_rng(0).integers(0, 255, (4, 5, 3), dtype=np.uint8)
    fields = rgb_to_image_fields(rgb)
    pixels = image_array(fields['encoding'], fields['height'], fields['width'], fields['step'], fields['data'])
    np.testing.assert_array_equal(pixels, rgb)


def test_row_padding_is_skipped():
    height, width, step = 2, 3, 12  # 9 bytes of pixels, 3 of padding per row
    data = np.arange(height * step, dtype=np.uint8)
    pixels = image_array('rgb8', height, width, step, data.tobytes())
    np.testing.assert_array_equal(pixels[1, 0], [12, 13, 14])


def test_bgr_and_mono_become_rgb():
    bgr = np.array([[[1, 2, 3]]], dtype=np.uint8)
    np.testing.assert_array_equal(to_rgb('bgr8', bgr), [[[3, 2, 1]]])
    mono = np.array([[7]], dtype=np.uint8)
    np.testing.assert_array_equal(to_rgb('mono8', mono), [[[7, 7, 7]]])


def test_bad_images_are_named_errors():
    with pytest.raises(ImageEncodingError, match='unsupported image encoding'):
        image_array('yuv422', 1, 1, 2, b'ab')
    with pytest.raises(ImageEncodingError, match='needs 12 bytes'):
        image_array('rgb8', 2, 2, 6, b'\x00' * 5)
    with pytest.raises(ImageEncodingError, match='cannot decode compressed'):
        compressed_to_rgb('jpeg', b'not a jpeg')


def test_png_compressed_image_decodes():
    rgb = np.random.default_rng(1).integers(0, 255, (6, 8, 3), dtype=np.uint8)
    buffer = io.BytesIO()
    Image.fromarray(rgb).save(buffer, format='PNG')
    np.testing.assert_array_equal(compressed_to_rgb('png', buffer.getvalue()), rgb)
