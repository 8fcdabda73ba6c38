"""The configuration and inputs both benchmark workers share (stdlib + numpy only, so it
imports in either venv)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

# The paper's ACT (and LeRobot's defaults): chunk 100, dim 512, 8 heads, ffn 3200,
# 4 encoder layers, 1 decoder layer, 4 VAE encoder layers, latent 32, ResNet-18.
STATE_DIM = 14
CHUNK_SIZE = 100
HEIGHT, WIDTH = 480, 640
TRAIN_BATCH = 8


def make_inputs(folder: Path, max_cameras: int, seed: int = 0) -> None:
    """Writes the inputs as .npy files (identical bytes for both implementations)."""
    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True, exist_ok=True)
    np.save(folder / 'frames.npy', rng.integers(0, 256, (max_cameras, HEIGHT, WIDTH, 3), dtype=np.uint8))
    np.save(folder / 'qpos.npy', rng.normal(size=STATE_DIM))
    np.save(folder / 'train_frames.npy', rng.integers(0, 256, (TRAIN_BATCH, 1, HEIGHT, WIDTH, 3), dtype=np.uint8))
    np.save(folder / 'train_qpos.npy', rng.normal(size=(TRAIN_BATCH, STATE_DIM)).astype(np.float32))
    np.save(folder / 'train_actions.npy', rng.normal(size=(TRAIN_BATCH, CHUNK_SIZE, STATE_DIM)).astype(np.float32))
    is_pad = np.zeros((TRAIN_BATCH, CHUNK_SIZE), dtype=bool)
    is_pad[0, 60:] = True  # one sample near its episode's end
    np.save(folder / 'train_is_pad.npy', is_pad)


def load(folder: Path, name: str) -> np.ndarray:
    return np.load(folder / f'{name}.npy', allow_pickle=False)


def report(result: dict) -> None:
    print('RESULT ' + json.dumps(result), flush=True)


def timed(fn, warmup: int, iterations: int, sync=lambda: None) -> list[float]:
    """Seconds per call, after warm-up calls."""
    import time

    for _ in range(warmup):
        fn()
    sync()
    times = []
    for _ in range(iterations):
        start = time.perf_counter()
        fn()
        sync()
        times.append(time.perf_counter() - start)
    return times


def median_training_step_s(loss, optimizer, warmup: int, iterations: int, sync=lambda: None) -> float:
    """Median seconds of one training step: loss() (a scalar tensor) backward, then the
    optimizer step; sync waits for the device (torch.cuda.synchronize on CUDA)."""
    import statistics

    def step():
        value = loss()
        optimizer.zero_grad(set_to_none=True)
        value.backward()
        optimizer.step()

    return statistics.median(timed(step, warmup, iterations, sync))


def run_side(bench_inference, bench_training) -> None:
    """The command line both sides share (_bench_ours.py in our venv, _bench_lerobot.py in
    LeRobot's): --what infer_<n>cam runs bench_inference(inputs, n, device, precision,
    warmup, iterations), train_b8 runs bench_training(inputs, device, warmup, iterations)."""
    import argparse

    import torch

    parser = argparse.ArgumentParser()
    parser.add_argument('--inputs', type=Path, required=True)
    parser.add_argument('--what', required=True)  # infer_<n>cam | train_b8
    parser.add_argument('--device', default='cpu')
    parser.add_argument('--precision', default='fp32', choices=('fp32', 'bf16'))
    parser.add_argument('--threads', type=int, required=True)
    parser.add_argument('--warmup', type=int, default=3)
    parser.add_argument('--iterations', type=int, default=10)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    if args.what.startswith('infer_'):
        bench_inference(args.inputs, int(args.what[len('infer_'):-len('cam')]), args.device, args.precision, args.warmup,
                        args.iterations)
    else:
        bench_training(args.inputs, args.device, args.warmup, args.iterations)
