"""`act policy`: run a checkpoint on a robot, next to other ROS tools.

    act policy --checkpoint runs/cube/best                  # the simulated ALOHA (act sim)
    act policy --checkpoint runs/cube/best --robot aloha --device cuda

Starts act_policy_node's policy_node in this process from config/policy.yaml, configures
it (loads the checkpoint, checks it against the robot config) and activates it: it then
commands the followers until Ctrl-C. Watch it with /act/policy/status; `--inactive`
leaves it configured but inactive, for a lifecycle manager or `ros2 lifecycle set`.
"""

from __future__ import annotations

import argparse
import sys

# Node parameters `act policy` offers as flags of their own (--device, ...; camera_remap
# too, below): aliases of --param policy_node.<name>=VALUE.
CLI_PARAMETERS = ('device', 'precision', 'ensemble_weighting', 'ensemble_m', 'query_period_ticks', 'torch_threads',
                  'observation_timeout_s')


def handle(args) -> int:
    from rclpy.lifecycle import TransitionCallbackReturn

    from act_tools.cli.node_parameters import overrides_for
    from act_common.node_set import NodeSet, NodeSpec
    from act_common.config_paths import robot_config_path
    from act_tools.paths import node_params_path, use_large_data_dds_profile
    from act_common.interfaces import POLICY_STATUS_TOPIC
    from act_common.robot_config import load_robot_config
    from act_policy_node.policy_node import PolicyNode

    use_large_data_dds_profile()  # full-size camera images from the drivers' processes
    robot_path = robot_config_path(args.robot)
    use_sim_time = load_robot_config(robot_path).simulated if args.use_sim_time is None else args.use_sim_time
    overrides = {'robot_config': str(robot_path), 'checkpoint': args.checkpoint, 'use_sim_time': use_sim_time,
                 **overrides_for(args, ('policy_node',))['policy_node']}  # those not given: the file holds
    spec = NodeSpec(PolicyNode, params_file=args.params_file or node_params_path('policy'), overrides=overrides)
    # Store-only callbacks and a short control tick: one executor thread serves them with
    # the least latency (see act_policy_node.policy_node.main).
    with NodeSet([spec], threads=1) as nodes:
        node = nodes.node(PolicyNode)
        if node.trigger_configure() != TransitionCallbackReturn.SUCCESS:
            print(f'act policy: {node.status_detail}', file=sys.stderr)
            return 1
        if not args.inactive and node.trigger_activate() != TransitionCallbackReturn.SUCCESS:
            print(f'act policy: activation failed: {node.status_detail}', file=sys.stderr)
            return 1
        print(f'act policy: {node.policy.model_id} {"configured" if args.inactive else "active"} on robot '
              f'{node.robot.name!r}; status on {POLICY_STATUS_TOPIC}; Ctrl-C stops', flush=True)
        nodes.spin()
    return 0


def register(subparsers) -> None:
    parser = subparsers.add_parser('policy', help='run a trained checkpoint on the robot (the policy node)',
                                   description=__doc__.split('\n\n')[0])
    parser.add_argument('--checkpoint', required=True, help='checkpoint folder written by act train')
    parser.add_argument('--robot', default='aloha_sim', help='robot config name or YAML path (default: aloha_sim)')
    parser.add_argument('--params-file', help='node parameter YAML (default: the installed config/policy.yaml)')
    from act_common.parameters import add_param_argument
    from act_policy_node.parameters import PARAMETERS  # the node's table: flags, types, choices and help

    add_param_argument(parser, ('policy_node',))
    for name in CLI_PARAMETERS:
        PARAMETERS.add_cli_flag(parser, name, 'policy.yaml')
    PARAMETERS.add_cli_flag(parser, 'camera_remap', 'policy.yaml', metavar='POLICY=ROBOT')
    parser.add_argument('--use-sim-time', action=argparse.BooleanOptionalAction, default=None,
                        help='follow /clock (default: on for simulated robots)')
    parser.add_argument('--inactive', action='store_true', help='configure only; activate later via lifecycle')
    parser.set_defaults(handler=handle)
