"""Nothing recorded is lost to a crash: bags the recorder's writer leaves when cut anywhere.

The writer (act_teleop.bag_writer, the recorder's) closes an mcap chunk by size or age;
act_training.conversion.bag_recovery reads a cut file back. The recovered messages must be
exactly the first messages written, at every cut point, and a real recorder process killed
mid-episode must leave a bag that `act convert` turns into a truncated episode.
"""

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from mcap.reader import make_reader
from rclpy.serialization import serialize_message
from rosbags.typesys import Stores, get_typestore
from sensor_msgs.msg import Image, JointState

from act_common.config_paths import robot_config_path
from act_teleop.bag_writer import ChunkPolicy, TopicSpec, open_bag
from act_training.conversion.bag_recovery import RecoveredBagReader, scan_mcap

TOPICS = [TopicSpec('/follower_left/joint_states', 'sensor_msgs/msg/JointState'),
          TopicSpec('/cameras/top/image_raw', 'sensor_msgs/msg/Image')]


def _messages(count):
    """(topic, log time ns, CDR bytes): 50 Hz joint states and every 3rd tick a 48x64 image."""
    written = []
    for k in range(count):
        t_ns = 1_000_000_000 + k * 20_000_000
        joints = JointState(name=['waist', 'shoulder'], position=[np.sin(k / 10), float(k)])
        joints.header.stamp.sec, joints.header.stamp.nanosec = divmod(t_ns, 1_000_000_000)
        written.append((TOPICS[0].name, t_ns, bytes(serialize_message(joints))))
        if k % 3 == 0:
            pixels = np.full((48, 64, 3), k % 251, dtype=np.uint8)
            image = Image(height=48, width=64, encoding='rgb8', step=64 * 3, data=pixels.tobytes())
            image.header.stamp.sec, image.header.stamp.nanosec = divmod(t_ns, 1_000_000_000)
            written.append((TOPICS[1].name, t_ns, bytes(serialize_message(image))))
    return written


def _recovered(bag):
    reader = RecoveredBagReader(bag, get_typestore(Stores.ROS2_KILTED))
    return [(c.topic, t, bytes(raw)) for c, t, raw in reader.messages()], reader.report


def test_a_bag_cut_at_any_point_gives_back_exactly_its_first_messages(tmp_path):
    bag = tmp_path / 'episode_0'
    written = _messages(600)
    writer = open_bag(bag, 'mcap', TOPICS, {}, ChunkPolicy(max_bytes=64 * 1024))
    for topic, t_ns, data in written:
        writer.write(topic, t_ns, data)
    writer.close({})
    storage = next(bag.glob('*.mcap'))
    data = storage.read_bytes()
    with open(storage, 'rb') as file:
        chunks = sorted(make_reader(file).get_summary().chunk_indexes, key=lambda c: c.chunk_start_offset)
    assert len(chunks) >= 8
    middle = chunks[len(chunks) // 2]
    data_end = chunks[-1].chunk_start_offset + chunks[-1].chunk_length + chunks[-1].message_index_length
    cut_points = {
        'inside the first chunk': chunks[0].chunk_start_offset + chunks[0].chunk_length // 2,
        'exactly after a chunk': middle.chunk_start_offset + middle.chunk_length,
        'inside a chunk header': middle.chunk_start_offset + 20,
        'inside a chunk': middle.chunk_start_offset + middle.chunk_length // 3,
        'inside a message index': middle.chunk_start_offset + middle.chunk_length + 5,
        'inside the summary': data_end + 40,
        'one byte short': len(data) - 1,
    }
    for where, cut in cut_points.items():
        broken = tmp_path / 'cut' / f'episode_{cut}'
        broken.mkdir(parents=True)
        (broken / 'episode_0.mcap').write_bytes(data[:cut])  # no metadata.yaml, as a killed recorder leaves
        recovered, report = _recovered(broken)
        assert report.truncated, where
        # Every message of every chunk that ended before the cut, and nothing altered.
        before = [c for c in chunks if c.chunk_start_offset + c.chunk_length <= cut]
        assert recovered == written[:len(recovered)], where
        in_whole_chunks = _count_messages(data, before)
        assert len(recovered) >= in_whole_chunks, (where, len(recovered), in_whole_chunks)
        if where in ('inside the first chunk', 'inside a chunk'):
            assert report.messages_in_cut_chunk > 0 and len(recovered) > in_whole_chunks, where
        if where in ('inside the summary', 'one byte short'):
            assert len(recovered) == len(written), where


def _count_messages(data, chunk_indexes):
    """Messages in the given chunks, counted with the mcap library's own reader."""
    from io import BytesIO

    from mcap.exceptions import EndOfFile
    from mcap.records import Message
    from mcap.stream_reader import StreamReader

    count = 0
    for index in chunk_indexes:
        record = data[index.chunk_start_offset:index.chunk_start_offset + index.chunk_length]
        records = StreamReader(BytesIO(record), skip_magic=True).records
        try:
            for item in records:  # the chunk's messages; then the stream ends (no footer)
                count += isinstance(item, Message)
        except EndOfFile:
            pass
    return count


def test_while_recording_the_file_on_disk_is_never_more_than_the_chunk_age_behind(tmp_path):
    """Joint states only (~0.2 kB each at 50 Hz): 1 MiB would take minutes to fill, the
    age limit writes a chunk out every max_age_s."""
    policy = ChunkPolicy(max_age_s=0.25, fsync=False)
    writer = open_bag(tmp_path / 'episode_0', 'mcap', TOPICS[:1], {}, policy)
    written = [m for m in _messages(150) if m[0] == TOPICS[0].name]
    behind = []
    started = time.monotonic()
    for k, (topic, t_ns, data) in enumerate(written):
        writer.write(topic, t_ns, data)
        time.sleep(max(0.0, started + (k + 1) * 0.02 - time.monotonic()))
        if k % 25 == 24:
            recovered, _ = _recovered(tmp_path / 'episode_0')
            assert recovered == written[:len(recovered)]
            behind.append((k + 1 - len(recovered)) * 0.02)  # seconds of data not yet on disk
    writer.close({})
    assert max(behind) <= policy.max_age_s + 0.1, behind


@pytest.mark.slow
@pytest.mark.timeout(150)
def test_a_killed_recorder_leaves_a_bag_that_converts_truncated(tmp_path, peer_env):
    robot = str(robot_config_path('aloha_sim'))
    output = tmp_path / 'bags'
    recorder = subprocess.Popen([sys.executable, str(Path(__file__).with_name('recorder_process.py')), robot,
                                 str(output), 'top'], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                                env=peer_env)
    publisher = None
    try:
        seen = []
        for line in recorder.stdout:  # its log lines come first
            seen.append(line)
            if line.startswith('recording '):
                break
        assert seen and seen[-1].startswith('recording '), ''.join(seen)
        bag = Path(seen[-1].split(' ', 1)[1].strip())
        publisher = subprocess.Popen(
            [sys.executable, '-m', 'act_teleop.synthetic_streams', '--robot-config', robot, '--cameras', 'top',
             '--height', '96', '--width', '128', '--duration', '30'], stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
            text=True, env=peer_env)
        # Kill 4 s into the stream: wait until the bag has grown (discovery takes 1-2 s).
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and (not list(bag.glob('*.mcap')) or
                                               next(bag.glob('*.mcap')).stat().st_size < 200_000):
            time.sleep(0.1)
        time.sleep(4.0)
        killed_at_ns = time.time_ns()
        recorder.send_signal(signal.SIGKILL)
        recorder.wait(timeout=10)
    finally:
        for process in (recorder, publisher):
            if process is not None and process.poll() is None:
                process.kill()
                process.wait(timeout=10)
    assert not (bag / 'metadata.yaml').exists()  # a real crash: rosbag2 metadata is written at close
    record = json.loads((bag / 'episode.json').read_text())
    assert record['task'] == 'killed_task' and record['kept'] is False
    report = scan_mcap(bag)
    lost_s = (killed_at_ns - report.end_ns) / 1e9  # recorder clock = wall clock (no sim time)
    print(f'recovered {report.message_count} messages, {report.duration_s:.2f} s; lost the last {lost_s:.3f} s; '
          f'{report.summary()}')
    assert report.truncated and report.duration_s > 3.0
    assert lost_s < 1.0, f'{lost_s:.3f} s of data lost at the kill (chunk age limit 0.5 s)'

    convert = subprocess.run([sys.executable, '-m', 'act_tools.cli.main', 'convert', str(output), '--output',
                              str(tmp_path / 'hdf5')], capture_output=True, text=True, timeout=120, env=peer_env)
    assert '1 converted' in convert.stdout and 'TRUNCATED' in convert.stdout, convert.stdout + convert.stderr
    repair = subprocess.run([sys.executable, '-m', 'act_tools.cli.main', 'bag', 'repair', str(bag)],
                            capture_output=True, text=True, timeout=120, env=peer_env)
    assert repair.returncode == 0 and (output / f'{bag.name}.repaired' / 'metadata.yaml').is_file(), repair.stdout
    shutil.rmtree(output / f'{bag.name}.repaired')
