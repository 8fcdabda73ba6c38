"""Conversion speed: episode bag -> ACT HDF5, in control steps and camera frames per second.

    python bench/bench_conversion.py [--seconds 20] [--cameras 3] [--storage mcap]

Writes one synthetic episode bag the way the recorder stores them (rclpy-serialized
sensor_msgs: 480x640 rgb8 cameras at 30 Hz, follower joint states at 50 Hz, commands at
50 Hz), converts it with act_training.conversion (wall time, this process), and prints
steps/s (rows of the HDF5 episode), camera frames/s (images written: steps x cameras)
and MB/s of bag read.
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from rclpy.serialization import serialize_message
from rosbags.rosbag2 import StoragePlugin, Writer
from rosbags.typesys import Stores, get_typestore
from sensor_msgs.msg import Image, JointState

from act_bringup.paths import robot_config_path
from act_common.robot_config import load_robot_config
from act_training.conversion import ConversionConfig, convert_episodes


def stamp(msg, t: float) -> int:
    ns = int(round(t * 1e9))
    msg.header.stamp.sec, msg.header.stamp.nanosec = divmod(ns, 1_000_000_000)
    return ns


def write_bag(path: Path, robot, cameras: list[str], seconds: float, storage: str) -> None:
    store = get_typestore(Stores.ROS2_KILTED)
    writer = Writer(path, version=9, storage_plugin=StoragePlugin.MCAP if storage == 'mcap' else StoragePlugin.SQLITE3)
    writer.open()
    topics = {arm.follower.joint_states_topic: 'sensor_msgs/msg/JointState' for arm in robot.arms}
    topics[robot.action_topic] = 'sensor_msgs/msg/JointState'
    topics.update({robot.camera(name).topic: 'sensor_msgs/msg/Image' for name in cameras})
    connections = {topic: writer.add_connection(topic, kind, typestore=store) for topic, kind in topics.items()}
    rng = np.random.default_rng(0)
    pixels = rng.integers(0, 255, size=(480, 640, 3), dtype=np.uint8).tobytes()
    events = [(t, 'joints') for t in 1.0 + np.arange(0, seconds, 0.02)]
    events += [(t, 'cameras') for t in 1.0 + np.arange(0, seconds, 1 / 30)]
    for t, kind in sorted(events):
        if kind == 'joints':
            for arm in robot.arms:
                names = list(arm.joint_names) + [arm.follower.gripper.joint]
                msg = JointState(name=names, position=list(np.sin(t + np.arange(6))) + [0.04])
                writer.write(connections[arm.follower.joint_states_topic], stamp(msg, t), serialize_message(msg))
            msg = JointState(name=list(robot.vector_names), position=list(np.cos(t + np.arange(robot.vector_size))))
            writer.write(connections[robot.action_topic], stamp(msg, t), serialize_message(msg))
        else:
            for name in cameras:
                msg = Image(height=480, width=640, encoding='rgb8', step=1920, data=pixels)
                writer.write(connections[robot.camera(name).topic], stamp(msg, t) + 1000, serialize_message(msg))
    writer.close()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('--seconds', type=float, default=20.0, help='episode length (default 20 s = 1000 steps)')
    parser.add_argument('--cameras', type=int, default=3, choices=(1, 2, 3, 4))
    parser.add_argument('--storage', choices=('mcap', 'sqlite3'), default='mcap')
    args = parser.parse_args()
    robot = load_robot_config(robot_config_path('aloha_sim'))
    cameras = list(robot.camera_names[:args.cameras])
    workdir = Path(tempfile.mkdtemp(prefix='act_conv_bench_'))
    try:
        bag = workdir / 'bags' / 'episode_0'
        started = time.perf_counter()
        write_bag(bag, robot, cameras, args.seconds, args.storage)
        written_s = time.perf_counter() - started
        bag_mb = sum(p.stat().st_size for p in bag.rglob('*') if p.is_file()) / 1e6
        config = ConversionConfig(bags=(bag,), output_dir=workdir / 'hdf5', robot=robot, cameras=tuple(cameras))
        started = time.perf_counter()
        report = convert_episodes(config)
        elapsed = time.perf_counter() - started
        [result] = report.results
        if result.status != 'converted':
            print(result.summary())
            return 1
        frames = result.frames * len(cameras)
        print(f'conversion of a {args.seconds:g} s episode ({args.storage}, {len(cameras)} cameras 480x640 at 30 Hz, '
              f'joint states 50 Hz; bag {bag_mb:.0f} MB written in {written_s:.1f} s)')
        print(f'{result.frames} steps, {frames} camera frames in {elapsed:.2f} s: {result.frames / elapsed:.0f} steps/s, '
              f'{frames / elapsed:.0f} frames/s, {bag_mb / elapsed:.0f} MB/s of bag; '
              f'{result.frames / elapsed / robot.control_rate_hz:.1f}x real time')
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    return 0


if __name__ == '__main__':
    sys.exit(main())
