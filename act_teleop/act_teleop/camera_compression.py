"""Storing raw cameras compressed: sensor_msgs/Image CDR -> sensor_msgs/CompressedImage CDR,
as image_transport's compressed plugin would have published it (topic `<camera topic>/compressed`,
format "rgb8; jpeg compressed bgr8" or "... png ..."). The recorder applies it on its writer
thread, never in a subscription callback.

Choices (CAMERA_COMPRESSIONS): 'none' stores what arrives; 'png' is lossless (the frames
decode to the very same bytes); 'jpeg' is lossy. Bytes and speeds: README, measured with
bench/bench_conversion.py (the sim's 480x640 frames: 0.92 MB raw, about 0.02 MB either way).
"""

from __future__ import annotations

from act_common.image_encoding import COMPRESSED_SUFFIX, image_msg_to_rgb, rgb_to_compressed

CAMERA_COMPRESSIONS = ('none', 'jpeg', 'png')
IMAGE_TYPE = 'sensor_msgs/msg/Image'
COMPRESSED_TYPE = 'sensor_msgs/msg/CompressedImage'


def compressed_topic(topic: str) -> str:
    return topic + COMPRESSED_SUFFIX


class ImageCompressor:
    """Callable: CDR bytes of a sensor_msgs/Image -> CDR bytes of the CompressedImage
    with the same header. Raises ImageEncodingError for encodings it cannot read."""

    def __init__(self, compression: str, jpeg_quality: int = 90):
        if compression not in CAMERA_COMPRESSIONS[1:]:
            raise ValueError(f'compression must be one of {CAMERA_COMPRESSIONS[1:]}, got {compression!r}')
        if not 1 <= jpeg_quality <= 100:
            raise ValueError(f'jpeg_quality must be 1..100, got {jpeg_quality}')
        self.compression, self.jpeg_quality = compression, jpeg_quality

    def __call__(self, data: bytes) -> bytes:
        from rclpy.serialization import deserialize_message, serialize_message
        from sensor_msgs.msg import CompressedImage, Image

        image = deserialize_message(data, Image)
        format_, payload = rgb_to_compressed(image_msg_to_rgb(image), self.compression, self.jpeg_quality)
        return serialize_message(CompressedImage(header=image.header, format=format_, data=payload))
