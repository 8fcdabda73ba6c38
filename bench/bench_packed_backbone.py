#!/usr/bin/env python3
"""What backbone.PackedBackbone saves at inference on this CPU: the policy's chunk time with the
backbone packed (oneDNN convolutions laid out once, ReLUs and residual adds fused into them;
what runner.CpuRunner runs) against the folded eager backbone (what it ran before), side by
side in one process, rounds alternating.

    . scripts/env.sh && python bench/bench_packed_backbone.py [--rounds 3]

Random weights (the time does not depend on them), one camera, ActInference through
CpuRunner, a batch of one: the paper config (480x640, dim 512) and the CPU demo's
(config/training/cpu_demo.yaml), in fp32 and, where the CPU computes bf16 natively and
oneDNN packs bf16 weights, in bf16. Prints the CPU model and flags first, then per row the
best median of the rounds, the ratio, and the largest difference between the two chunks.
"""

from __future__ import annotations

import argparse
from dataclasses import replace
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]

from act_common.cpu_features import cpu_features  # noqa: E402
from act_training.config import ModelConfig, load_training_configs  # noqa: E402
from act_training.model import build_model  # noqa: E402
from act_training.model.backbone import PackedBackbone  # noqa: E402
from act_training.model.inference import ActInference  # noqa: E402
from act_training.model.runner import CpuRunner, native_bf16, packs_linear_weights  # noqa: E402
from act_training.train.step_time import measure_step_seconds  # noqa: E402

DEMO_CONFIG = ROOT / 'act_training' / 'config' / 'training' / 'cpu_demo.yaml'
STATE_DIM = 14


def median_ms(call, iterations: int) -> float:
    """The trainer's step timer (median after 2 warm-up calls), in milliseconds."""
    return 1000 * measure_step_seconds(call, iterations)


def compare(label: str, config: ModelConfig, dtype: torch.dtype, rounds: int, iterations: int) -> None:
    torch.manual_seed(0)
    model = build_model(replace(config, camera_names=('top',), state_dim=STATE_DIM, action_dim=STATE_DIM,
                                backbone_weights='none')).eval()
    runner = CpuRunner(ActInference(model), dtype)
    engine = runner.engine
    packed = engine.backbone
    if not isinstance(packed, PackedBackbone):
        print(f'{label}: the runner does not pack the backbone here (dtype {dtype}); nothing to compare')
        return
    # The folded eager backbone PackedBackbone was built from: the same weights, in eager mode.
    eager = ActInference(model).set_compute_dtype(dtype).backbone
    frames = [torch.randint(0, 256, (config.image_height, config.image_width, 3), dtype=torch.uint8).numpy()]
    qpos = torch.randn(STATE_DIM).numpy()
    best = {'eager': float('inf'), 'packed': float('inf')}
    chunks = {}
    for round_index in range(rounds):
        order = ('eager', 'packed') if round_index % 2 == 0 else ('packed', 'eager')
        for name in order:
            engine.backbone = eager if name == 'eager' else packed
            chunks[name] = runner(frames, qpos)  # (S, Da)
            best[name] = min(best[name], median_ms(lambda: runner(frames, qpos), iterations))
    engine.backbone = packed
    difference = float(abs(chunks['packed'] - chunks['eager']).max())
    precision = 'bf16' if dtype == torch.bfloat16 else 'fp32'
    print(f'{label:<28}{precision:>6}{best["eager"]:10.2f}{best["packed"]:10.2f}{best["eager"] / best["packed"]:8.2f}x'
          f'   {difference:.1e} (largest entry {float(abs(chunks["eager"]).max()):.2f})')


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('--rounds', type=int, default=3)
    parser.add_argument('--iterations', type=int, default=20, help='timed chunks per round (the demo config: 5x)')
    args = parser.parse_args()
    print(cpu_features().describe())
    print(f'torch {torch.__version__}, {torch.get_num_threads()} threads; best median of {args.rounds} alternating rounds')
    print(f'{"model":<28}{"":>6}{"eager ms":>10}{"packed ms":>10}{"ratio":>9}   largest chunk difference')
    dtypes = [torch.float32]
    if native_bf16(torch.device('cpu')) and packs_linear_weights(torch.bfloat16):
        dtypes.append(torch.bfloat16)
    demo, _ = load_training_configs(str(DEMO_CONFIG))
    for label, config, iterations in (('paper config, 480x640', ModelConfig(), args.iterations),
                                      (f'demo config, {demo.image_height}x{demo.image_width}', demo, 5 * args.iterations)):
        for dtype in dtypes:
            compare(label, config, dtype, args.rounds, iterations)
    return 0


if __name__ == '__main__':
    raise SystemExit(main())
