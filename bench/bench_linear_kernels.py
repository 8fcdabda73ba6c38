#!/usr/bin/env python3
"""Which oneDNN kernel should run ACT's linear layers at inference on this CPU: oneDNN's
matmul, or the same product as a 1x1 convolution (act_training.model.onednn.PackedLinear's
two kernels; onednn.linear_kernel picks one per product)?

    .venv/bin/python bench/bench_linear_kernels.py            # this machine, all threads
    .venv/bin/python bench/bench_linear_kernels.py --quick    # a rehearsal: fewer repeats

1. Per product: every linear shape of the CPU demo's model and of the paper config (1 and 4
   cameras), at the row counts the policy runs them with (encoder: the tokens; decoder: the
   chunk), fp32. GFLOP/s through MKL's sgemm (F.linear, what nn.Linear runs), oneDNN's matmul
   and oneDNN's 1x1 convolution, each with its weight laid out beforehand as PackedLinear
   does (MKL's needs none); the matmul's time over the convolution's; the kernel
   linear_kernel picks here.
2. Whole chunks, as the policy runs them (ActInference under runner.CpuRunner): every
   PackedLinear on oneDNN's matmul against each on linear_kernel's choice, alternating
   `--rounds` times; the ratio of the best medians and the largest difference between the
   two chunks (the kernels sum in different orders).

The CPU model and flags are printed first: the choice is made from them.
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import replace
from pathlib import Path

import torch

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))  # its sibling bench_roofline (PYTHONSAFEPATH keeps the script's folder off sys.path)
from bench_roofline import DEMO_CONFIG, cpu_inference_engine  # noqa: E402  (puts the source tree on sys.path if needed)

from act_common.cpu_features import cpu_features  # noqa: E402
from act_training.config import ModelConfig, load_training_configs  # noqa: E402
from act_training.model.onednn import (PackedLinear, linear_kernel, onednn_available,  # noqa: E402
                                       onednn_conv_available)
from act_training.train.step_time import measure_step_seconds  # noqa: E402


def median_ms(call, repeats: int, warmup: int = 3) -> float:
    """Median wall milliseconds of `repeats` calls after `warmup` (the trainer's step timer)."""
    return measure_step_seconds(call, repeats, warmup) * 1e3


def configs() -> dict[str, ModelConfig]:
    demo, _ = load_training_configs(DEMO_CONFIG)
    paper = ModelConfig(camera_names=('top',))
    return {'demo': demo, 'paper, 1 camera': paper,
            'paper, 4 cameras': replace(paper, camera_names=('top', 'left', 'right', 'low'))}


def all_matmul(engine: torch.nn.Module) -> torch.nn.Module:
    """The engine with each PackedLinear replaced by one on oneDNN's matmul (same weight)."""
    for name, child in engine.named_children():
        if isinstance(child, PackedLinear):
            setattr(engine, name, PackedLinear(child, child.rows_hint, kernel='matmul'))
        else:
            all_matmul(child)
    return engine


def engines() -> dict[str, tuple]:
    """Per config: (config, policy with linear_kernel's choices, the same weights all on oneDNN's
    matmul, frames, qpos)."""
    built = {}
    for name, config in configs().items():
        torch.manual_seed(0)
        chosen, frames, qpos = cpu_inference_engine(config)
        torch.manual_seed(0)
        matmul = all_matmul(cpu_inference_engine(config)[0])
        built[name] = (config, chosen, matmul, frames, qpos)
    return built


def products(config: ModelConfig, token_count: int) -> list[tuple[int, int, int]]:
    """(rows, in, out) of each distinct linear product the policy runs for one chunk."""
    dim, feedforward = config.dim_model, config.dim_feedforward
    shapes = [(dim, 3 * dim), (dim, dim), (dim, feedforward), (feedforward, dim)]
    return [(rows, k, n) for rows in (token_count, config.chunk_size) for k, n in shapes]


def sweep(built: dict[str, tuple], repeats: int) -> None:
    print('1. per product, fp32 (GFLOP/s; "matmul / conv": the matmul\'s time over the 1x1 convolution\'s)')
    print(f'  {"config":17s} {"rows":>5s} {"in":>5s} {"out":>5s} {"M MACs":>7s} {"MKL":>6s} {"matmul":>7s} '
          f'{"conv1x1":>8s} {"matmul / conv":>14s}  picked')
    seen = set()
    with torch.inference_mode():
        for name, (config, chosen, *_) in built.items():
            for rows, k, n in products(config, chosen.token_count):
                if (rows, k, n) in seen:
                    continue
                seen.add((rows, k, n))
                linear, x = torch.nn.Linear(k, n), torch.randn(rows, k)
                flop = 2 * rows * k * n
                ms = {'MKL': median_ms(lambda: linear(x), repeats)}
                for kernel in ('matmul', 'conv1x1'):
                    packed = PackedLinear(linear, rows_hint=rows, kernel=kernel)
                    ms[kernel] = median_ms(lambda: packed(x), repeats)
                rate = {kind: flop / value / 1e6 for kind, value in ms.items()}
                print(f'  {name:17s} {rows:5d} {k:5d} {n:5d} {rows * k * n / 1e6:7.1f} {rate["MKL"]:6.1f} '
                      f'{rate["matmul"]:7.1f} {rate["conv1x1"]:8.1f} {ms["matmul"] / ms["conv1x1"]:13.2f}x  '
                      f'{linear_kernel(rows * k * n)}', flush=True)


def chunks(built: dict[str, tuple], rounds: int, repeats: int) -> None:
    print(f'\n2. whole chunks, fp32, as runner.CpuRunner runs them (best median of {rounds} alternating rounds)')
    for name, (config, chosen, matmul, frames, qpos) in built.items():
        times = {'matmul': [], 'chosen': []}
        with torch.inference_mode():
            difference = float((chosen(frames, qpos) - matmul(frames, qpos)).abs().max())
            kernels = sorted({k for m in chosen.modules() if isinstance(m, PackedLinear)
                              for k, _ in m._by_rows.values()})
            for round_index in range(rounds):
                order = ('matmul', 'chosen') if round_index % 2 == 0 else ('chosen', 'matmul')
                for which in order:
                    engine = matmul if which == 'matmul' else chosen
                    times[which].append(median_ms(lambda: engine(frames, qpos), repeats, warmup=1))
        best = {which: min(values) for which, values in times.items()}
        print(f'  {name:17s} all matmul {best["matmul"]:8.1f} ms   as chosen ({"+".join(kernels)}) '
              f'{best["chosen"]:8.1f} ms   {best["matmul"] / best["chosen"]:.3f}x   '
              f'largest difference {difference:.1e}   rounds: matmul {[round(t, 1) for t in times["matmul"]]}, '
              f'chosen {[round(t, 1) for t in times["chosen"]]}', flush=True)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('--quick', action='store_true', help='fewer repeats and rounds')
    parser.add_argument('--rounds', type=int, default=3, help='alternating rounds of the whole-chunk A/B')
    args = parser.parse_args()
    print(cpu_features().describe())
    print(f'torch {torch.__version__}, {torch.get_num_threads()} threads\n')
    if not (onednn_available() and onednn_conv_available()):
        print("this torch build lacks oneDNN's linear or convolution operators: nothing to compare")
        return 1
    built = engines()
    sweep(built, repeats=20 if args.quick else 100)
    chunks(built, rounds=1 if args.quick else args.rounds, repeats=2 if args.quick else 7)
    return 0


if __name__ == '__main__':
    sys.exit(main())
