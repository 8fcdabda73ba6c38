#!/usr/bin/env python3
"""Screen one training recipe: train it, then run it closed loop in lockstep on unseen seeds
and on some of its own training seeds, and append one row to a results table.

    .venv/bin/python bench/gpu_pipeline.py --stage data --device cpu --episodes 50 --output runs/data50
    .venv/bin/python bench/bench_recipe_screen.py --data runs/data50/episodes --name noise0.3 \
        --set train.qpos_noise_std=0.3 --set train.steps=2000
    .venv/bin/python bench/bench_recipe_screen.py --table runs/screen    # the table of every screened recipe

Each row: the overrides on top of --config, the CPU (flags decide bf16), training minutes,
the vision diagnostic of the final weights (first-chunk L1 at t = 0 and mid-episode, on
held-out episodes, in action std: act_training.train.trainer.probe_l1), and the success
rates with their 95 % Wilson intervals. Lockstep (the paper's protocol) and chunked
execution with a query every chunk unless --weighting / --query-period say otherwise:
about 1 s per episode for the CPU demo model.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

EVAL_SEED_START = 100_000


def screen(args) -> dict:
    from act_tools.lockstep_rollout import RolloutConfig, evaluate
    from act_tools.paths import training_config_path
    from act_common.cpu_features import cpu_features
    from act_common.success_rate import SuccessRate
    from act_policy_node.temporal_ensembler import Weighting
    from act_training.config import load_training_configs
    from act_training.data.episodes import inspect_episode
    from act_training.train.trainer import train

    out = args.output / args.name
    config_path = args.config if Path(args.config).suffix else str(training_config_path(args.config))
    model_config, train_config = load_training_configs(config_path, args.set)
    result = train(model_config, train_config, args.data, out, progress='bar' if sys.stderr.isatty() else None)
    rollout = RolloutConfig(query_period_ticks=args.query_period, weighting=Weighting.parse(args.weighting))
    checkpoint = str(result.last_checkpoint)
    unseen = list(range(EVAL_SEED_START, EVAL_SEED_START + args.seeds))
    # The sim seed each training episode was recorded with (its HDF5 `seed` attribute).
    own = [int(inspect_episode(args.data / name).attrs['seed']) for name in result.train_episodes[:args.train_seeds]]
    rates = {}
    started = time.monotonic()
    for label, seeds in (('unseen', unseen), ('training', own)):
        outcomes = evaluate(checkpoint, args.task, seeds, rollout)
        rates[label] = SuccessRate.from_outcomes([o.success for o in outcomes], seeds, mode='lockstep').to_dict()
        rates[label]['max_rewards'] = [o.max_reward for o in outcomes]
    row = {'name': args.name, 'config': Path(config_path).stem, 'overrides': args.set, 'cpu': cpu_features().describe(),
           'train_episodes': len(result.train_episodes), 'steps': result.steps, 'train_minutes': result.seconds / 60,
           'probe_l1': result.final_probe_l1, 'val_l1': result.final_val_l1, 'weighting': args.weighting,
           'query_period': args.query_period, 'success': rates, 'eval_seconds': time.monotonic() - started}
    (out / 'screen.json').write_text(json.dumps(row, indent=2))
    return row


def table(folder: Path) -> str:
    from act_common.success_rate import wilson_interval

    def rate(block):
        low, high = wilson_interval(block['successes'], block['episodes'])
        return f'{block["successes"]}/{block["episodes"]} ({100 * low:.0f}-{100 * high:.0f} %)'

    def spread(row):
        # '-' for rows screened before the trainer logged it.
        value = row['probe_l1'].get('t0_spread')
        return '-' if value is None else f'{value:.2f}'

    lines = ['| recipe | overrides on its config | train episodes | steps | train min | t0 L1 | mid L1 | t0 spread | '
             'success, unseen seeds (95 % CI) | success, own training seeds |', '|' + '---|' * 10]
    cpus = set()
    for path in sorted(folder.glob('*/screen.json'), key=lambda p: p.stat().st_mtime):
        row = json.loads(path.read_text())
        cpus.add(row['cpu'])
        probe = row['probe_l1']
        lines.append(f'| {row["name"]} | {row["config"]} {" ".join(row["overrides"])} | {row["train_episodes"]} | '
                     f'{row["steps"]} | {row["train_minutes"]:.1f} | {probe.get("t0", float("nan")):.3f} | '
                     f'{probe.get("mid", float("nan")):.3f} | {spread(row)} | {rate(row["success"]["unseen"])} | '
                     f'{rate(row["success"]["training"])} |')
    return '\n'.join(lines + [''] + [f'CPU: {cpu}' for cpu in sorted(cpus)])


def main() -> int:
    from act_training.train.optim import flush_denormals

    flush_denormals()  # before any torch op, so that torch's worker threads inherit it
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('--data', type=Path, help='folder of HDF5 training episodes')
    parser.add_argument('--name', help='name of this recipe (its folder under --output)')
    parser.add_argument('--output', type=Path, default=Path('runs/screen'))
    parser.add_argument('--config', default='cpu_demo', help='training config name or YAML path')
    parser.add_argument('--set', action='append', default=[], help='training override SECTION.FIELD=VALUE')
    parser.add_argument('--seeds', type=int, default=30, help='unseen evaluation seeds (100000 on)')
    parser.add_argument('--train-seeds', type=int, default=10, help='own training seeds to evaluate')
    parser.add_argument('--task', default='transfer_cube')
    parser.add_argument('--weighting', default='chunked', help='chunked | oldest_first | newest_first')
    parser.add_argument('--query-period', type=int, default=0, help='ticks between queries (0: the node default)')
    parser.add_argument('--table', type=Path, help='print the table of the screens under this folder and exit')
    args = parser.parse_args()
    if args.table:
        print(table(args.table))
        return 0
    if not args.data or not args.name:
        parser.error('--data and --name are needed to screen a recipe')
    row = screen(args)
    print(json.dumps({k: row[k] for k in ('name', 'overrides', 'train_minutes', 'probe_l1')}))
    print(table(args.output))
    return 0


if __name__ == '__main__':
    sys.exit(main())
