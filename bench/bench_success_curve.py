#!/usr/bin/env python3
"""Success against training steps (and CPU minutes) of one recipe: the evidence that the
implementation learns the task when trained long enough.

    .venv/bin/python bench/gpu_pipeline.py --stage data --device cpu --episodes 50 --output runs/data50
    .venv/bin/python bench/bench_success_curve.py --data runs/data50/episodes --output runs/curve \
        --snapshots 500,1000,2000,4000 --seeds 30

Trains once with TrainConfig.snapshot_steps (the weights at each listed step are kept as
step_<k>/), then runs every snapshot closed loop on the same unseen seeds (100000 on,
never used for data) in lockstep (act_tools.lockstep_rollout: the paper's protocol,
independent of the machine's speed), chunked execution unless --weighting says otherwise.
Prints a table with each success rate's 95 % Wilson interval and writes curve.json and
curve.png (success vs steps and vs training minutes). --eval-only re-evaluates a run.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
EVAL_SEED_START = 100_000


def main() -> int:
    from act_training.train.optim import flush_denormals

    flush_denormals()  # before any torch op, so that torch's worker threads inherit it
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('--data', type=Path, required=True, help='folder of HDF5 training episodes')
    parser.add_argument('--output', type=Path, required=True)
    parser.add_argument('--config', default='cpu_demo', help='training config name or YAML path')
    parser.add_argument('--set', action='append', default=[], help='training override SECTION.FIELD=VALUE')
    parser.add_argument('--snapshots', default='500,1000,2000,4000', help='comma-separated steps to evaluate')
    parser.add_argument('--seeds', type=int, default=30, help='unseen evaluation seeds per snapshot')
    parser.add_argument('--task', default='transfer_cube')
    parser.add_argument('--weighting', default='chunked', help='chunked | oldest_first | newest_first')
    parser.add_argument('--query-period', type=int, default=0, help='ticks between queries (0: the node default)')
    parser.add_argument('--eval-only', action='store_true')
    args = parser.parse_args()

    import torch

    from act_tools.lockstep_rollout import RolloutConfig, evaluate
    from act_tools.paths import training_config_path
    from act_common.cpu_features import cpu_features
    from act_common.success_rate import SuccessRate
    from act_policy_node.temporal_ensembler import Weighting
    from act_training.config import load_training_configs
    from act_training.train.checkpoint import load_checkpoint
    from act_training.train.trainer import snapshot_name, train

    print(cpu_features().describe(), f'| torch {torch.__version__}, {torch.get_num_threads()} threads', flush=True)
    snapshots = sorted({int(k) for k in args.snapshots.split(',') if k.strip()})
    config_path = args.config if Path(args.config).suffix else str(training_config_path(args.config))
    if not args.eval_only:
        overrides = [f'train.steps={snapshots[-1]}', f'train.snapshot_steps=[{",".join(map(str, snapshots))}]', *args.set]
        model_config, train_config = load_training_configs(config_path, overrides)
        result = train(model_config, train_config, args.data, args.output, progress='bar')
        print(f'trained {result.steps} steps in {result.seconds / 60:.1f} min ({result.samples_per_s:.1f} samples/s)')

    seeds = list(range(EVAL_SEED_START, EVAL_SEED_START + args.seeds))
    rollout = RolloutConfig(query_period_ticks=args.query_period, weighting=Weighting.parse(args.weighting))
    rows = []
    print(f'{"step":>7s} {"train min":>9s} {"val L1":>7s} {"t0 L1":>6s} {"mid L1":>6s}  success (lockstep, {args.weighting})')
    for step in snapshots:
        folder = args.output / snapshot_name(step)
        metrics = load_checkpoint(folder).metrics
        started = time.monotonic()
        outcomes = evaluate(str(folder), args.task, seeds, rollout)
        rate = SuccessRate.from_outcomes([o.success for o in outcomes], seeds, mode='lockstep')
        row = {'step': step, 'train_minutes': metrics.get('train_seconds', float('nan')) / 60,
               'val_l1': metrics.get('val_l1'), 'val_l1_t0': metrics.get('val_l1_t0'),
               'val_l1_mid': metrics.get('val_l1_mid'), 'success': rate.to_dict(),
               'eval_seconds': time.monotonic() - started}
        rows.append(row)

        def fmt(value):
            return f'{value:.3f}' if isinstance(value, float) else '  -  '

        print(f'{step:7d} {row["train_minutes"]:9.1f} {fmt(row["val_l1"]):>7s} {fmt(row["val_l1_t0"]):>6s} '
              f'{fmt(row["val_l1_mid"]):>6s}  {rate.describe()}', flush=True)
    summary = {'cpu': cpu_features().describe(), 'config': config_path, 'overrides': args.set, 'task': args.task,
               'weighting': args.weighting, 'query_period': args.query_period, 'rows': rows}
    (args.output / 'curve.json').write_text(json.dumps(summary, indent=2))
    plot(rows, args.output / 'curve.png', f'{Path(config_path).stem} {" ".join(args.set)}'.strip())
    print(f'wrote {args.output / "curve.json"} and {args.output / "curve.png"}')
    return 0


def plot(rows: list[dict], path: Path, title: str) -> None:
    import matplotlib

    matplotlib.use('Agg')
    import matplotlib.pyplot as plt

    rates = [100 * r['success']['rate'] for r in rows]
    low = [rate - 100 * r['success']['ci95_low'] for rate, r in zip(rates, rows)]
    high = [100 * r['success']['ci95_high'] - rate for rate, r in zip(rates, rows)]
    figure, axes = plt.subplots(1, 2, figsize=(10, 4), sharey=True)
    for axis, key, label in ((axes[0], 'step', 'training steps'), (axes[1], 'train_minutes', 'training minutes (this CPU)')):
        axis.errorbar([r[key] for r in rows], rates, yerr=[low, high], marker='o', capsize=4)
        axis.set_xlabel(label)
        axis.grid(alpha=0.3)
    axes[0].set_ylabel(f'success % (95 % Wilson interval, {rows[0]["success"]["episodes"]} seeds, lockstep)')
    axes[0].set_ylim(-2, 102)
    figure.suptitle(title)
    figure.tight_layout()
    figure.savefig(path, dpi=120)
    plt.close(figure)


if __name__ == '__main__':
    sys.exit(main())
