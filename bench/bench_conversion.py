"""Bytes per episode and conversion speed of each way to store camera frames.

    python bench/bench_conversion.py [--seconds 8] [--cameras 1] [--camera-hz 50] [--storage mcap]

Writes episode bags the way the recorder stores them (rclpy-serialized sensor_msgs; joint
states and commands at 50 Hz) with 480x640 camera frames rendered by the MuJoCo ALOHA sim
(transfer_cube scene, `top` camera; 25 distinct frames of moving arms, cycled), once as
raw rgb8 sensor_msgs/Image and once per compressed format as sensor_msgs/CompressedImage
(image_transport's compressed plugin payload). Converts each with act_training.conversion
into each HDF5 image storage (raw, gzip, lzf, ALOHA 2 JPEG rows) and prints, per choice:
bag MB, HDF5 MB, conversion seconds, camera frames/s and the mean absolute pixel error
of the stored frames against the rendered ones. The defaults are the demo's episode:
8 s of transfer_cube, camera `top` published every 50 Hz sim step.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from rclpy.serialization import serialize_message
from rosbags.rosbag2 import StoragePlugin, Writer
from rosbags.typesys import Stores, get_typestore
from sensor_msgs.msg import CompressedImage, Image, JointState

from act_common.config_paths import robot_config_path
from act_common.cpu_features import cpu_features
from act_common.image_encoding import rgb_to_compressed, rgb_to_image_fields
from act_common.robot_config import load_robot_config
from act_training.conversion import ConversionConfig, convert_episodes
from act_training.data.episodes import read_frames

DISTINCT_FRAMES = 25


def stamp(msg, t: float) -> int:
    ns = int(round(t * 1e9))
    msg.header.stamp.sec, msg.header.stamp.nanosec = divmod(ns, 1_000_000_000)
    return ns


def sim_frames(count: int) -> np.ndarray:
    """(count, 480, 640, 3) uint8 frames of the sim's top camera while the arms move."""
    os.environ.setdefault('MUJOCO_GL', 'egl')
    from act_sim.rendering import CameraRenderer, CameraSpec, RenderSettings
    from act_sim.sim import AlohaSim

    sim = AlohaSim('transfer_cube')
    renderer = CameraRenderer(sim.model, [CameraSpec('top', 480, 640)], RenderSettings(shadow_map_size=0))
    frames = []
    home = sim.targets.copy()
    for k in range(count):
        targets = home.copy()
        targets[[1, 2, 8, 9]] += 0.4 * np.sin(0.3 * k + np.arange(4))  # shoulders and elbows sweep
        for _ in range(3):
            sim.step(targets)
        frames.append(renderer.render(sim.data, 'top').copy())
    return np.stack(frames)


def write_bag(path: Path, robot, cameras: list[str], seconds: float, camera_hz: float, storage: str,
              frames: np.ndarray, compression: str | None) -> None:
    store = get_typestore(Stores.ROS2_KILTED)
    writer = Writer(path, version=9, storage_plugin=StoragePlugin.MCAP if storage == 'mcap' else StoragePlugin.SQLITE3)
    writer.open()
    image_type = 'sensor_msgs/msg/CompressedImage' if compression else 'sensor_msgs/msg/Image'
    topics = {arm.follower.joint_states_topic: 'sensor_msgs/msg/JointState' for arm in robot.arms}
    topics[robot.action_topic] = 'sensor_msgs/msg/JointState'
    topics.update({robot.camera(name).topic: image_type for name in cameras})
    connections = {topic: writer.add_connection(topic, kind, typestore=store) for topic, kind in topics.items()}
    payloads = ([rgb_to_compressed(frame, compression) for frame in frames] if compression
                else [rgb_to_image_fields(frame) for frame in frames])
    events = [(t, 'joints') for t in 1.0 + np.arange(0, seconds, 0.02)]
    events += [(t, 'cameras') for t in 1.0 + np.arange(0, seconds, 1 / camera_hz)]
    frame_number = 0
    for t, kind in sorted(events):
        if kind == 'joints':
            for arm in robot.arms:
                names = list(arm.joint_names) + [arm.follower.gripper.joint]
                msg = JointState(name=names, position=list(np.sin(t + np.arange(6))) + [0.04])
                writer.write(connections[arm.follower.joint_states_topic], stamp(msg, t), serialize_message(msg))
            msg = JointState(name=list(robot.vector_names), position=list(np.cos(t + np.arange(robot.vector_size))))
            writer.write(connections[robot.action_topic], stamp(msg, t), serialize_message(msg))
        else:
            payload = payloads[frame_number % len(payloads)]
            frame_number += 1
            for name in cameras:
                if compression:
                    msg = CompressedImage(format=payload[0], data=payload[1])
                else:
                    msg = Image(**payload)
                writer.write(connections[robot.camera(name).topic], stamp(msg, t) + 1000, serialize_message(msg))
    writer.close()


def folder_mb(path: Path) -> float:
    return sum(p.stat().st_size for p in Path(path).rglob('*') if p.is_file()) / 1e6


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('--seconds', type=float, default=8.0, help='episode length (default 8 s, the demo\'s transfer_cube)')
    parser.add_argument('--cameras', type=int, default=1, choices=(1, 2, 3, 4), help='cameras (default 1, the demo\'s)')
    parser.add_argument('--camera-hz', type=float, default=50.0, help='camera rate (default 50: the sim renders every step)')
    parser.add_argument('--storage', choices=('mcap', 'sqlite3'), default='mcap')
    parser.add_argument('--bag-formats', nargs='+', default=['raw', 'jpeg', 'png'], choices=('raw', 'jpeg', 'png'))
    parser.add_argument('--hdf5-storage', nargs='+', default=['raw', 'gzip', 'lzf', 'jpeg'],
                        choices=('raw', 'gzip', 'lzf', 'jpeg'))
    args = parser.parse_args()
    print(f'CPU: {cpu_features().describe()}')
    robot = load_robot_config(robot_config_path('aloha_sim'))
    cameras = list(robot.camera_names[:args.cameras])
    rendered = sim_frames(DISTINCT_FRAMES)
    print(f'episode: {args.seconds:g} s, {len(cameras)} camera(s) 480x640 at {args.camera_hz:g} Hz '
          f'({DISTINCT_FRAMES} distinct sim frames cycled), joint states 50 Hz, {args.storage} bags')
    print(f'{"bag frames":>10s} {"HDF5 frames":>11s} {"bag MB":>8s} {"HDF5 MB":>8s} {"bag+HDF5 vs raw":>15s} '
          f'{"convert s":>9s} {"frames/s":>8s} {"vs raw":>6s} {"pixel err":>9s}')
    workdir = Path(tempfile.mkdtemp(prefix='act_conv_bench_'))
    rows = []
    try:
        for bag_format in args.bag_formats:
            bag = workdir / f'bags_{bag_format}' / 'episode_0'
            write_bag(bag, robot, cameras, args.seconds, args.camera_hz, args.storage, rendered,
                      None if bag_format == 'raw' else bag_format)
            bag_mb = folder_mb(bag)
            for image_storage in args.hdf5_storage:
                output = workdir / f'hdf5_{bag_format}_{image_storage}'
                config = ConversionConfig(bags=(bag,), output_dir=output, robot=robot, cameras=tuple(cameras),
                                          image_storage=image_storage)
                started = time.perf_counter()
                [result] = convert_episodes(config).results
                elapsed = time.perf_counter() - started
                if result.status != 'converted':
                    print(result.summary())
                    return 1
                import h5py

                with h5py.File(result.output, 'r') as h5:
                    stored = read_frames(h5, f'/observations/images/{cameras[0]}', 0, min(DISTINCT_FRAMES, result.frames))
                # Which rendered frame each stored row shows: the newest camera message not after the tick.
                reference = rendered[np.arange(len(stored)) % DISTINCT_FRAMES] if args.camera_hz == 50.0 else None
                error = float(np.abs(stored.astype(int) - reference).mean()) if reference is not None else float('nan')
                frames = result.frames * len(cameras)
                rows.append((bag_format, image_storage, bag_mb, folder_mb(output), elapsed, frames / elapsed, error))
                base = rows[0]  # raw bag -> raw HDF5: the peer every choice is compared with
                size_ratio = (bag_mb + rows[-1][3]) / (base[2] + base[3])
                print(f'{bag_format:>10s} {image_storage:>11s} {bag_mb:8.1f} {rows[-1][3]:8.1f} {size_ratio:14.3f}x '
                      f'{elapsed:9.2f} {frames / elapsed:8.0f} {rows[-1][5] / base[5]:5.2f}x {error:9.2f}', flush=True)
                shutil.rmtree(output, ignore_errors=True)
            shutil.rmtree(bag.parent, ignore_errors=True)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    return 0


if __name__ == '__main__':
    sys.exit(main())
