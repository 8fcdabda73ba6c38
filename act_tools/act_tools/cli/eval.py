"""`act eval`: closed-loop success rate of a checkpoint on the simulated ALOHA.

    act eval --checkpoint runs/cube/best --task transfer_cube --episodes 50
    act eval --checkpoint runs/cube/best --episodes 30 --mode lockstep
    act eval --checkpoint runs/cube/best --episodes 5 --video videos/ --real-time-factor 0.5

Runs the policy node against act_sim's sim_node (its own process) over ROS, one seeded
episode after another, and reports the success rate (the task's maximum reward reached at
some step, as in the paper) with its 95 % Wilson interval, the episode count, the seeds
and the mode (realtime: the deployment figure; lockstep: the paper's protocol, the sim
waits for the policy), mean/max reward, each episode's result, and the policy's inference
latency and control-loop timing: a table here, everything in
<output>/<task>_results.json. Seeds start at 100000 by default, away from the seeds
training demonstrations are recorded with (0 upward); see act_tools.evaluation.
"""

from __future__ import annotations

import argparse
from pathlib import Path

# The nodes `act eval` starts, whose parameters --param sets.
NODES = ('policy_node', 'sim_node')


class _NodeParameterAlias(argparse.Action):
    """--policy-param / --sim-param NAME=VALUE: the same override as --param NODE.NAME=VALUE."""

    def __init__(self, *args, node: str, **kwargs):
        self.node = node
        super().__init__(*args, **kwargs)

    def __call__(self, parser, namespace, values, option_string=None):
        from act_common.parameters import PARAM_DEST, parse_override_argument

        try:
            override = parse_override_argument(f'{self.node}.{values}')
        except argparse.ArgumentTypeError as error:
            raise argparse.ArgumentError(self, str(error)) from None
        overrides = list(getattr(namespace, PARAM_DEST, None) or [])
        overrides.append(override)
        setattr(namespace, PARAM_DEST, overrides)


def handle(args) -> int:
    from act_tools.cli.node_parameters import overrides_for
    from act_tools.evaluation import EvalConfig, evaluate

    overrides = overrides_for(args, NODES)
    seed_start = {} if args.seed_start is None else {'seed_start': args.seed_start}
    config = EvalConfig(
        checkpoint=Path(args.checkpoint), task=args.task, episodes=args.episodes, **seed_start,
        episode_steps=args.episode_steps, robot=args.robot, device=args.device, mode=args.mode,
        real_time_factor=args.real_time_factor, sim_parameters=overrides['sim_node'],
        output_dir=Path(args.output) if args.output else Path('eval') / Path(args.checkpoint).resolve().name,
        video_dir=Path(args.video) if args.video else None, video_camera=args.video_camera,
        policy_parameters=overrides['policy_node'])
    report = evaluate(config, progress=lambda line: print(line, flush=True))
    print(report.table())
    print(f'results: {config.output_dir / f"{config.task}_results.json"}')
    return 0


def register(subparsers) -> None:
    from act_common.parameters import PARAM_DEST, add_param_argument
    from act_common.success_rate import EVAL_MODES
    from act_sim.tasks import TASK_NAMES

    parser = subparsers.add_parser('eval', help='evaluate a checkpoint in closed loop on the simulated ALOHA',
                                   description=__doc__.split('\n\n')[0])
    parser.add_argument('--checkpoint', required=True, help='checkpoint folder written by act train')
    parser.add_argument('--task', default='transfer_cube', choices=TASK_NAMES,
                        help='simulated task (default: transfer_cube)')
    parser.add_argument('--episodes', type=int, default=50, help='episodes to run (default: 50)')
    parser.add_argument('--seed-start', type=int,
                        help='seed of the first episode; episode i uses seed-start + i (default: '
                        'act_tools.evaluation.EVAL_SEED_START = 100000, clear of the training seeds 0..)')
    parser.add_argument('--episode-steps', type=int, help="control steps per episode (default: the task's, 400)")
    parser.add_argument('--robot', default='aloha_sim', help='robot config name or YAML path (default: aloha_sim)')
    parser.add_argument('--device', default='cpu', help='inference device: cpu, cuda or cuda:N (default: cpu)')
    parser.add_argument('--mode', choices=EVAL_MODES, default='realtime',
                        help='realtime: the sim runs on the wall clock and inference latency costs sim time (the '
                        'deployment figure); lockstep: the sim waits for every command (the paper\'s protocol, '
                        'independent of the machine\'s speed) (default: realtime)')
    parser.add_argument('--real-time-factor', type=float, default=1.0,
                        help='realtime mode: sim seconds per wall second (default 1.0: inference latency costs what '
                        'it would on the robot; below 1 gives a slow computer more time per tick)')
    parser.add_argument('--output', help='folder for the JSON report and the sim log (default: eval/<checkpoint name>)')
    parser.add_argument('--video', metavar='DIR', help='write one mp4 per episode into DIR')
    parser.add_argument('--video-camera', help="camera filmed for --video (default: the checkpoint's first camera)")
    add_param_argument(parser, NODES)
    parser.add_argument('--policy-param', action=_NodeParameterAlias, node='policy_node', dest=PARAM_DEST,
                        metavar='NAME=VALUE', help='the same as --param policy_node.NAME=VALUE (on top of '
                        'config/policy.yaml), e.g. ensemble_weighting=chunked (repeatable)')
    parser.add_argument('--sim-param', action=_NodeParameterAlias, node='sim_node', dest=PARAM_DEST,
                        metavar='NAME=VALUE', help='the same as --param sim_node.NAME=VALUE (on top of '
                        'config/sim.yaml), e.g. shadow_map_size=1024; render settings default to the checkpoint\'s '
                        '(its training episodes\'), with a warning when they differ (repeatable)')
    parser.set_defaults(handler=handle)
