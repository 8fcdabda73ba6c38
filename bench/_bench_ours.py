"""Benchmark worker for our ACT (runs in the suite's .venv or the GPU machine's stock
Python). Prints RESULT lines; bench_act_vs_lerobot.py orchestrates."""

from __future__ import annotations

import statistics
import sys
import tempfile
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
try:
    import act_training  # noqa: F401  (installed by colcon)
except ImportError:  # a bare checkout (the GPU machine) or no env.sh sourced: use the sources
    for package in ('act_training', 'act_common'):  # act_training imports act_common
        sys.path.insert(0, str(Path(__file__).resolve().parents[1] / package))

from bench_inputs import CHUNK_SIZE, HEIGHT, STATE_DIM, WIDTH, load, median_training_step_s, report, run_side, timed  # noqa: E402

from act_training.config import DatasetInfo, ModelConfig, TrainConfig  # noqa: E402
from act_training.data.normalization import Normalization, VectorStats  # noqa: E402
from act_training.model import build_model  # noqa: E402


def model_config(n_cameras: int) -> ModelConfig:
    return ModelConfig(camera_names=tuple(f'cam{i}' for i in range(n_cameras)), state_dim=STATE_DIM, action_dim=STATE_DIM,
                       image_height=HEIGHT, image_width=WIDTH, chunk_size=CHUNK_SIZE, backbone_weights='none')


def bench_inference(inputs: Path, n_cameras: int, device: str, precision: str, warmup: int, iterations: int) -> None:
    from act_training.policy import ActPolicy
    from act_training.train.checkpoint import save_checkpoint

    config = model_config(n_cameras)
    torch.manual_seed(0)
    identity = VectorStats(np.zeros(STATE_DIM), np.ones(STATE_DIM))
    with tempfile.TemporaryDirectory() as folder:
        save_checkpoint(Path(folder) / 'bench', state_dict=build_model(config).state_dict(), model_config=config,
                        train_config=TrainConfig(), normalization=Normalization(identity, identity, 0.01), step=0,
                        dataset=DatasetInfo(vector_names=tuple(f'q{i}' for i in range(STATE_DIM)),
                                            camera_names=config.camera_names, control_rate_hz=50.0))
        policy = ActPolicy.load(Path(folder) / 'bench', device=device, precision=precision)
    frames = load(inputs, 'frames')
    images = {name: frames[i] for i, name in enumerate(policy.camera_names)}
    qpos = load(inputs, 'qpos')
    chunk = policy.predict_chunk(images, qpos)
    assert chunk.shape == (CHUNK_SIZE, STATE_DIM)
    times = timed(lambda: policy.predict_chunk(images, qpos), warmup, iterations)
    np.save(inputs / f'chunk_ours_{n_cameras}cam_{precision}.npy', chunk)  # for the bf16 vs fp32 difference
    from act_training.model.runner import resolve_precision

    auto = 'bf16' if resolve_precision('auto', torch.device(device)) == torch.bfloat16 else 'fp32'
    report({'impl': 'ours', 'what': f'infer_{n_cameras}cam', 'device': device, 'precision': policy.precision, 'auto': auto,
            'median_ms': 1000 * statistics.median(times), 'min_ms': 1000 * min(times), 'threads': torch.get_num_threads()})


def bench_training(inputs: Path, device: str, warmup: int, iterations: int) -> None:
    import contextlib

    from act_training.data.chunks import Batch
    from act_training.train.allocator import keep_freed_memory
    from act_training.train.optim import build_optimizer
    from act_training.train.batch_loss import forward_loss

    if device == 'cpu':
        keep_freed_memory()  # as the CPU trainer does (act_training.train.allocator says why)
    config = model_config(1)
    torch.manual_seed(0)
    model = build_model(config).to(device).train()
    on_cuda = device == 'cuda'
    model.use_channels_last()  # as the trainer does
    if on_cuda:
        torch.backends.cudnn.benchmark = True
    optimizer = build_optimizer(model, TrainConfig(), torch.device(device))
    batch = Batch(torch.from_numpy(load(inputs, 'train_frames')).permute(0, 1, 4, 2, 3).contiguous(),
                  torch.from_numpy(load(inputs, 'train_qpos')), torch.from_numpy(load(inputs, 'train_actions')),
                  torch.from_numpy(load(inputs, 'train_is_pad'))).to(device)

    def autocast():
        return torch.autocast('cuda', dtype=torch.bfloat16) if on_cuda else contextlib.nullcontext()

    sync = torch.cuda.synchronize if on_cuda else (lambda: None)
    median = median_training_step_s(lambda: forward_loss(model, batch, config, autocast).loss, optimizer, warmup,
                                    iterations, sync)
    report({'impl': 'ours', 'what': 'train_b8', 'device': device, 'median_ms': 1000 * median,
            'samples_per_s': len(batch) / median, 'threads': torch.get_num_threads()})


if __name__ == '__main__':
    run_side(bench_inference, bench_training)
