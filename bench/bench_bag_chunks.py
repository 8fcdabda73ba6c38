"""mcap chunk size for crash-tolerant recording: write rate and data at risk per chunk size.

    python bench/bench_bag_chunks.py [--seconds 2] [--cameras 3] [--sizes-kib 64 256 1024 4096 16384]

Writes the aloha_sim recording's stream mix (N cameras 480x640 rgb8 at 30 Hz, 5 joint-state
topics at 50 Hz: followers, leaders, commanded action) through the recorder's writer
(act_teleop.bag_writer, with flush per chunk and fsync at most every max_age_s) as fast as
it goes, for each chunk size, and prints: the write rate against the stream's own rate
(x real time: above 1 the writer keeps up), the file size over the payload (index
overhead), and the seconds of data a crash can lose (the open chunk: chunk bytes over the
stream rate, capped by the age limit). The same for the joint streams alone, where the
age limit, not the size, bounds the loss. The chunk policy's defaults cite this bench.
rosbags (0.11.9) also closes a chunk by itself past 1 MiB, so larger sizes act as 1 MiB.
"""

from __future__ import annotations

import argparse
import shutil
import tempfile
import time
from pathlib import Path

import numpy as np
from rclpy.serialization import serialize_message
from sensor_msgs.msg import Image, JointState

from act_common.cpu_features import cpu_features
from act_teleop.bag_writer import ChunkPolicy, TopicSpec, open_bag

ROSBAGS_CHUNK_BYTES = 1 << 20  # rosbags' McapWriter closes a chunk past this itself
JOINT_TOPICS = ['/follower_left/joint_states', '/follower_right/joint_states', '/leader_left/joint_states',
                '/leader_right/joint_states', '/act/commanded_action']


def stream(cameras: int, seconds: float, with_images: bool = True):
    """(topic, t_ns, CDR) in time order, and the stream rate in bytes/s."""
    joint = JointState(name=[f'joint_{k}' for k in range(7)], position=[0.1] * 7, velocity=[0.0] * 7)
    joint_bytes = bytes(serialize_message(joint))
    frame = Image(height=480, width=640, encoding='rgb8', step=640 * 3,
                  data=np.random.default_rng(0).integers(0, 255, 480 * 640 * 3, dtype=np.uint8).tobytes())
    frame_bytes = bytes(serialize_message(frame))
    events = [(k * 20_000_000, topic, joint_bytes) for k in range(int(seconds * 50)) for topic in JOINT_TOPICS]
    if with_images:
        events += [(round(k * 1e9 / 30), f'/cameras/camera_{c}/image_raw', frame_bytes)
                   for k in range(int(seconds * 30)) for c in range(cameras)]
    events.sort(key=lambda e: e[0])
    total = sum(len(e[2]) for e in events)
    return [(topic, t, data) for t, topic, data in events], total / seconds


def write(folder: Path, events, topics, policy: ChunkPolicy) -> tuple[float, int, int]:
    """(seconds, file bytes, chunks) for writing events as fast as possible."""
    bag = folder / f'bag_{policy.max_bytes}_{time.monotonic_ns()}'
    writer = open_bag(bag, 'mcap', topics, {}, policy)
    started = time.perf_counter()
    for topic, t_ns, data in events:
        writer.write(topic, t_ns, data)
    writer.close({})
    elapsed = time.perf_counter() - started
    size = sum(f.stat().st_size for f in bag.glob('*.mcap'))
    chunks = writer.chunks_written
    shutil.rmtree(bag)
    return elapsed, size, chunks


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('--seconds', type=float, default=2.0, help='seconds of recording per run')
    parser.add_argument('--cameras', type=int, default=3)
    parser.add_argument('--sizes-kib', type=int, nargs='+', default=[64, 256, 1024, 4096, 16384])
    parser.add_argument('--max-age-s', type=float, default=ChunkPolicy().max_age_s)
    parser.add_argument('--output', help='folder for the bags (default: a temporary one; use the recording disk)')
    args = parser.parse_args()
    print(f'CPU: {cpu_features().describe()}')
    folder = Path(args.output) if args.output else Path(tempfile.mkdtemp(prefix='act_chunk_bench_'))
    folder.mkdir(parents=True, exist_ok=True)
    try:
        for label, with_images in ((f'{args.cameras} cameras 480x640 rgb8 30 Hz + 5 joint topics 50 Hz', True),
                                   ('5 joint topics 50 Hz only', False)):
            events, rate = stream(args.cameras, args.seconds, with_images)
            topics = sorted({TopicSpec(t, 'sensor_msgs/msg/Image' if 'cameras' in t else 'sensor_msgs/msg/JointState')
                             for t, _, _ in events}, key=lambda s: s.name)
            payload = sum(len(e[2]) for e in events)
            print(f'\n{label}: {rate / 1e6:.3f} MB/s, {args.seconds:g} s = {len(events)} messages')
            print(f'{"chunk KiB":>9s} {"chunks":>6s} {"write MB/s":>10s} {"x real time":>11s} {"overhead %":>10s} '
                  f'{"loss on crash s":>15s}')
            for size_kib in args.sizes_kib:
                policy = ChunkPolicy(max_bytes=size_kib * 1024, max_age_s=args.max_age_s, fsync=True)
                elapsed, size, chunks = write(folder, events, topics, policy)
                at_risk = min(min(size_kib * 1024, ROSBAGS_CHUNK_BYTES) / rate, args.max_age_s)
                print(f'{size_kib:9d} {chunks:6d} {payload / elapsed / 1e6:10.1f} {args.seconds / elapsed:11.1f} '
                      f'{100 * (size - payload) / payload:10.2f} {at_risk:15.3f}')
    finally:
        if not args.output:
            shutil.rmtree(folder, ignore_errors=True)
    return 0


if __name__ == '__main__':
    raise SystemExit(main())
