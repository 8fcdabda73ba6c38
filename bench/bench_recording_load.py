"""Recording under load: 3 cameras 480x640 rgb8 at 30 Hz + joint states at 50 Hz.

    python bench/bench_recording_load.py [--duration 60] [--cameras top angle left_wrist] [--storage mcap]

The publisher (act_teleop.synthetic_streams, the aloha_sim topics: cameras, 2 follower
and 2 leader joint states, the commanded action, /clock, /sim/task_reward) runs in its
own process; the RecorderNode runs in this one, spun by a SingleThreadedExecutor as its
console script does. Prints messages published vs stored per topic, drops, the peak
writer backlog, the write rate and the CPU use of both processes (cores = CPU s / wall s).

Both processes use act_bringup's large-data Fast DDS profile (config/fastdds_large_data.xml,
as `act record` does); --default-transports measures Fast DDS's default transports instead.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import psutil
import rclpy
from rclpy.context import Context
from rclpy.executors import SingleThreadedExecutor

from act_common.config_paths import robot_config_path
from act_tools.paths import use_large_data_dds_profile
from act_teleop.recorder_node import RecorderNode


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('--duration', type=float, default=60.0)
    parser.add_argument('--cameras', nargs='+', default=['top', 'angle', 'left_wrist'])
    parser.add_argument('--storage', choices=('mcap', 'sqlite3'), default='mcap')
    parser.add_argument('--output', help='bag folder parent (default: a temporary folder, removed)')
    parser.add_argument('--default-transports', action='store_true',
                        help="use Fast DDS's default transports instead of the large-data profile")
    args = parser.parse_args()
    if args.default_transports:
        os.environ.pop('FASTDDS_DEFAULT_PROFILES_FILE', None)
    else:
        use_large_data_dds_profile()  # this process and the publisher (inherits the environment)

    robot = str(robot_config_path('aloha_sim'))
    workdir = Path(args.output) if args.output else Path(tempfile.mkdtemp(prefix='act_rec_bench_'))
    context = Context()
    rclpy.init(context=context)
    recorder = RecorderNode(context=context, cli_args=[
        '--ros-args', '-p', f'robot_config:={robot}', '-p', f'output_dir:={workdir}', '-p', f'storage_id:={args.storage}',
        '-p', 'cameras:=[' + ', '.join(args.cameras) + ']'])
    executor = SingleThreadedExecutor(context=context)
    executor.add_node(recorder)
    spinner = threading.Thread(target=executor.spin, daemon=True)
    spinner.start()
    me = psutil.Process()
    try:
        record = recorder.start_episode('load_test')
        publisher = subprocess.Popen(
            [sys.executable, '-m', 'act_teleop.synthetic_streams', '--robot-config', robot, '--cameras', *args.cameras,
             '--duration', str(args.duration)], stdout=subprocess.PIPE, text=True, env=dict(os.environ, PYTHONUNBUFFERED='1'))
        peer = psutil.Process(publisher.pid)
        cpu_me0, wall0 = me.cpu_times(), time.monotonic()
        peer_cpu = 0.0
        while publisher.poll() is None:
            try:
                times = peer.cpu_times()
                peer_cpu = times.user + times.system
            except psutil.NoSuchProcess:
                break
            time.sleep(0.5)
        out = publisher.stdout.read()
        wall = time.monotonic() - wall0
        cpu_me1 = me.cpu_times()
        time.sleep(0.5)
        finished = time.monotonic()
        record = recorder.stop_episode(success=True)
        close_s = time.monotonic() - finished
    finally:
        executor.shutdown()
        recorder.destroy_node()
        rclpy.shutdown(context=context)
    result = json.loads(out.strip().splitlines()[-1])
    if 'error' in result:
        print(result['error'])
        return 1
    published = result['published']
    stored = {topic: counts.stored for topic, counts in record.topics.items()}
    bag_bytes = sum(p.stat().st_size for p in Path(record.bag_path).rglob('*') if p.is_file())
    recorder_cpu = (cpu_me1.user - cpu_me0.user) + (cpu_me1.system - cpu_me0.system)
    print(f'recording load: {len(args.cameras)} cameras 480x640 rgb8 at 30 Hz + joint streams at 50 Hz for '
          f'{result["elapsed_s"]:.1f} s, {args.storage}, writer {record.writer_library}')
    print(f'{"topic":34s} {"published":>9s} {"stored":>7s} {"dropped":>7s}')
    for topic in published:
        counts = record.topics[topic]
        print(f'{topic:34s} {published[topic]:9d} {counts.stored:7d} {counts.dropped:7d}')
    total_pub, total_stored = sum(published.values()), sum(stored.values())
    print(f'total: published {total_pub}, stored {total_stored}, ratio stored/published {total_stored / total_pub:.4f}, '
          f'dropped by the recorder {record.dropped_count}')
    print(f'bag {bag_bytes / 1e6:.0f} MB, {bag_bytes / 1e6 / result["elapsed_s"]:.1f} MB/s; peak writer backlog '
          f'{record.peak_queue_bytes / 1e6:.1f} MB; bag closed {close_s:.2f} s after stop; '
          f'DDS profile: {os.environ.get("FASTDDS_DEFAULT_PROFILES_FILE", "Fast DDS defaults")}')
    print(f'CPU: recorder process {recorder_cpu / wall:.2f} cores ({recorder_cpu:.1f} s over {wall:.1f} s), '
          f'publisher process {peer_cpu / wall:.2f} cores; machine has {psutil.cpu_count()} cores')
    if not args.output:
        shutil.rmtree(workdir, ignore_errors=True)
    return 0 if total_stored == total_pub else 1


if __name__ == '__main__':
    sys.exit(main())
