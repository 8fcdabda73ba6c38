"""Observation messages -> model input: encodings, compressed cameras, joint state errors."""

import io

import numpy as np
import pytest
from PIL import Image as PilImage
from sensor_msgs.msg import CompressedImage, Image, JointState

from act_common.config_paths import robot_config_path
from act_common.robot_config import CameraConfig, load_robot_config
from act_policy_node.checkpoint_match import parse_camera_remap
from act_policy_node.observations import ObservationError, measured_state, policy_images

ROBOT = load_robot_config(robot_config_path('aloha_sim'))
JOINTS = ['waist', 'shoulder', 'elbow', 'forearm_roll', 'wrist_angle', 'wrist_rotate', 'left_finger', 'right_finger']


def test_bgr_and_compressed_cameras_become_rgb():
    rgb = np.zeros((4, 6, 3), dtype=np.uint8)
    rgb[..., 0] = 200  # red
    bgr = Image(height=4, width=6, encoding='bgr8', step=18, data=rgb[..., ::-1].tobytes())
    png = io.BytesIO()
    PilImage.fromarray(rgb).save(png, format='png')
    compressed = CompressedImage(format='png', data=png.getvalue())
    cameras = {'top': CameraConfig('top', '/cam/top', 4, 6, 'f'),
               'wrist': CameraConfig('wrist', '/cam/wrist/compressed', 4, 6, 'f', compressed=True)}
    images = policy_images(cameras, {'/cam/top': bgr, '/cam/wrist/compressed': compressed})
    for name in ('top', 'wrist'):
        assert images[name].shape == (4, 6, 3) and images[name].dtype == np.uint8
        np.testing.assert_array_equal(images[name], rgb)


def test_broken_image_names_the_topic():
    cameras = {'top': CameraConfig('top', '/cam/top', 4, 6, 'f')}
    short = Image(height=4, width=6, encoding='rgb8', step=18, data=b'\x00' * 10)
    with pytest.raises(ObservationError, match='/cam/top'):
        policy_images(cameras, {'/cam/top': short})


def test_measured_state_normalizes_the_follower_gripper_and_names_bad_topics():
    positions = [0.1, -0.9, 1.1, 0.0, -0.3, 0.2, 0.05800, -0.05800]
    states = {arm.name: JointState(name=JOINTS, position=positions) for arm in ROBOT.arms}
    vector = measured_state(ROBOT, states)
    assert vector.shape == (14,) and vector[6] == pytest.approx(1.0) and vector[0] == pytest.approx(0.1)
    states['right'] = JointState(name=JOINTS, position=positions[:6] + [float('nan'), 0.0])
    with pytest.raises(ObservationError, match='/follower_right/joint_states'):
        measured_state(ROBOT, states)
    with pytest.raises(ObservationError, match='no joint state yet on /follower_left/joint_states'):
        measured_state(ROBOT, {'right': states['right']})


def test_camera_remap_entries():
    assert parse_camera_remap(['top=angle', ' wrist = left_wrist ']) == {'top': 'angle', 'wrist': 'left_wrist'}
    for bad in (['top'], ['=angle'], ['top=a', 'top=b']):
        with pytest.raises(ValueError, match='camera_remap'):
            parse_camera_remap(bad)
