"""ROS messages of one synchronized observation -> what ActPolicy.predict_chunk takes.

Sources are named by their topics (so a stale-data report names the topic to check).
Images become (H, W, 3) uint8 RGB (the policy resizes them as training did); joint states
become the robot state vector (the observed follower gripper normalized with the follower
calibration, as the training data was built).
"""

from __future__ import annotations

from typing import Any, Mapping

import numpy as np

from act_common.image_encoding import ImageEncodingError, compressed_to_rgb, image_msg_to_rgb
from act_common.joint_vectors import JointStateError, follower_vector, robot_vector
from act_common.robot_config import CameraConfig, RobotConfig


class ObservationError(ValueError):
    """An observation cannot be turned into model input; the message names the topic."""


def joint_state_topics(robot: RobotConfig) -> dict[str, str]:
    """{arm name: follower joint states topic}."""
    return {arm.name: arm.follower.joint_states_topic for arm in robot.arms}


def measured_state(robot: RobotConfig, joint_states: Mapping[str, Any]) -> np.ndarray:
    """The follower state vector from {arm name: sensor_msgs/JointState}. (robot.vector_size,)"""
    arms = {}
    for arm in robot.arms:
        msg = joint_states.get(arm.name)
        if msg is None:
            raise ObservationError(f'no joint state yet on {arm.follower.joint_states_topic}')
        try:
            arms[arm.name] = follower_vector(arm, msg.name, msg.position)
        except JointStateError as error:
            raise ObservationError(str(error)) from error
    return robot_vector(robot, arms)


def camera_rgb(camera: CameraConfig, msg: Any) -> np.ndarray:
    """A camera message (Image, or CompressedImage for a compressed camera) as RGB. (H, W, 3)"""
    try:
        if camera.compressed:
            return compressed_to_rgb(msg.format, msg.data)
        return image_msg_to_rgb(msg)
    except ImageEncodingError as error:
        raise ObservationError(f'{camera.topic}: {error}') from error


def policy_images(cameras: Mapping[str, CameraConfig], messages: Mapping[str, Any]) -> dict[str, np.ndarray]:
    """{policy camera: (H, W, 3) uint8} from the messages keyed by topic, at the camera's size
    (ActPolicy.predict_chunk resizes exactly as training did)."""
    return {policy_camera: camera_rgb(camera, messages[camera.topic]) for policy_camera, camera in cameras.items()}
