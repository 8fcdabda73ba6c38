"""`act record`: record demonstration episodes, one rosbag2 per episode.

In simulation, N scripted episodes in one command (sim + scripted leader + teleop +
recorder in this process; see act_tools.sim_recording):

    act record --sim --task transfer_cube --episodes 50 --output data/transfer_cube [--cameras top]

On hardware: starts the recorder and teleop (leader -> follower) for --robot and lets
you start and stop episodes from the keyboard:

    act record --robot aloha --task pick_cup --output data/pick_cup
      Enter: start an episode   s: stop, success   f: stop, failure   d: discard   q: quit

Without a terminal (or with --no-prompt) it only runs the nodes; control episodes with
the recorder's services:
    ros2 service call /recorder/start_episode act_msgs/srv/StartEpisode "{task_name: pick_cup, episode_index: -1, seed: -1}"
    ros2 service call /recorder/stop_episode act_msgs/srv/StopEpisode "{success: true, discard: false}"
"""

from __future__ import annotations

import sys
from pathlib import Path

# The nodes whose parameters --param sets: in simulation, and on hardware.
SIM_NODES = ('sim_node', 'teleop', 'recorder')
HARDWARE_NODES = ('recorder', 'teleop')


def _record_sim(args) -> int:
    from tqdm import tqdm

    from act_tools.cli.node_parameters import overrides_for
    from act_tools.sim_recording import SimRecordingConfig, record_sim_episodes

    overrides = {node: values for node, values in overrides_for(args, SIM_NODES).items() if values}
    config = SimRecordingConfig(
        task=args.task, episodes=args.episodes, output_dir=Path(args.output), cameras=tuple(args.cameras or ('top',)),
        seed_start=args.seed_start, keep_failed=args.keep_failed, storage_id=args.storage, robot=args.robot or 'aloha_sim',
        max_attempts=args.max_attempts, real_time_factor=args.real_time_factor,
        camera_compression=args.camera_compression, overrides=overrides)
    progress = tqdm(total=config.episodes, unit='episode', desc=f'recording {config.task}')
    tried = []

    def on_episode(result, kept):
        tried.append(result)
        progress.write(result.summary())
        if kept:
            progress.update(1)

    try:
        records = record_sim_episodes(config, on_episode)
    except KeyboardInterrupt:
        print('interrupted: the episodes kept so far are in', config.output_dir, file=sys.stderr)
        return 130
    finally:
        progress.close()
    print(f'{len(records)} episodes kept in {config.output_dir} ({len(tried)} seeds tried from {config.seed_start})')
    for record in records:
        print(f'  {record.bag_path}: seed {record.seed}, {record.message_count} messages, {record.duration_s:.1f} s sim time'
              + (f', {record.dropped_count} DROPPED' if record.dropped_count else ''))
    return 0 if len(records) >= config.episodes else 1


def _prompt_loop(recorder, task: str) -> None:
    """Keyboard control of episodes; the nodes spin on a background thread meanwhile."""
    from act_teleop.recorder_node import EpisodeError

    print('Enter: start an episode   s: stop (success)   f: stop (failure)   d: discard   q: quit', flush=True)
    for line in sys.stdin:
        key = line.strip().lower()
        try:
            if key == 'q':
                if recorder.recording:
                    recorder.stop_episode(success=False)
                return
            if key == '' and not recorder.recording:
                record = recorder.start_episode(task)
                print(f'recording episode {record.episode_index} -> {record.bag_path}  (s/f/d to stop)', flush=True)
            elif key in ('s', 'f', 'd') and recorder.recording:
                record = recorder.stop_episode(success=key == 's', discard=key == 'd')
                verdict = 'discarded' if key == 'd' else ('success' if key == 's' else 'failure')
                print(f'episode {record.episode_index} {verdict}: {record.message_count} messages, '
                      f'{record.duration_s:.1f} s' + (f', {record.dropped_count} DROPPED' if record.dropped_count else ''),
                      flush=True)
            else:
                print('recording: s/f/d to stop' if recorder.recording else 'Enter to start, q to quit', flush=True)
        except EpisodeError as error:
            print(f'error: {error}', flush=True)


def _record_hardware(args) -> int:
    from act_common.interfaces import RECORDER_START_SERVICE, RECORDER_STOP_SERVICE
    from act_teleop.recorder_node import RecorderNode
    from act_teleop.teleop_node import TeleopNode

    from act_tools.cli.node_parameters import overrides_for
    from act_common.node_set import NodeSet, NodeSpec
    from act_common.config_paths import robot_config_path
    from act_tools.paths import node_params_path, use_large_data_dds_profile
    from act_common.errors import ActError

    overrides = overrides_for(args, HARDWARE_NODES)
    profile = use_large_data_dds_profile()  # before any participant exists
    print(f'Fast DDS profile: {profile} (run camera drivers with FASTDDS_DEFAULT_PROFILES_FILE={profile} too)')
    robot = str(robot_config_path(args.robot or 'aloha'))
    recorder_overrides = {'robot_config': robot, 'output_dir': args.output, 'storage_id': args.storage,
                          'camera_compression': args.camera_compression}
    if args.cameras:
        recorder_overrides['cameras'] = list(args.cameras)
    recorder_overrides.update(overrides['recorder'])
    specs = [NodeSpec(RecorderNode, node_params_path('recorder'), recorder_overrides)]
    if not args.no_teleop:
        specs.append(NodeSpec(TeleopNode, node_params_path('teleop'), {'robot_config': robot, **overrides['teleop']}))
    try:
        # One thread: the recorder lost a quarter of its joint states on the multi-threaded
        # executor (act_teleop.recorder_node); neither node's callbacks block.
        nodes = NodeSet(specs, threads=1)
    except ActError:
        raise  # cli.main reports it (a bad parameter value: exit 2)
    except (RuntimeError, ValueError, FileNotFoundError) as error:
        print(f'act record: {error}', file=sys.stderr)
        return 1
    with nodes:
        if args.no_prompt or not sys.stdin.isatty():
            print(f'recorder running; control episodes with {RECORDER_START_SERVICE} and {RECORDER_STOP_SERVICE}', flush=True)
            nodes.spin()
            return 0
        nodes.spin_in_background()
        try:
            _prompt_loop(nodes.node(RecorderNode), args.task)
        except KeyboardInterrupt:
            recorder = nodes.node(RecorderNode)
            if recorder.recording:
                recorder.stop_episode(success=False)
    return 0


def handle(args) -> int:
    from act_common.errors import ConfigurationError

    if args.sim:
        if args.episodes is None:
            raise ConfigurationError('--sim needs --episodes N')
        return _record_sim(args)
    return _record_hardware(args)


def register(subparsers) -> None:
    from act_common.parameters import add_param_argument
    from act_sim.tasks import TASK_NAMES
    from act_teleop.bag_writer import STORAGE_IDS
    from act_teleop.camera_compression import CAMERA_COMPRESSIONS

    parser = subparsers.add_parser(
        'record', help='record demonstration episodes as rosbag2 (scripted in sim, or teleoperated on hardware)',
        description=__doc__.split('\n\n')[0])
    parser.add_argument('--sim', action='store_true', help='record scripted episodes in the MuJoCo simulation')
    parser.add_argument('--task', default='transfer_cube',
                        help=f'task name (sim: {" or ".join(TASK_NAMES)}; hardware: stored with each episode)')
    parser.add_argument('--episodes', type=int, metavar='N', help='sim: episodes to keep')
    parser.add_argument('--output', required=True, metavar='DIR', help='folder receiving episode_<index>/ bags')
    parser.add_argument('--robot', help='robot config name or YAML path (default: aloha_sim with --sim, else aloha)')
    parser.add_argument('--cameras', nargs='+', metavar='CAMERA', help='cameras to record (sim default: top; hardware: all)')
    parser.add_argument('--seed-start', type=int, default=0, help='sim: seed of the first episode (default 0)')
    parser.add_argument('--keep-failed', action='store_true', help='sim: also keep episodes whose task failed')
    parser.add_argument('--max-attempts', type=int, help='sim: seeds to try at most (default 2 N + 3)')
    parser.add_argument('--real-time-factor', type=float, default=0.0,
                        help='sim: 0 = lockstep, as fast as possible (default); 1 = real time')
    parser.add_argument('--storage', choices=STORAGE_IDS, default='mcap', help='rosbag2 storage (default mcap)')
    parser.add_argument('--camera-compression', choices=CAMERA_COMPRESSIONS, default='none',
                        help='store raw cameras as sensor_msgs/CompressedImage on <topic>/compressed: png (lossless, '
                        'about 50x smaller on sim frames) or jpeg; default none (raw); bytes and speed: README')
    parser.add_argument('--no-teleop', action='store_true', help='hardware: record only, teleop runs elsewhere')
    add_param_argument(parser, ('recorder', 'teleop', 'sim_node (--sim)'))
    parser.add_argument('--no-prompt', action='store_true', help='hardware: no keyboard control, use the services')
    parser.set_defaults(handler=handle)
