#!/usr/bin/env python3
"""Training step time of the shipped training configs (and variants) on this machine: the
measurement behind cpu_demo.yaml's image size, width and depth. Synthetic batches, so data
loading is excluded (it is a gather from memory in training).

    .venv/bin/python bench/bench_training_step.py                     # cpu_demo and variants
    .venv/bin/python bench/bench_training_step.py --set model.dim_model=256 --set model.image_height=240
"""

from __future__ import annotations

import argparse
import contextlib
import statistics
import sys
import time
from dataclasses import replace
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
try:
    import act_training  # noqa: F401  (installed by colcon)
except ImportError:
    sys.path.insert(0, str(ROOT / 'act_training'))

from act_training.config import apply_overrides, load_training_configs  # noqa: E402
from act_training.data.chunks import Batch  # noqa: E402
from act_training.model import build_model  # noqa: E402
from act_training.train.optim import build_optimizer  # noqa: E402
from act_training.train.trainer import forward_loss  # noqa: E402

VARIANTS = {
    'cpu_demo': [],
    'cpu_demo @ 96x128': ['model.image_height=96', 'model.image_width=128'],
    'cpu_demo @ 240x320': ['model.image_height=240', 'model.image_width=320'],
    'cpu_demo, dim 256 / ffn 1024': ['model.dim_model=256', 'model.dim_feedforward=1024'],
    'cpu_demo, chunk 100': ['model.chunk_size=100'],
    'cpu_demo, batch 16': ['train.batch_size=16'],
}


def step_time(model_config, train_config, steps: int) -> float:
    model_config = replace(model_config, state_dim=14, action_dim=14, backbone_weights='none')
    torch.manual_seed(0)
    model = build_model(model_config).train()
    optimizer = build_optimizer(model, train_config, torch.device('cpu'))
    b, n, s = train_config.batch_size, len(model_config.camera_names), model_config.chunk_size
    batch = Batch(torch.randint(0, 256, (b, n, 3, *model_config.image_size), dtype=torch.uint8), torch.randn(b, 14),
                  torch.randn(b, s, 14), torch.zeros(b, s, dtype=torch.bool))
    times = []
    for i in range(steps + 2):
        start = time.perf_counter()
        terms = forward_loss(model, batch, model_config, contextlib.nullcontext)
        optimizer.zero_grad(set_to_none=True)
        terms.loss.backward()
        optimizer.step()
        if i >= 2:  # warm-up steps excluded
            times.append(time.perf_counter() - start)
    return statistics.median(times)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('--config', default=str(ROOT / 'act_bringup' / 'config' / 'training' / 'cpu_demo.yaml'))
    parser.add_argument('--set', action='append', default=[], help='one variant with these overrides instead of the list')
    parser.add_argument('--steps', type=int, default=5)
    parser.add_argument('--budget-s', type=float, default=600.0, help='training time the demo allows')
    args = parser.parse_args()
    base_model, base_train = load_training_configs(args.config)
    variants = {'custom': args.set} if args.set else VARIANTS
    print(f'{torch.get_num_threads()} threads; median of {args.steps} steps; steps that fit {args.budget_s:.0f} s')
    for name, overrides in variants.items():
        model_config, train_config = apply_overrides(base_model, base_train, overrides)
        seconds = step_time(model_config, train_config, args.steps)
        print(f'{name:32s} {seconds:6.3f} s/step  {train_config.batch_size / seconds:6.1f} samples/s  '
              f'{int(args.budget_s / seconds):6d} steps', flush=True)
    return 0


if __name__ == '__main__':
    sys.exit(main())
