"""Closed-loop success rate of a trained checkpoint on the simulated ALOHA: the real figure
behind `act eval`, optionally for several ensembling settings on the same seeds.

    . scripts/env.sh
    python bench/bench_policy_eval.py --checkpoint runs/cube/best               # 50 episodes
    python bench/bench_policy_eval.py --checkpoint runs/cube/best --weightings oldest_first,newest_first,chunked
    python bench/bench_policy_eval.py --checkpoint runs/cube/best --device cuda

Needs a checkpoint trained on scripted demonstrations (make demo, or act record / act
convert / act train); a checkpoint trained for seconds solves nothing. Each weighting runs
the same seeds (from 100000, clear of the training seeds) through act_tools.evaluation,
with the sim paced at --real-time-factor (1.0: inference latency costs what it would on
the robot). Prints the success rate per weighting with the inference and control-loop
figures, and writes every report under --output.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('--checkpoint', type=Path, required=True)
    parser.add_argument('--task', default='transfer_cube', choices=('transfer_cube', 'insertion'))
    parser.add_argument('--episodes', type=int, default=50)
    parser.add_argument('--seed-start', type=int, help='default: act_tools.evaluation.EVAL_SEED_START')
    parser.add_argument('--device', default='cpu')
    parser.add_argument('--real-time-factor', type=float, default=1.0)
    parser.add_argument('--mode', choices=('realtime', 'lockstep'), default='realtime',
                        help='realtime (the deployment figure) or lockstep (the paper\'s protocol)')
    parser.add_argument('--weightings', default='oldest_first',
                        help='comma-separated ensemble_weighting values to compare (default: oldest_first)')
    parser.add_argument('--video', action='store_true', help='also write one mp4 per episode')
    parser.add_argument('--output', type=Path, default=Path('bench_policy_eval'))
    args = parser.parse_args()

    from act_tools.evaluation import EvalConfig, evaluate

    summary = {}
    for weighting in args.weightings.split(','):
        output = args.output / f'{args.task}_{weighting}'
        seed_start = {} if args.seed_start is None else {'seed_start': args.seed_start}
        config = EvalConfig(checkpoint=args.checkpoint, task=args.task, episodes=args.episodes, device=args.device,
                            mode=args.mode, real_time_factor=args.real_time_factor, output_dir=output,
                            video_dir=output / 'videos' if args.video else None,
                            policy_parameters={'ensemble_weighting': weighting}, **seed_start)
        report = evaluate(config, progress=lambda line: print(f'[{weighting}] {line}', flush=True))
        print(report.table(), flush=True)
        loop = report.control_loop()
        summary[weighting] = {
            'success_rate': report.success_rate, 'success': report.to_dict()['success'],
            'mean_max_reward': report.mean_max_reward,
            'episodes': len(report.episodes), 'inference_ms_mean': loop['inference_latency_ms']['mean'],
            'observation_to_command_ms_mean': loop['observation_to_command_ms']['mean'],
            'missed_fraction': loop['missed_fraction'], 'held_ticks': loop['held_ticks'],
        }
    args.output.mkdir(parents=True, exist_ok=True)
    (args.output / 'summary.json').write_text(json.dumps(summary, indent=2) + '\n')
    pacing = 'lockstep' if args.mode == 'lockstep' else f'realtime, real-time factor {args.real_time_factor:g}'
    print(f'\n{args.task}, {args.episodes} episodes, {args.checkpoint}, device {args.device}, {pacing}:')
    for weighting, figures in summary.items():
        print(f'  {weighting:>13}: success {figures["success"]["text"]}, mean max reward '
              f'{figures["mean_max_reward"]:.2f}, inference {figures["inference_ms_mean"]:.1f} ms, '
              f'image->command {figures["observation_to_command_ms_mean"]:.1f} ms, '
              f'{100 * figures["missed_fraction"]:.2f}% ticks missed, {figures["held_ticks"]} held')
    return 0


if __name__ == '__main__':
    sys.exit(main())
