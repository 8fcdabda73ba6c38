"""`act sim`: the simulated ALOHA, optionally running scripted demonstrations.

    act sim --task transfer_cube                       # the robot, until Ctrl-C
    act sim --task insertion --scripted-episodes 10 --real-time-factor 0

Starts act_sim's sim_node in this process from config/sim.yaml (nav2-style parameters),
with the robot config of --robot. With --scripted-episodes N it also starts a trajectory
player and plays N seeded scripted demonstrations (seeds --seed .. --seed+N-1) through
the robot's command topics, printing each outcome and the success rate (act_sim.tasks
TaskSpec.success, as `act eval`); demos whose end-effector run is not usable are not
played and episodes that do not end with the objects held are not kept, unless
--keep-failed.

--command-path direct publishes the follower commands itself; leader publishes leader arm
joint states and needs the teleop node (act_teleop) to mirror them onto the follower.
"""

from __future__ import annotations

import sys

# How scripted rows reach the robot: the direct player publishes follower commands; the
# scripted leader publishes leader joint states, which act_teleop's teleop node mirrors.
COMMAND_PATHS = ('direct', 'leader')


def handle(args) -> int:
    from act_tools.cli.node_parameters import overrides_for
    from act_common.node_set import NodeSet, NodeSpec
    from act_common.config_paths import robot_config_path
    from act_tools.paths import node_params_path
    from act_common.success_rate import SuccessRate
    from act_sim.episode_runner import EpisodeMonitorNode, EpisodeRunnerConfig, ScriptedEpisodeRunner, run_scripted_episodes
    from act_sim.scripted_leader import DirectPlayerNode, ScriptedLeaderNode
    from act_sim.sim_node import SimNode
    from act_teleop.teleop_node import TeleopNode

    robot = str(robot_config_path(args.robot))
    params = args.params_file or node_params_path('sim')
    # --param sim_node.* and its alias flags (--task, --seed, ...) on top of the parameters file.
    overrides = {'robot_config': robot, **overrides_for(args, ('sim_node',))['sim_node']}
    specs = [NodeSpec(SimNode, params_file=params, overrides=overrides)]
    if args.scripted_episodes:
        player_class = DirectPlayerNode if args.command_path == 'direct' else ScriptedLeaderNode
        specs.append(NodeSpec(player_class, params_file=params, overrides={'robot_config': robot}))
        specs.append(NodeSpec(EpisodeMonitorNode))
        if args.command_path == 'leader':
            specs.append(NodeSpec(TeleopNode, overrides={'robot_config': robot, 'use_sim_time': True}))

    # Every callback of these nodes only stores data: one thread spins them fastest.
    with NodeSet(specs, threads=1) as nodes:
        if not args.scripted_episodes:
            nodes.spin()
            return 0
        nodes.spin_in_background()
        sim = nodes.node(SimNode)
        player = nodes.node(player_class)
        runner = ScriptedEpisodeRunner(nodes.node(EpisodeMonitorNode), player, player.robot,
                                       EpisodeRunnerConfig(keep_failed=args.keep_failed))
        task = sim.get_parameter('task').value
        first_seed = sim.get_parameter('seed').value
        results = []
        try:
            for result in run_scripted_episodes(runner, task, range(first_seed, first_seed + args.scripted_episodes)):
                results.append(result)
                print(result.summary(), flush=True)
        except KeyboardInterrupt:
            print('interrupted', file=sys.stderr)
        played = [result for result in results if result.played]
        usable = sum(result.usable for result in played)
        kept = sum(result.kept for result in results)
        # Success as everywhere (TaskSpec.success: max reward reached at some step); the sim
        # runs in whatever pacing sim.yaml / --real-time-factor chose.
        mode = 'lockstep' if sim.get_parameter('real_time_factor').value == 0 else 'realtime'
        success = (SuccessRate.from_outcomes([r.success for r in played], [r.seed for r in played], mode).describe()
                   if played else 'no episode played')
        print(f'{task}: success {success} through the {args.command_path} command path '
              f'({len(results) - len(played)} end-effector demos not usable, not played); {usable} still held at the '
              f'end (usable demos), {kept} kept')
        return 0 if results and usable == len(played) else 1


def register(subparsers) -> None:
    from act_common.parameters import add_override_flag, add_param_argument
    from act_sim.tasks import TASK_NAMES

    parser = subparsers.add_parser(
        'sim', help='run the simulated ALOHA (MuJoCo), optionally with scripted demonstrations',
        description=__doc__.split('\n\n')[0])
    parser.add_argument('--robot', default='aloha_sim', help='robot config name or YAML path (default: aloha_sim)')
    parser.add_argument('--params-file', help='node parameter YAML (default: the installed config/sim.yaml)')
    add_param_argument(parser, ('sim_node',))
    # Aliases of --param sim_node.<name>=VALUE (act_sim.sim_node.PARAMETERS checks the values).
    add_override_flag(parser, 'sim_node', 'task', choices=TASK_NAMES, help='task to load (default: from sim.yaml)')
    add_override_flag(parser, 'sim_node', 'seed', type=int, help='seed of the first episode (default: from sim.yaml)')
    add_override_flag(parser, 'sim_node', 'real_time_factor', type=float,
                      help='sim seconds per wall second; 0 = as fast as possible, in lockstep (default: from sim.yaml)')
    add_override_flag(parser, 'sim_node', 'cameras', nargs='+', metavar='CAMERA',
                      help='cameras to publish (default: from sim.yaml)')
    add_override_flag(parser, 'sim_node', 'shadow_map_size', type=int,
                      help='shadow map size in pixels, 0 = no shadows (default: from sim.yaml)')
    parser.add_argument('--scripted-episodes', type=int, default=0, metavar='N',
                        help='play N scripted demonstrations (seeds --seed ..) and report them')
    parser.add_argument('--command-path', choices=COMMAND_PATHS, default='direct',
                        help='how scripted rows reach the robot: follower commands directly, or leader joint '
                        'states through teleop (default: direct)')
    parser.add_argument('--keep-failed', action='store_true', help='also play failed demos and keep failed episodes')
    parser.set_defaults(handler=handle)
