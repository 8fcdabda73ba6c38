#!/usr/bin/env python3
"""Where ResNet-18's 3x3 convolutions should run as Winograd F(4x4, 3x3) on this CPU
(act_training.model.winograd), at inference and in training, and what it saves per chunk
and per training step.

    .venv/bin/python bench/bench_winograd.py              # parts 1-3 (inference), all threads
    .venv/bin/python bench/bench_winograd.py --quick      # a rehearsal: fewer repeats
    .venv/bin/python bench/bench_winograd.py --training   # part 4 (training) alone, 4-6 minutes
    .venv/bin/python bench/bench_winograd.py --training --quick   # its rehearsal, 1-2 minutes

1. Per convolution, fp32, with the bias and the residual add and ReLU of a block's second
   convolution: oneDNN's direct convolution (onednn.PackedConv2d, weight laid out
   beforehand) against winograd.WinogradConv2d, for every 3x3 stride-1 convolution shape of
   ResNet-18 at the paper config's 480x640 (1 and 4 cameras) and at the CPU demo's frames,
   and at sizes between them (the edges of winograd.conv_kernel's rule). Prints both times,
   the ratio, the kernel the rule picks and the largest difference against the direct
   convolution (relative to its largest output).
2. Whole chunks as the policy runs them (ActInference under runner.CpuRunner):
   backbone.PackedBackbone with the rule's Winograd convolutions against the same backbone
   with them direct (PackedBackbone.set_winograd), alternating `--rounds` times; the ratio
   of the best medians and the largest difference between the two chunks.
3. Memory: the paper config's fp32 policy (1 camera) built in a fresh process with the rule's
   kernels and with every convolution direct, alternating `--rounds` times: resident MiB
   after three chunks, after glibc's malloc_trim, and the process's peak (medians).
   `--memory` runs this part alone.
4. Training (`--training` runs this part alone), fp32 at the side-by-side bench's batch 8,
   with the allocator as the CPU trainer sets it (act_training.train.allocator): per
   convolution, forward and backward (input, weight and bias gradients) of F.conv2d against
   winograd.winograd_conv2d, for the 3x3 stride-1 shapes of the paper config and the CPU
   demo and sizes between them (the edges of winograd.training_conv_kernel's rule); the
   medians of `--rounds` alternating runs, the kernel the rule picks and the largest
   difference of the output and of each gradient (relative to its largest value). Then
   whole training steps of both configs (train.step_time.SyntheticStep), the rule's
   kernels against every convolution direct (winograd.direct_training_convolutions),
   alternating `--rounds` times. Columns: "tiles", the 4x4 output tiles over the batch
   (what winograd.TRAINING_MIN_TILES counts); "ratio", direct time / Winograd time (over 1:
   Winograd is faster); "rule", what training_conv_kernel picks; "difference", Winograd
   against fp32's F.conv2d, not against float64. "from": "demo" is the CPU demo's 96x128
   frames, "edge" TRAINING_EDGE_SHAPES. The demo's whole-step row runs direct convolutions
   on both sides (the rule picks none there): its speed-up is the run's noise.

The CPU model and flags are printed first: the rule was measured on some CPUs, not all.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import statistics
import subprocess
import sys
from pathlib import Path

import torch
import torch.nn.functional as F

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))  # its sibling bench_roofline (PYTHONSAFEPATH keeps the script's folder off sys.path)
from bench_roofline import cpu_inference_engine  # noqa: E402  (puts the source tree on sys.path if needed)
from bench_linear_kernels import configs, median_ms  # noqa: E402  (the same three configs and step timer)

from act_common.cpu_features import cpu_features  # noqa: E402
from act_training.config import ModelConfig  # noqa: E402
from act_training.model.backbone import (PackedBackbone, ResNet18Features, conv_input_sizes,  # noqa: E402
                                         fold_frozen_batchnorm)
from act_training.model.onednn import PackedConv2d, onednn_conv_available  # noqa: E402
from act_training.model.winograd import WinogradConv2d, conv_kernel, is_winograd_shape  # noqa: E402
from act_training.train.allocator import release_freed_memory  # noqa: E402


def backbone_shapes(config: ModelConfig) -> list[tuple[int, int, int, int, int]]:
    """(N, C_in, H, W, C_out) of each distinct convolution of the config's backbone (its
    cameras, frames and dilation) that WinogradConv2d can compute (winograd.is_winograd_shape)."""
    folded = fold_frozen_batchnorm(ResNet18Features(dilate_last_stage=config.backbone_dilation))
    sizes = conv_input_sizes(folded, (len(config.camera_names), 3, config.image_height, config.image_width))
    shapes = [(*size, conv.out_channels) for conv, size in sizes.items() if is_winograd_shape(conv)]
    return list(dict.fromkeys(shapes))  # distinct, in the network's order


# Between the demo's and the paper config's sizes: where the rule's thresholds fall.
EDGE_SHAPES = [(1, 64, 60, 80, 64), (1, 128, 15, 20, 128), (2, 128, 15, 20, 128), (1, 128, 24, 32, 128),
               (1, 256, 8, 10, 256), (1, 256, 12, 16, 256), (1, 512, 6, 8, 512), (1, 512, 8, 10, 512),
               (1, 512, 12, 16, 512), (1, 128, 30, 40, 128), (1, 256, 15, 20, 256)]
# Several cameras at small frames (2 at 192x256, 4 at 120x160 and 240x320): more images of a
# map a few tiles cover.
CAMERA_SHAPES = [(2, 512, 6, 8, 512), (4, 512, 4, 5, 512), (4, 256, 8, 10, 256), (4, 512, 8, 10, 512)]


def per_convolution(repeats: int) -> None:
    print('\n1. per convolution, fp32, conv + bias + residual add + ReLU (ms, median of '
          f'{repeats} after 3 warm-up calls)')
    print(f'  {"input (N, C, H, W) -> C_out":<30}{"from":<18}{"direct":>9}{"winograd":>10}{"ratio":>8}{"rule":>10}'
          f'{"difference":>12}')
    rows = [(shape, name) for name, config in configs().items() for shape in backbone_shapes(config)]
    rows += [(shape, 'edge') for shape in EDGE_SHAPES] + [(shape, 'cameras') for shape in CAMERA_SHAPES]
    torch.manual_seed(0)
    for (*shape, out_channels), origin in rows:
        batch, channels, height, width = shape
        conv = torch.nn.Conv2d(channels, out_channels, 3, padding=1).eval()
        x = torch.randn(shape).contiguous(memory_format=torch.channels_last)
        residual = torch.randn(batch, out_channels, height, width).contiguous(memory_format=torch.channels_last)
        with torch.no_grad():
            direct, winograd = PackedConv2d(conv, shape), WinogradConv2d(conv, shape)
            reference = F.relu(F.conv2d(x, conv.weight, conv.bias, padding=1) + residual)
            difference = float((winograd.add_relu(x, residual) - reference).abs().max() / reference.abs().max())
            direct_ms = median_ms(lambda: direct.add_relu(x, residual), repeats)
            winograd_ms = median_ms(lambda: winograd.add_relu(x, residual), repeats)
        print(f'  {f"{tuple(shape)} -> {out_channels}":<30}{origin:<18}{direct_ms:9.3f}{winograd_ms:10.3f}'
              f'{direct_ms / winograd_ms:7.2f}x'
              f'{conv_kernel(conv, shape):>10}{difference:12.1e}', flush=True)


def whole_chunks(rounds: int, repeats: int) -> None:
    print(f'\n2. whole chunks as the policy runs them, fp32 (ms, best median of {rounds} alternating rounds)')
    print(f'  {"config":<18}{"winograd convs":>16}{"all direct":>12}{"as chosen":>11}{"speed-up":>10}'
          f'{"largest chunk difference":>27}')
    for name, config in configs().items():
        engine, frames, qpos = cpu_inference_engine(config)
        chosen = engine.backbone
        if not isinstance(chosen, PackedBackbone):
            print(f'  {name}: the runner does not pack the backbone here; nothing to compare')
            continue
        best, chunks = {'direct': float('inf'), 'chosen': float('inf')}, {}
        calls = repeats * (5 if name == 'demo' else 1)
        with torch.inference_mode():
            for round_index in range(rounds):
                order = ('direct', 'chosen') if round_index % 2 == 0 else ('chosen', 'direct')
                for kind in order:
                    chosen.set_winograd(kind == 'chosen')
                    chunks[kind] = engine(frames, qpos)
                    best[kind] = min(best[kind], median_ms(lambda: engine(frames, qpos), calls))
        difference = float((chunks['chosen'] - chunks['direct']).abs().max())
        print(f'  {name:<18}{chosen.winograd_count:>16}{best["direct"]:12.1f}{best["chosen"]:11.1f}'
              f'{best["direct"] / best["chosen"]:9.2f}x{difference:15.1e} (largest entry '
              f'{float(chunks["direct"].abs().max()):.2f})', flush=True)


def _resident_mib(field: str = 'VmRSS') -> float:
    """This process's resident memory now (VmRSS) or at its peak (VmHWM), MiB. Not
    getrusage's ru_maxrss: Linux carries the forking parent's resident size into it."""
    with open('/proc/self/status') as f:
        for line in f:
            if line.startswith(field + ':'):
                return int(line.split()[1]) / 1024  # kB
    raise RuntimeError(f'/proc/self/status has no {field}')


def memory_child(kernels: str) -> None:
    """Part 3 in its own process: the paper config's fp32 policy with the rule's kernels
    ('rule') or every convolution direct ('direct'), three chunks, then one JSON line of MiB."""
    if kernels == 'direct':
        from act_training.model import winograd
        winograd.conv_kernel = lambda conv, input_size: 'direct'  # PackedBackbone reads the rule when built
    engine, frames, qpos = cpu_inference_engine(configs()['paper, 1 camera'])
    with torch.inference_mode():
        for _ in range(3):
            engine(frames, qpos)
    resident = _resident_mib()
    trimmed = _resident_mib() if release_freed_memory() else float('nan')
    print(json.dumps({'resident': resident, 'trimmed': trimmed, 'peak': _resident_mib('VmHWM')}))


def memory_cost(rounds: int) -> None:
    print(f'\n3. memory, paper config, 1 camera, fp32 policy in a fresh process, 3 chunks (MiB, median of {rounds} '
          'alternating rounds)')
    runs: dict[str, list[dict]] = {'direct': [], 'rule': []}
    for round_index in range(rounds):
        for kernels in (('direct', 'rule') if round_index % 2 == 0 else ('rule', 'direct')):
            out = subprocess.run([sys.executable, str(Path(__file__).resolve()), '--memory-child', kernels],
                                 capture_output=True, text=True, check=True)
            runs[kernels].append(json.loads(out.stdout.strip().splitlines()[-1]))
    print(f'  {"":<36}{"all direct":>12}{"as chosen":>11}{"difference":>12}')
    for key, label in (('resident', 'resident after the chunks'), ('trimmed', 'resident after malloc_trim'),
                       ('peak', 'peak resident')):
        direct, chosen = (statistics.median(run[key] for run in runs[kind]) for kind in ('direct', 'rule'))
        print(f'  {label:<36}{direct:12.0f}{chosen:11.0f}{chosen - direct:12.0f}', flush=True)


# Training shapes (N, C_in, H, W, C_out) beyond the two configs': where TRAINING_MIN_TILES falls.
TRAINING_EDGE_SHAPES = [(8, 128, 24, 32, 128), (8, 256, 12, 16, 256), (8, 512, 8, 10, 512), (4, 512, 15, 20, 512),
                        (2, 512, 15, 20, 512), (2, 256, 30, 40, 256)]


def training_configs() -> dict[str, ModelConfig]:
    """configs() less the 4-camera paper config: the side-by-side bench trains one camera."""
    return {name: config for name, config in configs().items() if name != 'paper, 4 cameras'}


def _output_and_gradients(run, inputs: tuple, grad: torch.Tensor) -> tuple:
    """run()'s output and its gradients with respect to inputs, for the output gradient grad."""
    out = run()
    return (out.detach(), *torch.autograd.grad(out, inputs, grad))


def training_per_convolution(rounds: int, repeats: int) -> None:
    from act_training.model.winograd import tile_grid, training_conv_kernel, winograd_conv2d

    from bench_inputs import TRAIN_BATCH

    print(f'\n4. training, per convolution, fp32, forward and backward at batch {TRAIN_BATCH} (ms, median of '
          f'{rounds} alternating medians of {repeats})')
    print(f'  {"input (N, C, H, W) -> C_out":<30}{"from":<18}{"tiles":>6}{"direct":>9}{"winograd":>10}{"ratio":>8}'
          f'{"rule":>10}{"difference (y, dx, dw, db)":>30}')
    shapes = [((TRAIN_BATCH, *shape[1:]), name) for name, config in training_configs().items()
              for shape in backbone_shapes(config)]
    shapes += [(shape, 'edge') for shape in TRAINING_EDGE_SHAPES]
    torch.manual_seed(0)
    for (*shape, out_channels), origin in dict.fromkeys(shapes):
        batch, channels, height, width = shape
        conv = torch.nn.Conv2d(channels, out_channels, 3, padding=1, bias=False)
        x = torch.randn(shape).contiguous(memory_format=torch.channels_last).requires_grad_()
        weight = (torch.randn(out_channels, channels, 3, 3) / (3 * channels ** 0.5)).requires_grad_()
        bias = torch.randn(out_channels).requires_grad_()
        grad = torch.randn(batch, out_channels, height, width).contiguous(memory_format=torch.channels_last)
        kernels = {'direct': lambda: F.conv2d(x, weight, bias, padding=1), 'winograd': lambda: winograd_conv2d(x, weight, bias)}
        results = {kind: _output_and_gradients(run, (x, weight, bias), grad) for kind, run in kernels.items()}
        difference = [float((w - d).abs().max() / d.abs().max()) for w, d in zip(results['winograd'], results['direct'])]
        medians = {kind: [] for kind in kernels}
        for round_index in range(rounds):
            for kind in (('direct', 'winograd') if round_index % 2 == 0 else ('winograd', 'direct')):
                run = kernels[kind]
                medians[kind].append(median_ms(lambda: torch.autograd.grad(run(), (x, weight, bias), grad), repeats))
        direct_ms, winograd_ms = (statistics.median(medians[kind]) for kind in kernels)
        rows, columns = tile_grid(height, width)
        print(f'  {f"{tuple(shape)} -> {out_channels}":<30}{origin:<18}{batch * rows * columns:>6}{direct_ms:9.1f}'
              f'{winograd_ms:10.1f}{direct_ms / winograd_ms:7.2f}x{training_conv_kernel(conv, x):>10}'
              f'{"  " + ", ".join(f"{d:.0e}" for d in difference):>30}', flush=True)


def training_steps(rounds: int) -> None:
    from act_training.config import TrainConfig
    from act_training.model.winograd import direct_training_convolutions
    from act_training.train.step_time import SyntheticStep

    from bench_inputs import TRAIN_BATCH

    print(f'\n   whole training steps, fp32, batch {TRAIN_BATCH} (s, best median of {rounds} alternating rounds of 3 steps)')
    print(f'  {"config":<18}{"all direct":>12}{"as chosen":>11}{"speed-up":>10}')
    for name, config in training_configs().items():
        step = SyntheticStep(config, TrainConfig(batch_size=TRAIN_BATCH), bf16=False)
        best = {'direct': float('inf'), 'chosen': float('inf')}
        for round_index in range(rounds):
            for kind in (('direct', 'chosen') if round_index % 2 == 0 else ('chosen', 'direct')):
                with direct_training_convolutions() if kind == 'direct' else contextlib.nullcontext():
                    best[kind] = min(best[kind], median_ms(step, 3, warmup=1) / 1000)
        print(f'  {name:<18}{best["direct"]:12.3f}{best["chosen"]:11.3f}{best["direct"] / best["chosen"]:9.2f}x',
              flush=True)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('--rounds', type=int, default=3)
    parser.add_argument('--repeats', type=int, default=20)
    parser.add_argument('--quick', action='store_true',
                        help='1 round, 5 repeats (part 4: 3 repeats); with --training 1-2 minutes')
    parser.add_argument('--memory', action='store_true', help='part 3 (memory) only')
    parser.add_argument('--training', action='store_true', help='part 4 (training) only')
    parser.add_argument('--memory-child', choices=('rule', 'direct'), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.memory_child:
        memory_child(args.memory_child)
        return 0
    rounds, repeats = (1, 5) if args.quick else (args.rounds, args.repeats)
    print(cpu_features().describe())
    print(f'torch {torch.__version__}, {torch.get_num_threads()} threads')
    if args.training:  # torch.bmm and mm only: no oneDNN operator needed
        from act_training.train.allocator import keep_freed_memory

        keep_freed_memory()  # as the CPU trainer does
        training_per_convolution(rounds, max(3, repeats // 4))
        training_steps(rounds)
        return 0
    if not onednn_conv_available():
        print('this torch has no oneDNN convolution operators: nothing to measure')
        return 1
    if not args.memory:
        per_convolution(repeats)
        whole_chunks(rounds, repeats)
    memory_cost(rounds)
    return 0


if __name__ == '__main__':
    raise SystemExit(main())
