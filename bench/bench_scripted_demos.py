"""Scripted demonstration success over seeded episodes, and the time it takes.

    python bench/bench_scripted_demos.py [--episodes 50] [--tasks transfer_cube insertion]
        [--real-time-factor 0] [--command-path direct] [--ablations]

Per task, for seeds 0 .. episodes-1:
  1. end-effector generation (act_sim.scripted.generate_demo on the mocap scene),
  2. the joint trajectories replayed in the plain joint-controlled simulator,
  3. the same demos played through ROS: sim_node + a trajectory player in one process over
     DDS (direct: follower command topics; leader: leader joint states through teleop),
     lockstep at real_time_factor 0 by default.
Counted: usable demos (TaskSpec.demo_is_usable: highest reward reached and the objects still
held at the last step), stricter than an episode's success (TaskSpec.success).
--ablations also replays with the causes of failure found in ports of the original
scripts (act_sim.scripted docstring). Timings on a shared machine are noisy.
"""

from __future__ import annotations

import argparse
import time
from dataclasses import replace

import numpy as np


def generate(task: str, seeds, **scene_settings):
    from act_sim.ee_sim import EndEffectorSim
    from act_sim.scripted import generate_demo

    scene = EndEffectorSim(task, **scene_settings)
    return [generate_demo(task, seed, scene) for seed in seeds]


def plain_replays(demos) -> int:
    from act_sim.scripted import replay_demo
    from act_sim.sim import AlohaSim

    sim = AlohaSim(demos[0].task)
    return sum(replay_demo(demo, sim).usable for demo in demos)


def ros_replays(demos, real_time_factor: float, command_path: str):
    from act_common.config_paths import robot_config_path
    from act_common.node_set import NodeSet, NodeSpec
    from act_sim.episode_runner import EpisodeMonitorNode, ScriptedEpisodeRunner
    from act_sim.scripted_leader import DirectPlayerNode, ScriptedLeaderNode
    from act_sim.sim_node import SimNode
    from act_teleop.teleop_node import TeleopNode

    robot = str(robot_config_path('aloha_sim'))
    player_class = DirectPlayerNode if command_path == 'direct' else ScriptedLeaderNode
    specs = [NodeSpec(SimNode, overrides={'robot_config': robot, 'task': demos[0].task,
                                          'real_time_factor': real_time_factor, 'cameras': ['top']}),
             NodeSpec(player_class, overrides={'robot_config': robot, 'use_sim_time': True}),
             NodeSpec(EpisodeMonitorNode)]
    if command_path == 'leader':
        specs.append(NodeSpec(TeleopNode, overrides={'robot_config': robot, 'use_sim_time': True}))
    with NodeSet(specs, threads=1) as nodes:
        nodes.spin_in_background()
        player = nodes.node(player_class)
        runner = ScriptedEpisodeRunner(nodes.node(EpisodeMonitorNode), player, player.robot)
        results = [runner.play(demo) for demo in demos]
    return results


def ablations(task: str, seeds) -> None:
    print(f'  ablations ({task}, {len(seeds)} seeds): end-effector run / joint replay successes')
    base = generate(task, seeds)
    rows = [
        ('as built', base, base),
        ('replay seeded differently from the EE run', base, [replace(d, seed=d.seed + 1000) for d in base]),
        ('replay one step late (original recorder)', base,
         [replace(d, joint_targets=np.vstack([d.joint_targets[:1], d.joint_targets[:-1]])) for d in base]),
    ]
    stock = generate(task, seeds, weld_solimp=None)
    rows.append(('stock soft mocap weld', stock, stock))
    no_spring = generate(task, seeds, forearm_roll_spring=0.0)
    rows.append(('no forearm_roll spring', no_spring, no_spring))
    for label, generated, replayed in rows:
        print(f'    {label:<45} EE {sum(d.usable for d in generated):3d}/{len(seeds)}   '
              f'replay {plain_replays(replayed):3d}/{len(seeds)}', flush=True)


def main() -> None:
    from act_sim.tasks import TASK_NAMES
    from act_tools.cli.sim import COMMAND_PATHS

    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('--episodes', type=int, default=50)
    parser.add_argument('--tasks', nargs='+', default=list(TASK_NAMES), choices=TASK_NAMES)
    parser.add_argument('--real-time-factor', type=float, default=0.0)
    parser.add_argument('--command-path', choices=COMMAND_PATHS, default='direct')
    parser.add_argument('--ablations', action='store_true')
    args = parser.parse_args()
    seeds = list(range(args.episodes))
    for task in args.tasks:
        start = time.perf_counter()
        demos = generate(task, seeds)
        generated_s = time.perf_counter() - start
        good = [demo for demo in demos if demo.usable]
        start = time.perf_counter()
        plain = plain_replays(good)
        plain_s = time.perf_counter() - start
        start = time.perf_counter()
        results = ros_replays(good, args.real_time_factor, args.command_path)
        ros_s = time.perf_counter() - start
        through_ros = sum(result.usable for result in results)
        print(f'{task}: end-effector demos {len(good)}/{len(demos)} usable ({generated_s:.1f} s, '
              f'{generated_s / len(demos):.2f} s each)')
        print(f'{task}: plain joint replay {plain}/{len(good)} ({plain_s:.1f} s)')
        print(f'{task}: through ROS ({args.command_path}, real_time_factor {args.real_time_factor:g}) '
              f'{through_ros}/{len(good)} usable ({ros_s:.1f} s, {ros_s / max(len(good), 1):.2f} s per '
              f'400-step episode); overall {through_ros}/{len(demos)} = {100 * through_ros / len(demos):.0f} %')
        failed = [result.summary() for result in results if not result.usable]
        for line in failed:
            print('   ', line)
        if args.ablations:
            ablations(task, seeds)


if __name__ == '__main__':
    main()
