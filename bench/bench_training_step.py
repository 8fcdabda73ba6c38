#!/usr/bin/env python3
"""Training step of the shipped training configs (and variants) on this machine: time,
samples/s, FLOPs and the fraction of the CPU's FMA peak, in fp32 and (where the CPU
computes bf16 natively) in bf16 autocast, the precision the trainer picks there.

    .venv/bin/python bench/bench_training_step.py                     # cpu_demo and variants
    .venv/bin/python bench/bench_training_step.py --set model.image_height=240 --set model.image_width=320
    .venv/bin/python bench/bench_training_step.py --profile           # where a step's time goes

Synthetic batches: data loading is excluded (in training it is a gather from memory).
FLOPs are counted by torch.utils.flop_counter plus our oneDNN linear operator (matmuls and
convolutions, forward and backward: the network's own arithmetic); the peak is act_common.cpu_features's theoretical
FMA peak for this CPU's flags and clock (bench/bench_roofline.py, where present, measures
the achievable one). The CPU line is printed first: figures differ between CPU types.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
try:
    import act_training  # noqa: F401  (installed by colcon)
except ImportError:
    sys.path.insert(0, str(ROOT / 'act_training'))
    sys.path.insert(0, str(ROOT / 'act_common'))

from act_common.cpu_features import cpu_features  # noqa: E402
from act_training.config import apply_overrides, load_training_configs  # noqa: E402
from act_training.model.onednn import flop_counter  # noqa: E402
from act_training.model.runner import native_bf16  # noqa: E402
from act_training.train.step_time import SyntheticStep, measure_step_seconds  # noqa: E402

VARIANTS = {
    'cpu_demo': [],
    'cpu_demo, frozen BN (paper norm)': ['model.backbone_norm=frozen_batchnorm'],
    'cpu_demo @ 96x128': ['model.image_height=96', 'model.image_width=128'],
    'cpu_demo @ 240x320': ['model.image_height=240', 'model.image_width=320'],
    'cpu_demo, chunk 100': ['model.chunk_size=100'],
    'cpu_demo, batch 16': ['train.batch_size=16'],
}


def measure(model_config, train_config, steps: int, bf16: bool) -> tuple[float, float]:
    """(median seconds per step, FLOPs per step)."""
    step = SyntheticStep(model_config, train_config, bf16=bf16)
    counter = flop_counter()
    with counter:
        step()  # also the first warm-up step
    return measure_step_seconds(step, steps, warmup=1), float(counter.get_total_flops())


def profile(model_config, train_config, bf16: bool) -> None:
    step = SyntheticStep(model_config, train_config, bf16=bf16)
    measure_step_seconds(step, steps=1, warmup=2)
    with torch.profiler.profile(activities=[torch.profiler.ProfilerActivity.CPU]) as prof:
        for _ in range(3):
            step()
    print(prof.key_averages().table(sort_by='self_cpu_time_total', row_limit=25))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('--config', default=str(ROOT / 'act_training' / 'config' / 'training' / 'cpu_demo.yaml'))
    parser.add_argument('--set', action='append', default=[], help='one variant with these overrides instead of the list')
    parser.add_argument('--steps', type=int, default=5)
    parser.add_argument('--budget-s', type=float, default=600.0, help='training time the demo allows')
    parser.add_argument('--profile', action='store_true', help='print where the first variant\'s step time goes')
    args = parser.parse_args()
    cpu = cpu_features()
    native = native_bf16(torch.device('cpu'))
    print(cpu.describe())
    print(f'torch {torch.__version__}, {torch.get_num_threads()} threads; theoretical FMA peak '
          f'fp32 {cpu.peak_gflops("fp32", torch.get_num_threads()):.0f} GFLOP/s, '
          f'bf16 {cpu.peak_gflops("bf16", torch.get_num_threads()):.0f} GFLOP/s; median of {args.steps} steps')
    base_model, base_train = load_training_configs(args.config)
    variants = {'custom': args.set} if args.set else VARIANTS
    precisions = [False, True] if native else [False]
    if not native:
        print('bf16 is not native on this CPU: the trainer uses fp32 here, so only fp32 is measured')
    if args.profile:
        model_config, train_config = apply_overrides(base_model, base_train, next(iter(variants.values())))
        profile(model_config, train_config, bf16=native)
        return 0
    print(f'{"variant":34s} {"prec":>5s} {"s/step":>7s} {"samples/s":>9s} {"GFLOP/step":>10s} {"GFLOP/s":>8s} '
          f'{"of peak":>7s} {"steps in budget":>15s}')
    for name, overrides in variants.items():
        model_config, train_config = apply_overrides(base_model, base_train, overrides)
        for bf16 in precisions:
            seconds, flops = measure(model_config, train_config, args.steps, bf16)
            rate = flops / seconds / 1e9
            peak = cpu.peak_gflops('bf16' if bf16 else 'fp32', torch.get_num_threads())
            share = f'{100 * rate / peak:6.1f}%' if peak else '    n/a'
            print(f'{name:34s} {"bf16" if bf16 else "fp32":>5s} {seconds:7.3f} {train_config.batch_size / seconds:9.1f} '
                  f'{flops / 1e9:10.1f} {rate:8.1f} {share:>7s} {int(args.budget_s / seconds):15d}', flush=True)
    return 0


if __name__ == '__main__':
    sys.exit(main())
