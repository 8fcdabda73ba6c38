"""A checkpoint is matched against the robot config: joints, cameras, control rate."""

from dataclasses import dataclass

import pytest

from act_common.config_paths import robot_config_path
from act_common.robot_config import load_robot_config
from act_policy_node.checkpoint_match import CheckpointMismatch, match_checkpoint

ROBOT = load_robot_config(robot_config_path('aloha_sim'))


@dataclass
class Info:
    """The attributes of act_training.policy.ActPolicy that the match reads."""

    camera_names: tuple = ('top',)
    vector_names: tuple = ROBOT.vector_names
    state_dim: int = 14
    action_dim: int = 14
    control_period_s: float = 0.02
    model_id: str = 'best-0123abcd'


def test_a_fitting_checkpoint_gets_its_cameras_in_its_order():
    cameras = match_checkpoint(Info(camera_names=('angle', 'top')), '/ck', ROBOT)
    assert list(cameras) == ['angle', 'top'] and cameras['top'].topic == '/cameras/top/image_raw'


def test_camera_remap_feeds_a_checkpoint_camera_from_another_robot_camera():
    cameras = match_checkpoint(Info(camera_names=('cam_high',)), '/ck', ROBOT, {'cam_high': 'top'})
    assert cameras['cam_high'].topic == '/cameras/top/image_raw'
    with pytest.raises(CheckpointMismatch, match=r"camera_remap cam_high=nowhere\) has no robot camera 'nowhere'"):
        match_checkpoint(Info(camera_names=('cam_high',)), '/ck', ROBOT, {'cam_high': 'nowhere'})
    with pytest.raises(CheckpointMismatch, match=r"camera_remap names \['ghost'\]"):
        match_checkpoint(Info(), '/ck', ROBOT, {'ghost': 'top'})


def test_joint_order_and_rate_mismatches_are_named():
    swapped = ROBOT.vector_names[7:] + ROBOT.vector_names[:7]
    with pytest.raises(CheckpointMismatch) as error:
        match_checkpoint(Info(vector_names=swapped, control_period_s=1 / 30), '/ck', ROBOT)
    message = str(error.value)
    assert 'checkpoint /ck (model best-0123abcd) does not fit robot' in message and ROBOT.source_path in message
    assert 'same names in another order' in message
    assert '30 Hz' in message and '50 Hz' in message
