"""`act demo`: record -> convert -> train -> evaluate -> report, on the simulated ALOHA.

    act demo                                   # CPU-sized, under 30 minutes on 2 cores
    act demo --gpu                             # the paper's config and 50 episodes on a GPU
    act demo --episodes 2 --eval-episodes 1 --set train.steps=20 --output /tmp/smoke

Writes <output>/bags, episodes, run (checkpoints), eval and report (plots, a video,
summary.json); prints the success rate, inference latency and control-loop statistics.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

# The CPU demo's training time: what a fresh `make demo` has left of 30 minutes after
# setup, recording, conversion and evaluation (the README gives the stage times).
DEFAULT_TRAIN_MINUTES = 12.0
# The CPU demo's promise (README): a fresh `make demo` ends within 30 minutes, setup included.
DEFAULT_FINISH_WITHIN_MINUTES = 30.0
# --gpu records and evaluates the paper's 50 episodes (Zhao et al. 2023, sim tasks).
GPU_EPISODES = 50


def handle(args) -> int:
    from act_tools.demo import DemoConfig, run_demo
    from act_common.errors import EXIT_FAILURE, ActError, ConfigurationError
    from act_policy_node.temporal_ensembler import Weighting
    from act_training.train.optim import flush_denormals

    flush_denormals()  # before any torch op, so that torch's worker threads inherit it

    gpu = args.gpu
    output = Path(args.output) if args.output else Path('demo_output') / time.strftime('%Y%m%d-%H%M%S')
    config = DemoConfig(
        output_dir=output, task=args.task,
        episodes=args.episodes if args.episodes is not None else (GPU_EPISODES if gpu else DemoConfig.episodes),
        eval_episodes=(args.eval_episodes if args.eval_episodes is not None
                       else (GPU_EPISODES if gpu else DemoConfig.eval_episodes)),
        training_config=args.config or ('paper' if gpu else 'cpu_demo'), training_overrides=tuple(args.set),
        device='cuda' if gpu else 'cpu', train_minutes=args.train_minutes, eval_real_time_factor=args.real_time_factor,
        finish_within_minutes=args.finish_within, started_at=args.started_at,
        eval_mode=args.eval_mode, overwrite=args.overwrite, camera_compression=args.camera_compression,
        # The paper's temporal ensembling with its config on a GPU; chunked for the CPU recipe.
        eval_ensemble_weighting=args.ensemble_weighting or (Weighting.OLDEST_FIRST.value if gpu
                                                            else DemoConfig.eval_ensemble_weighting))
    if gpu:
        import torch

        if not torch.cuda.is_available():
            raise ConfigurationError('--gpu needs CUDA, and torch sees no GPU here (act doctor tells more)')
    try:
        result = run_demo(config, say=lambda line: print(line, flush=True))
    except FileNotFoundError as error:  # ActErrors go to cli.main
        if isinstance(error, ActError):
            raise
        print(f'act demo: {error}', file=sys.stderr)
        return EXIT_FAILURE
    evaluation = result.evaluation
    loop = evaluation['control_loop']
    print('\n== act demo: results ==')
    print(f'success ({config.task}, max reward reached): {evaluation["success"]["text"]}')
    print(f'inference latency: {loop["inference_latency_ms"]["mean"]:.1f} ms mean, '
          f'{loop["inference_latency_ms"]["worst_p99"]:.1f} ms worst p99; observation->command '
          f'{loop["observation_to_command_ms"]["mean"]:.1f} ms mean')
    print(f'control loop: {loop["ticks"]} ticks, {loop["deadline_misses"]} deadline misses '
          f'({100 * loop["missed_fraction"]:.2f}%), {loop["held_ticks"]} held')
    # The figure above holds for the policy run the same way (the node's own default is the
    # paper's temporal ensembling, config/policy.yaml).
    checkpoint, weighting = result.training['checkpoint'], config.eval_ensemble_weighting
    print(f'run this policy as evaluated: act policy --checkpoint {checkpoint} --ensemble-weighting {weighting}, or '
          f'ros2 launch act_bringup policy.launch.py checkpoint:={checkpoint} ensemble_weighting:={weighting}')
    print('stage times: ' + ', '.join(f'{stage} {seconds:.0f} s' for stage, seconds in result.stage_seconds.items()))
    print(f'report: {config.report_dir} ({", ".join(Path(p).name for p in result.report_files.values())}, summary.json)')
    return 0


def register(subparsers) -> None:
    from act_common.success_rate import EVAL_MODES
    from act_tools.demo import DemoConfig
    from act_sim.tasks import TASK_NAMES
    from act_teleop.camera_compression import CAMERA_COMPRESSIONS
    from act_policy_node.temporal_ensembler import WEIGHTINGS

    parser = subparsers.add_parser('demo', help='the whole pipeline on the sim: record, convert, train, evaluate, report',
                                   description=__doc__.split('\n\n')[0])
    parser.add_argument('--output', help='folder for every stage\'s output (default: demo_output/<date-time>)')
    parser.add_argument('--task', default='transfer_cube', choices=TASK_NAMES,
                        help='simulated task (default: transfer_cube)')
    parser.add_argument('--episodes', type=int,
                        help=f'scripted demonstrations to record (default: {DemoConfig.episodes}; {GPU_EPISODES} with --gpu)')
    parser.add_argument('--eval-episodes', type=int,
                        help=f'closed-loop evaluation episodes on unseen seeds (default: {DemoConfig.eval_episodes}; '
                        f'{GPU_EPISODES} with --gpu)')
    parser.add_argument('--train-minutes', type=float, default=DEFAULT_TRAIN_MINUTES,
                        help='CPU only: train as many of the config\'s steps as fit this many minutes of wall time on '
                        'this CPU, timed in the run at the end of its warmup (train.time_budget_s; default '
                        f'{DEFAULT_TRAIN_MINUTES:g}; 0: all of the config\'s steps)')
    parser.add_argument('--finish-within', type=float, default=DEFAULT_FINISH_WITHIN_MINUTES, metavar='MINUTES',
                        help='CPU only: train less than --train-minutes where needed for the whole demo to end within '
                        f'this many minutes of --started-at (default {DEFAULT_FINISH_WITHIN_MINUTES:g}; 0: no limit)')
    parser.add_argument('--started-at', type=float, metavar='EPOCH_S',
                        help='when the run began, in seconds since the epoch (make demo passes the time before its '
                        'setup; default: when act demo starts)')
    parser.add_argument('--gpu', action='store_true',
                        help='train and infer on CUDA with the paper\'s config (config/training/paper.yaml: ImageNet '
                        'ResNet-18 weights from the torch hub cache, or add --set model.backbone_weights=none)')
    parser.add_argument('--config', help='training config name or YAML path (default: cpu_demo; paper with --gpu)')
    parser.add_argument('--set', action='append', default=[], metavar='SECTION.FIELD=VALUE',
                        help='training config override, e.g. --set train.steps=500 (repeatable)')
    parser.add_argument('--eval-mode', choices=EVAL_MODES, default='realtime',
                        help='evaluation: realtime (the sim on the wall clock, inference latency costs sim time, as '
                        'on a robot) or lockstep (the sim waits for the policy, the paper\'s protocol) '
                        '(default: realtime)')
    parser.add_argument('--ensemble-weighting', choices=WEIGHTINGS,
                        help='how the policy executes chunks in the evaluation: chunked (a new chunk as the last one '
                        'runs out) or temporal ensembling (oldest_first: the paper\'s) (default: '
                        f'{DemoConfig.eval_ensemble_weighting}; oldest_first with --gpu)')
    parser.add_argument('--real-time-factor', type=float, default=1.0,
                        help='realtime evaluation: sim seconds per wall second (default 1.0, as on a robot)')
    parser.add_argument('--camera-compression', choices=CAMERA_COMPRESSIONS, default='none',
                        help='how the recorded bags store the camera: none (raw, default), png (lossless) or jpeg')
    parser.add_argument('--overwrite', action='store_true', help='replace the output folder of an earlier run')
    parser.set_defaults(handler=handle)
