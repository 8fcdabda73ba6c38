"""Soak: does a long run degrade? Policy node against the sim, then a long recording session.

    python bench/bench_soak.py [--minutes 30] [--recording-minutes 30] [--sample-s 60] [--plot soak.png]

Part 1, policy: `act sim --cameras top --real-time-factor 1` and `act policy --checkpoint C`
run as the user starts them (two processes, use_sim_time); C is --checkpoint or a small ACT
checkpoint trained here in seconds (one 48x64 camera, chunk 20). Every --sample-s this
process reads the policy node's PolicyStatus (cumulative ticks, deadline misses, held
ticks, chunks, mean inference latency) and the RSS of both processes (psutil).
Part 2, recording: `recorder_node` (its own process) records episodes of --episode-s back
to back from act_teleop.synthetic_streams (--record-cameras at 480x640 rgb8 30 Hz and the
joint streams at 50 Hz) through its services; per sample: bytes written, messages stored
and dropped (episode.json), recorder RSS. Finished episodes are deleted after they are
counted, so the disk holds at most two. Before deleting, the bench reads the frame numbers
the publisher wrote into each header (frame_id = k) and counts the gaps per topic: messages
published and never stored, wherever they were lost (DDS history, the recorder's queue).
--contend MINUTE:SECONDS (repeatable) starts one busy process per core at MINUTE for
SECONDS, to check that a recorder that fell behind comes back (memory, rate, losses).

Prints a table per sample and, after the first sample (warm-up: model load, allocator,
DDS discovery), the growth per hour from a least-squares line: RSS in MB/h and % of the
post-warm-up mean per hour, and the trend of deadline misses and held ticks per sample
interval. Targets (issue 13): RSS growth under 1 %/h after warm-up, no upward trend in
deadline misses. Writes a matplotlib figure of the samples (--plot).
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
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import psutil

ROOT = Path(__file__).resolve().parents[1]


@dataclass
class Series:
    """Samples of one run: minutes since start and named columns."""

    minutes: list = field(default_factory=list)
    columns: dict = field(default_factory=dict)

    def add(self, minute: float, **values) -> None:
        self.minutes.append(minute)
        for name, value in values.items():
            self.columns.setdefault(name, []).append(value)


def trend_per_hour(minutes, values) -> tuple[float, float]:
    """(slope per hour, mean) of a least-squares line through the samples after the first."""
    x, y = np.asarray(minutes[1:], dtype=float), np.asarray(values[1:], dtype=float)
    if len(x) < 2:
        return float('nan'), float(np.mean(y)) if len(y) else float('nan')
    slope_per_min = np.polyfit(x, y, 1)[0]
    return float(slope_per_min * 60), float(np.mean(y))


def rss_mb(process: psutil.Process) -> float:
    """Resident memory of a process and its children, MB."""
    try:
        return sum(p.memory_info().rss for p in [process] + process.children(recursive=True)) / 1e6
    except psutil.NoSuchProcess:
        return float('nan')


def small_checkpoint(workdir: Path) -> Path:
    sys.path.insert(0, str(ROOT / 'act_policy_node' / 'test'))
    from policy_checkpoints import train_checkpoint

    from act_common.config_paths import robot_config_path
    from act_common.robot_config import load_robot_config

    return train_checkpoint(workdir, load_robot_config(robot_config_path('aloha_sim')), steps=2)


class StatusListener:
    """A private rclpy context that keeps the newest PolicyStatus."""

    def __init__(self):
        import rclpy
        from act_msgs.msg import PolicyStatus
        from rclpy.context import Context
        from rclpy.executors import SingleThreadedExecutor

        from act_common.qos import STATUS_QOS
        from act_common.interfaces import POLICY_STATUS_TOPIC as STATUS_TOPIC

        self.context = Context()
        rclpy.init(context=self.context)
        self.node = rclpy.create_node('soak_monitor', context=self.context)
        self.newest = None
        self.node.create_subscription(PolicyStatus, STATUS_TOPIC, self._store, STATUS_QOS)
        self.executor = SingleThreadedExecutor(context=self.context)
        self.executor.add_node(self.node)
        self._thread = threading.Thread(target=self.executor.spin, daemon=True)
        self._thread.start()

    def _store(self, msg) -> None:
        self.newest = msg

    def close(self) -> None:
        import rclpy

        self.executor.shutdown()
        self.node.destroy_node()
        rclpy.shutdown(context=self.context)


def soak_policy(args, workdir: Path, env: dict) -> Series:
    checkpoint = Path(args.checkpoint) if args.checkpoint else small_checkpoint(workdir / 'checkpoint')
    act = [sys.executable, '-m', 'act_tools.cli.main']
    logs = {name: open(workdir / f'{name}.log', 'w') for name in ('sim', 'policy')}
    sim = subprocess.Popen(act + ['sim', '--cameras', 'top', '--real-time-factor', '1.0'], stdout=logs['sim'],
                           stderr=subprocess.STDOUT, env=env)
    policy = subprocess.Popen(act + ['policy', '--checkpoint', str(checkpoint)], stdout=logs['policy'],
                              stderr=subprocess.STDOUT, env=env)
    listener = StatusListener()
    series = Series()
    try:
        deadline = time.monotonic() + 180
        while (listener.newest is None or listener.newest.ticks == 0) and time.monotonic() < deadline:
            if sim.poll() is not None or policy.poll() is not None:
                raise RuntimeError(f'a process ended: see {workdir}/sim.log and policy.log')
            time.sleep(0.5)
        if listener.newest is None or listener.newest.ticks == 0:
            raise RuntimeError(f'the policy node never ticked within 180 s: see {workdir}/policy.log')
        processes = {'policy': psutil.Process(policy.pid), 'sim': psutil.Process(sim.pid)}
        started = time.monotonic()
        previous = listener.newest
        print(f'{"min":>5s} {"policy RSS MB":>13s} {"sim RSS MB":>10s} {"ticks":>7s} {"misses":>6s} {"held":>6s} '
              f'{"chunks":>6s} {"latency ms":>10s}  status')
        while True:
            time.sleep(args.sample_s)
            if sim.poll() is not None or policy.poll() is not None:
                raise RuntimeError(f'a process ended during the soak: see {workdir}')
            status = listener.newest
            minute = (time.monotonic() - started) / 60
            row = dict(policy_rss_mb=rss_mb(processes['policy']), sim_rss_mb=rss_mb(processes['sim']),
                       ticks=int(status.ticks - previous.ticks),
                       deadline_misses=int(status.deadline_misses - previous.deadline_misses),
                       held_ticks=int(status.held_ticks - previous.held_ticks),
                       chunks=int(status.chunks_computed - previous.chunks_computed),
                       latency_ms=1e3 * status.inference_latency_mean_s)
            series.add(minute, **row)
            previous = status
            print(f'{minute:5.1f} {row["policy_rss_mb"]:13.1f} {row["sim_rss_mb"]:10.1f} {row["ticks"]:7d} '
                  f'{row["deadline_misses"]:6d} {row["held_ticks"]:6d} {row["chunks"]:6d} {row["latency_ms"]:10.1f}  '
                  f'{status.detail[:60]}', flush=True)
            if minute >= args.minutes - 1e-6:
                break
    finally:
        listener.close()
        for process in (policy, sim):
            process.terminate()
        for process in (policy, sim):
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()
        for log in logs.values():
            log.close()
    return series


def frame_number_gaps(bag: Path, topics: list[str]) -> dict[str, int]:
    """Per topic, the frame numbers missing between the first and last stored message of
    the bag (act_teleop.synthetic_streams writes message k's number into header.frame_id)."""
    import struct

    from rosbags.rosbag2 import Reader

    numbers: dict[str, list[int]] = {topic: [] for topic in topics}
    with Reader(bag) as reader:
        connections = [c for c in reader.connections if c.topic in numbers]
        for connection, _, data in reader.messages(connections=connections):
            # CDR of a message that starts with std_msgs/Header: 4-byte encapsulation, stamp
            # (int32 sec, uint32 nanosec), then frame_id as uint32 length (with its NUL) + bytes.
            (length,) = struct.unpack_from('<I', data, 12)
            numbers[connection.topic].append(int(data[16:16 + length - 1]))
    gaps = {}
    for topic, values in numbers.items():
        unique = set(values)
        gaps[topic] = (max(unique) - min(unique) + 1 - len(unique)) if unique else 0
    return gaps


class Contention:
    """One busy-looping process per core during [minute, minute + seconds) of the run."""

    def __init__(self, windows: list[str]):
        self.windows = []
        for window in windows:
            minute, _, seconds = window.partition(':')
            self.windows.append((float(minute) * 60, float(seconds or 60)))
        self._processes: list[subprocess.Popen] = []
        self._until = 0.0

    def update(self, elapsed_s: float) -> None:
        if self._processes and elapsed_s >= self._until:
            for process in self._processes:
                process.kill()
                process.wait()
            self._processes = []
            print(f'  contention ended at {elapsed_s / 60:.1f} min', flush=True)
        for start, seconds in list(self.windows):
            if elapsed_s >= start and not self._processes:
                self.windows.remove((start, seconds))
                self._until = elapsed_s + seconds
                self._processes = [subprocess.Popen([sys.executable, '-c', 'while True: pass'])
                                   for _ in range(os.cpu_count() or 1)]
                print(f'  contention: {len(self._processes)} busy processes from {elapsed_s / 60:.1f} min for '
                      f'{seconds:g} s', flush=True)

    def close(self) -> None:
        self.update(float('inf'))


def soak_recording(args, workdir: Path, env: dict) -> Series:
    import rclpy
    from act_msgs.srv import StartEpisode, StopEpisode
    from ament_index_python.packages import get_package_prefix
    from rclpy.context import Context
    from rclpy.executors import SingleThreadedExecutor

    from act_common.interfaces import RECORDER_START_SERVICE, RECORDER_STOP_SERVICE

    from act_common.config_paths import robot_config_path

    robot = str(robot_config_path('aloha_sim'))
    output = workdir / 'episodes'
    recorder_exe = os.path.join(get_package_prefix('act_teleop'), 'lib', 'act_teleop', 'recorder_node')
    log = open(workdir / 'recorder.log', 'w')
    recorder = subprocess.Popen([recorder_exe, '--ros-args', '-p', f'robot_config:={robot}', '-p', f'output_dir:={output}',
                                 '-p', 'cameras:=[' + ', '.join(args.record_cameras) + ']'], stdout=log,
                                stderr=subprocess.STDOUT, env=env)
    publisher = subprocess.Popen([sys.executable, '-m', 'act_teleop.synthetic_streams', '--robot-config', robot,
                                  '--cameras', *args.record_cameras, '--duration', str(args.recording_minutes * 60 + 120)],
                                 stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT, env=env)
    context = Context()
    rclpy.init(context=context)
    node = rclpy.create_node('soak_recording', context=context)
    executor = SingleThreadedExecutor(context=context)
    executor.add_node(node)
    start_client = node.create_client(StartEpisode, RECORDER_START_SERVICE)
    stop_client = node.create_client(StopEpisode, RECORDER_STOP_SERVICE)

    def call(client, request, timeout_s=60.0):
        future = client.call_async(request)
        executor.spin_until_future_complete(future, timeout_sec=timeout_s)
        if not future.done():
            raise RuntimeError(f'{client.srv_name}: no answer within {timeout_s} s')
        return future.result()

    from act_common.robot_config import load_robot_config
    from act_teleop.recorder_node import recorded_topics

    # The recorded topics whose messages carry their frame number: the cameras and the
    # JointState streams (/clock has no header; the reward's frame_id is not numbered).
    numbered_topics = [topic.spec.name for topic in recorded_topics(load_robot_config(robot), args.record_cameras, True)
                       if topic.spec.type_name in ('sensor_msgs/msg/Image', 'sensor_msgs/msg/JointState')]
    series = Series()
    totals = dict(bytes=0, stored=0, dropped=0, lost=0, episodes=0)
    lost_per_topic: dict[str, int] = {}
    contention = Contention(args.contend)
    try:
        if not start_client.wait_for_service(timeout_sec=60) or not stop_client.wait_for_service(timeout_sec=60):
            raise RuntimeError(f'recorder services not found: see {workdir}/recorder.log')
        time.sleep(3.0)  # the publisher waits for its subscribers, then streams
        process = psutil.Process(recorder.pid)
        started = time.monotonic()
        next_sample = started + args.sample_s
        previous = dict(totals)
        print(f'{"min":>5s} {"recorder RSS MB":>15s} {"episodes":>8s} {"MB written":>10s} {"stored":>8s} {"dropped":>7s} '
              f'{"lost":>6s}')
        while True:
            contention.update(time.monotonic() - started)
            answer = call(start_client, StartEpisode.Request(task_name='soak', episode_index=-1, seed=-1))
            if answer.result != StartEpisode.Response.RESULT_OK:
                raise RuntimeError(f'start_episode: {answer.message}')
            time.sleep(args.episode_s)
            stopped = call(stop_client, StopEpisode.Request(success=True, discard=False), timeout_s=300)
            bag = Path(stopped.bag_path)
            record = json.loads((bag / 'episode.json').read_text())
            totals['bytes'] += sum(f.stat().st_size for f in bag.iterdir())
            totals['stored'] += record['message_count']
            totals['dropped'] += record['dropped_count']
            for topic, gaps in frame_number_gaps(bag, numbered_topics).items():
                totals['lost'] += gaps
                lost_per_topic[topic] = lost_per_topic.get(topic, 0) + gaps
            totals['episodes'] += 1
            shutil.rmtree(bag)  # counted; keep the disk bounded
            now = time.monotonic()
            if now >= next_sample:
                minute = (now - started) / 60
                row = dict(recorder_rss_mb=rss_mb(process), episodes=totals['episodes'] - previous['episodes'],
                           mb_written=(totals['bytes'] - previous['bytes']) / 1e6,
                           stored=totals['stored'] - previous['stored'], dropped=totals['dropped'] - previous['dropped'],
                           lost=totals['lost'] - previous['lost'])
                series.add(minute, **row)
                previous = dict(totals)
                next_sample += args.sample_s
                print(f'{minute:5.1f} {row["recorder_rss_mb"]:15.1f} {row["episodes"]:8d} {row["mb_written"]:10.0f} '
                      f'{row["stored"]:8d} {row["dropped"]:7d} {row["lost"]:6d}', flush=True)
                if minute >= args.recording_minutes - 1e-6:
                    break
            if recorder.poll() is not None:
                raise RuntimeError(f'the recorder ended: see {workdir}/recorder.log')
    finally:
        contention.close()
        executor.shutdown()
        node.destroy_node()
        rclpy.shutdown(context=context)
        for child in (publisher, recorder):
            child.terminate()
        for child in (publisher, recorder):
            try:
                child.wait(timeout=60)
            except subprocess.TimeoutExpired:
                child.kill()
        log.close()
    print(f'recording total: {totals["episodes"]} episodes, {totals["bytes"] / 1e9:.2f} GB, {totals["stored"]} messages '
          f'stored, {totals["dropped"]} dropped by the recorder, {totals["lost"]} lost (frame-number gaps: '
          f'published and never stored)')
    print(f'lost per topic: {lost_per_topic}')
    return series


def report(name: str, series: Series, rss_columns: list[str], count_columns: list[str]) -> None:
    if len(series.minutes) < 3:
        print(f'{name}: {len(series.minutes)} samples; growth figures need at least 3 (one is warm-up)')
        return
    print(f'{name}, after the first sample (warm-up), least-squares trend over {len(series.minutes) - 1} samples:')
    for column in rss_columns:
        slope, mean = trend_per_hour(series.minutes, series.columns[column])
        print(f'  {column}: {mean:.1f} MB mean, growth {slope:+.2f} MB/h = {100 * slope / mean:+.2f} %/h')
    for column in count_columns:
        slope, mean = trend_per_hour(series.minutes, series.columns[column])
        print(f'  {column} per sample: mean {mean:.2f}, trend {slope:+.2f} per sample per hour')


def plot(path: Path, policy: Series | None, recording: Series | None) -> None:
    import matplotlib

    matplotlib.use('Agg')
    import matplotlib.pyplot as plt

    panels = []
    if policy is not None and policy.minutes:
        panels += [(policy, ['policy_rss_mb', 'sim_rss_mb'], 'RSS (MB)'),
                   (policy, ['deadline_misses', 'held_ticks'], 'per sample'), (policy, ['latency_ms'], 'inference ms')]
    if recording is not None and recording.minutes:
        panels += [(recording, ['recorder_rss_mb'], 'RSS (MB)'), (recording, ['mb_written', 'dropped', 'lost'], 'per sample')]
    if not panels:
        return
    figure, axes = plt.subplots(len(panels), 1, figsize=(7, 2.2 * len(panels)), sharex=False, squeeze=False)
    for axis, (series, columns, label) in zip(axes[:, 0], panels):
        for column in columns:
            axis.plot(series.minutes, series.columns[column], marker='o', label=column)
        axis.set_ylabel(label)
        axis.legend(fontsize=7)
        axis.grid(alpha=0.3)
    axes[-1, 0].set_xlabel('minutes')
    figure.suptitle('bench_soak: policy vs sim, then recording')
    figure.tight_layout()
    figure.savefig(path, dpi=100)
    print(f'plot: {path}')


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('--minutes', type=float, default=30.0, help='policy vs sim duration (0: skip)')
    parser.add_argument('--recording-minutes', type=float, default=30.0, help='recording session duration (0: skip)')
    parser.add_argument('--sample-s', type=float, default=60.0, help='seconds between samples')
    parser.add_argument('--episode-s', type=float, default=20.0, help='length of each recorded episode')
    parser.add_argument('--record-cameras', nargs='+', default=['top'], help='cameras of the synthetic recording')
    parser.add_argument('--contend', action='append', default=[], metavar='MINUTE:SECONDS',
                        help='recording session: one busy process per core from MINUTE for SECONDS (repeatable)')
    parser.add_argument('--checkpoint', help='policy checkpoint (default: a small one trained here)')
    parser.add_argument('--plot', default='soak.png', help='figure file')
    parser.add_argument('--workdir', help='logs and temporary files (default: a temporary folder)')
    args = parser.parse_args()

    from act_tools.paths import use_large_data_dds_profile
    from act_common.cpu_features import cpu_features

    print(f'CPU: {cpu_features().describe()}')
    use_large_data_dds_profile()
    env = dict(os.environ, PYTHONUNBUFFERED='1')
    env.setdefault('ROS_DOMAIN_ID', str(100 + os.getpid() % 100))
    env.setdefault('ROS_AUTOMATIC_DISCOVERY_RANGE', 'LOCALHOST')
    os.environ.update({k: env[k] for k in ('ROS_DOMAIN_ID', 'ROS_AUTOMATIC_DISCOVERY_RANGE')})
    workdir = Path(args.workdir) if args.workdir else Path(tempfile.mkdtemp(prefix='act_soak_'))
    workdir.mkdir(parents=True, exist_ok=True)
    policy = recording = None
    if args.minutes > 0:
        print(f'\n== policy node vs sim node, {args.minutes:g} min, a sample every {args.sample_s:g} s ==')
        policy = soak_policy(args, workdir, env)
        report('policy vs sim', policy, ['policy_rss_mb', 'sim_rss_mb'], ['deadline_misses', 'held_ticks', 'latency_ms'])
    if args.recording_minutes > 0:
        print(f'\n== recording session, {args.recording_minutes:g} min of {args.episode_s:g} s episodes ==')
        recording = soak_recording(args, workdir, env)
        report('recording', recording, ['recorder_rss_mb'], ['dropped', 'lost', 'mb_written', 'stored'])
    plot(Path(args.plot), policy, recording)
    if not args.workdir:
        shutil.rmtree(workdir, ignore_errors=True)
    return 0


if __name__ == '__main__':
    raise SystemExit(main())
