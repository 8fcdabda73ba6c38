"""ActPolicy, the inference API of the policy node and `act eval`: attributes, robot
units, the training resize, deterministic output, and clear errors for wrong inputs."""

import subprocess
import sys

import numpy as np
import pytest
import torch
from training_episodes import tiny_model_config

from act_training.config import DatasetInfo, TrainConfig
from act_training.data.images import frames_to_model_size
from act_training.data.normalization import Normalization, VectorStats
from act_training.model import build_model
from act_training.policy import ActPolicy
from act_training.train.checkpoint import save_checkpoint

NAMES = ('l_waist', 'l_gripper', 'r_waist', 'r_gripper')


@pytest.fixture(scope='module')
def policy(tmp_path_factory):
    path = tmp_path_factory.mktemp('policy') / 'best'
    config = tiny_model_config(camera_names=('top', 'wrist'), state_dim=4, action_dim=4, image_height=48, image_width=64,
                               chunk_size=6)
    torch.manual_seed(0)
    save_checkpoint(path, state_dict=build_model(config).state_dict(), model_config=config, train_config=TrainConfig(),
                    dataset=DatasetInfo(vector_names=NAMES, camera_names=config.camera_names, control_rate_hz=25.0),
                    normalization=Normalization(VectorStats(np.full(4, 1.0), np.full(4, 2.0)),
                                                VectorStats(np.full(4, 100.0), np.full(4, 1e-3)), 0.01),
                    step=7)
    return ActPolicy.load(path)


def _images(height=48, width=64, seed=0):
    rng = np.random.default_rng(seed)
    return {name: rng.integers(0, 256, (height, width, 3), dtype=np.uint8) for name in ('top', 'wrist')}


def test_attributes(policy):
    assert policy.camera_names == ('top', 'wrist') and policy.vector_names == NAMES
    assert (policy.state_dim, policy.action_dim, policy.chunk_size) == (4, 4, 6)
    assert policy.control_period_s == pytest.approx(0.04) and policy.image_size == (48, 64)
    assert policy.model_id.startswith('best-')


def test_chunk_in_robot_units_and_deterministic(policy):
    chunk = policy.predict_chunk(_images(), np.zeros(4))
    assert chunk.shape == (6, 4) and chunk.dtype == np.float64
    # action = normalized * 1e-3 + 100: robot units, not the network's.
    assert np.all(np.abs(chunk - 100.0) < 0.1) and np.any(chunk != 100.0)
    assert np.array_equal(chunk, policy.predict_chunk(_images(), np.zeros(4)))
    assert not np.array_equal(chunk, policy.predict_chunk(_images(seed=1), np.zeros(4)))
    extra = dict(_images(), unused_camera=np.zeros((5, 5, 3), np.uint8))
    assert np.array_equal(chunk, policy.predict_chunk(extra, np.zeros(4)))


def test_any_image_size_is_resized_like_training(policy):
    big = _images(height=96, width=128, seed=3)
    resized = {name: frames_to_model_size(image[None], (48, 64))[0].permute(1, 2, 0).numpy() for name, image in big.items()}
    assert np.array_equal(policy.predict_chunk(big, np.ones(4)), policy.predict_chunk(resized, np.ones(4)))


@pytest.mark.parametrize('images, qpos, words', [
    ({'top': np.zeros((48, 64, 3), np.uint8)}, np.zeros(4), ["'wrist'", 'expects', 'top']),
    (dict(_images(), wrist=np.zeros((48, 64), np.uint8)), np.zeros(4), ["'wrist'", '(H, W, 3) uint8']),
    (dict(_images(), top=np.zeros((48, 64, 3), np.float32)), np.zeros(4), ["'top'", 'float32']),
    (_images(), np.zeros(3), ['qpos', '4 entries', 'l_waist', '(3,)']),
    (_images(), np.zeros((1, 4)), ['qpos', '(1, 4)']),
    (_images(), np.array([0.0, np.nan, 0.0, 0.0]), ['qpos', 'l_gripper']),
    ([np.zeros((48, 64, 3), np.uint8)], np.zeros(4), ['camera name']),
])
def test_wrong_inputs_are_rejected_with_names(policy, images, qpos, words):
    with pytest.raises(ValueError) as error:
        policy.predict_chunk(images, qpos)
    for word in words:
        assert word in str(error.value)


@pytest.mark.slow  # torch imported again in a process of its own
def test_package_imports_without_ros_or_mujoco():
    # The GPU training machine has neither rclpy nor mujoco (bench/gpu_pipeline.py runs there
    # with the source tree on the path). Of act_common, training uses only the two
    # definitions it shares with the ROS side, both plain Python: the episode file names
    # (act_common.episode_format) and the error base (act_common.errors).
    code = ('import sys\n'
            'for name in ("rclpy", "mujoco", "act_msgs", "yaml"):\n'
            '    sys.modules[name] = None\n'
            'import act_training.policy, act_training.train, act_training.data, act_training.model.runner\n'
            'print(" ".join(sorted(m for m in sys.modules if m.split(".")[0] == "act_common")))\n')
    result = subprocess.run([sys.executable, '-c', code], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ['act_common', 'act_common.episode_format', 'act_common.errors'], result.stdout
