"""The evaluation's videos: a node keeping one camera's frames during an episode, the
frames resampled onto the control grid, and the mp4 writer.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from rclpy.callback_groups import MutuallyExclusiveCallbackGroup
from rclpy.node import Node
from sensor_msgs.msg import Image

from act_common.image_encoding import image_msg_to_rgb
from act_common.qos import SENSOR_QOS
from act_common.ros_time import stamp_to_ns

# 370 MB per episode in memory until the video is written.
VIDEO_DOWNSCALE = 2


class EvalVideoNode(Node):
    """Keeps the frames of one camera during an episode, for its mp4 (only with --video).

    Resets and rewards go through act_sim's EpisodeMonitorNode, the sim's episode API."""

    def __init__(self, **node_kwargs):
        super().__init__('act_eval_video', **node_kwargs)
        self._frames: list[tuple[int, np.ndarray]] | None = None  # (stamp ns, frame)
        self._subscription = None

    def record_camera(self, topic: str) -> None:
        self._subscription = self.create_subscription(
            Image, topic, self._on_frame, SENSOR_QOS, callback_group=MutuallyExclusiveCallbackGroup())

    def matched(self) -> bool:
        """True once the camera's publisher is matched."""
        return self._subscription is not None and self._subscription.get_publisher_count() > 0

    def _on_frame(self, msg: Image) -> None:
        frames = self._frames
        if frames is not None:
            frame = image_msg_to_rgb(msg)[::VIDEO_DOWNSCALE, ::VIDEO_DOWNSCALE].copy()
            frames.append((stamp_to_ns(msg.header.stamp), frame))

    def start_frames(self) -> None:
        self._frames = []

    def take_frames(self) -> list[tuple[int, np.ndarray]]:
        frames, self._frames = self._frames or [], None
        return frames


def frames_on_grid(stamped: list[tuple[int, np.ndarray]], period_ns: int) -> list[np.ndarray]:
    """One frame per control period from the first stamp to the last: a frame dropped on
    the way (camera topics are best effort) repeats the one before, so the video keeps
    the episode's timing."""
    if not stamped:
        return []
    stamped = sorted(stamped, key=lambda item: item[0])
    first, last = stamped[0][0], stamped[-1][0]
    frames, index = [], 0
    for tick_ns in range(first, last + 1, period_ns):
        while index + 1 < len(stamped) and stamped[index + 1][0] <= tick_ns + period_ns // 2:
            index += 1
        frames.append(stamped[index][1])
    return frames


def write_video(path: Path, frames: list[np.ndarray], fps: float) -> Path:
    import imageio.v2 as imageio

    path.parent.mkdir(parents=True, exist_ok=True)
    with imageio.get_writer(path, fps=fps, codec='libx264', macro_block_size=8, quality=7) as writer:
        for frame in frames:
            writer.append_data(frame)
    return path
