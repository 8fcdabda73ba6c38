"""`act convert`: episode bags -> ACT HDF5 training episodes (and a LeRobot dataset).

    act convert data/transfer_cube --output data/transfer_cube_hdf5 [--lerobot data/transfer_cube_lerobot]

Inputs are bag folders or folders of them (episode_<index>/). Each becomes
`episode_<index>.hdf5` (act_training.hdf5_format); a bag that cannot be
converted is reported with the reason and the others still convert. Existing outputs are
kept unless --overwrite. Exit status 1 when any episode failed or was rejected.
"""

from __future__ import annotations

from pathlib import Path


def _robot_for(bags: list[Path], requested: str | None) -> str:
    """--robot, else the robot named in the first episode.json, else aloha_sim."""
    if requested:
        return requested
    from act_common.episode_format import read_episode_json

    for bag in bags:
        data = read_episode_json(bag)
        if data is not None:
            if data.get('robot_config') and Path(data['robot_config']).is_file():
                return data['robot_config']
            if data.get('robot'):
                return data['robot']
    return 'aloha_sim'


def handle(args) -> int:
    from act_common.robot_config import load_robot_config
    from act_training.conversion import ConversionConfig, convert_episodes
    from act_training.conversion.converter import find_episode_bags

    from act_common.config_paths import robot_config_path

    bags = find_episode_bags([Path(p) for p in args.inputs])
    if not bags:
        print(f'act convert: no rosbag2 folders in {args.inputs}')
        return 1
    robot = load_robot_config(robot_config_path(_robot_for(bags, args.robot)))
    config = ConversionConfig(
        bags=tuple(bags), output_dir=Path(args.output), robot=robot,
        cameras=tuple(args.cameras) if args.cameras else None, action_source=args.action_source,
        time_source=args.time_source, max_gap_s=args.max_gap_s, overwrite=args.overwrite,
        default_task=args.task, lerobot_dir=Path(args.lerobot) if args.lerobot else None,
        image_storage=args.image_storage, jpeg_quality=args.jpeg_quality)
    report = convert_episodes(config)
    for result in report.results:
        print(result.summary())
        if args.verbose:
            for timing in result.timings:
                print('    ' + timing.summary())
    counts = {status: len(report.by_status(status)) for status in ('converted', 'rejected', 'failed', 'skipped')}
    print(f'{counts["converted"]} converted, {counts["rejected"]} rejected, {counts["failed"]} failed, '
          f'{counts["skipped"]} skipped (exist) -> {config.output_dir}')
    return 0 if counts['rejected'] == 0 and counts['failed'] == 0 else 1


def register(subparsers) -> None:
    from act_training.hdf5_format import ACTION_SOURCES, IMAGE_STORAGE, TIME_SOURCES

    parser = subparsers.add_parser('convert', help='convert episode bags into ACT HDF5 episodes (and a LeRobot dataset)',
                                   description=__doc__.split('\n\n')[0])
    parser.add_argument('inputs', nargs='+', metavar='BAG_OR_DIR', help='episode bag folders or folders of them')
    parser.add_argument('--output', required=True, metavar='DIR', help='folder receiving episode_<index>.hdf5')
    parser.add_argument('--robot', help='robot config name or YAML path (default: from episode.json, else aloha_sim)')
    parser.add_argument('--cameras', nargs='+', metavar='CAMERA', help='cameras to export (default: those recorded)')
    parser.add_argument('--action-source', choices=ACTION_SOURCES, default='commanded',
                        help='action = the commanded targets (default) or the leader joint states mapped')
    parser.add_argument('--time-source', choices=TIME_SOURCES, default='header',
                        help='message header stamps (default) or the bag reception times')
    parser.add_argument('--max-gap-s', type=float, default=0.2,
                        help='reject an episode with a longer pause in any stream (default 0.2 s)')
    parser.add_argument('--task', default='unknown', help='task name for bags without episode metadata')
    parser.add_argument('--lerobot', metavar='DIR', help='also write a LeRobotDataset v3.0 (parquet + mp4 + meta; LeRobot >= 0.4 opens it) here')
    parser.add_argument('--image-storage', choices=IMAGE_STORAGE, default='raw',
                        help='camera frames in the HDF5: raw (default), gzip or lzf (lossless HDF5 filters), or jpeg '
                        '(the ALOHA 2 JPEG-row layout, lossy); bytes and speed of each: README')
    parser.add_argument('--jpeg-quality', type=int, default=90, help='JPEG quality 1..100 for --image-storage jpeg (default 90)')
    parser.add_argument('--overwrite', action='store_true', help='replace existing output files')
    parser.add_argument('-v', '--verbose', action='store_true', help='print per-stream timing of each episode')
    parser.set_defaults(handler=handle)
