"""The CUDA paths (bf16, channels_last, CUDA-graph inference, GPU-resident frames).
They need a GPU: on a CPU-only machine these tests are skipped for lack of hardware (they
are not skipped to save time; the CPU paths are tested in the other files)."""

import numpy as np
import pytest
import torch
from training_episodes import tiny_model_config, tiny_train_config, write_episodes

from act_training.policy import ActPolicy
from act_training.train import train

pytestmark = pytest.mark.skipif(not torch.cuda.is_available(), reason='needs a CUDA device')


def test_cuda_training_and_graph_inference_match_the_cpu(tmp_path):
    data = write_episodes(tmp_path / 'data', count=3, length=12, height=64, width=64)
    result = train(tiny_model_config(), tiny_train_config(steps=6, device='cuda', bf16=True), data, tmp_path / 'run',
                   progress=None)
    cpu, gpu = ActPolicy.load(result.last_checkpoint, 'cpu', 'fp32'), ActPolicy.load(result.last_checkpoint, 'cuda', 'bf16')
    assert gpu._runner.graph is not None, 'CUDA graph capture failed'
    rng = np.random.default_rng(0)
    for _ in range(3):  # replays reuse the static buffers: each call must see its own inputs
        images = {'top': rng.integers(0, 256, (64, 64, 3), dtype=np.uint8)}
        qpos = rng.normal(size=4)
        expected, got = cpu.predict_chunk(images, qpos), gpu.predict_chunk(images, qpos)
        scale = np.abs(expected - cpu._action_mean).max()
        # bf16: about 3 significant digits.
        assert np.abs(got - expected).max() <= 0.05 * scale + 1e-6
        assert np.array_equal(got, gpu.predict_chunk(images, qpos))
