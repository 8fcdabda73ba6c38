"""Episode bags with known signals, written with rosbags from rclpy-serialized messages.

Follower joint states: a sine per joint at an odd rate with jitter; commands on the
action topic stamped at the 50 Hz ticks; camera frames whose pixels hold their frame
number. The tests know what the converter must produce at every control tick.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from rclpy.serialization import serialize_message
from rosbags.rosbag2 import StoragePlugin, Writer
from rosbags.typesys import Stores, get_typestore
from sensor_msgs.msg import CompressedImage, Image, JointState

from act_common.image_encoding import rgb_to_compressed
from act_common.robot_config import load_robot_config

ROBOT_PATH = Path(__file__).resolve().parents[2] / 'act_common' / 'config' / 'robots' / 'aloha_sim.yaml'
ROBOT = load_robot_config(ROBOT_PATH)
START_S = 5.0
STORE = get_typestore(Stores.ROS2_KILTED)


def joint_signal(t):
    """Follower state at times t (N,): per arm 6 joints (rad) and the normalized gripper. (N, 14)"""
    t = np.asarray(t, dtype=np.float64)[:, None]
    columns = np.arange(14)[None, :]
    values = 0.3 * np.sin(2 * np.pi * (0.4 + 0.05 * columns) * t + columns)
    values[:, [6, 13]] = 0.5 + 0.4 * np.sin(2 * np.pi * 0.3 * t[:, 0:1] + np.array([[0.0, 1.0]]))
    return values


def action_signal(t):
    return 0.2 * np.cos(2 * np.pi * 0.5 * np.asarray(t, dtype=np.float64)[:, None] + np.arange(14)[None, :])


def _stamp(msg, t):
    ns = int(round(t * 1e9))
    msg.header.stamp.sec, msg.header.stamp.nanosec = ns // 1_000_000_000, ns % 1_000_000_000
    return ns


@dataclass
class SyntheticBag:
    path: Path
    joint_times: np.ndarray  # (N,) s
    frame_times: np.ndarray  # (F,) s
    action_times: np.ndarray  # (A,) s


def write_bag(path: Path, duration_s=3.0, joint_hz=37.0, camera_hz=30.0, jitter_s=0.003, storage='mcap',
              index=0, seed=5, image_shape=(24, 32), drop_frames=(), skip_topics=(), rename_joint=None,
              write_episode_json=True, start_s=START_S, strays=(), window=None, custom_window=None,
              camera_compression=None, log_shift_s=0.0) -> SyntheticBag:
    """strays: extra messages (topic, header stamp s, log time s) that do not belong to the
    episode (a copy of the topic's first message; camera strays show pixel value 250);
    camera_compression 'png'/'jpeg': frames as CompressedImage on <camera topic>/compressed;
    log_shift_s: the recorder's clock minus the stamps' clock (log times of the regular messages);
    window / custom_window: (start s, stop s) recorded in episode.json / the bag's custom data."""
    rng = np.random.default_rng(index)
    joint_count, frame_count = len(np.arange(0, duration_s, 1 / joint_hz)), len(np.arange(0, duration_s, 1 / camera_hz))
    joint_times = start_s + np.arange(0, duration_s, 1 / joint_hz) + rng.uniform(-jitter_s, jitter_s, joint_count)
    frame_times = start_s + np.arange(0, duration_s, 1 / camera_hz) + rng.uniform(0, jitter_s, frame_count)
    keep = np.ones(len(frame_times), dtype=bool)
    keep[list(drop_frames)] = False
    action_times = start_s + np.arange(0, duration_s, 0.02)
    messages = []  # (log time ns, topic, msg)
    state = joint_signal(joint_times)
    for arm_index, arm in enumerate(ROBOT.arms):
        names = list(arm.joint_names) + [arm.follower.gripper.joint, 'right_finger']
        if rename_joint is not None:
            names = [rename_joint[1] if n == rename_joint[0] else n for n in names]
        for t, row in zip(joint_times, state[:, arm_index * 7:(arm_index + 1) * 7]):
            finger = arm.follower.gripper.denormalize(row[6])
            msg = JointState(name=names, position=list(row[:6]) + [finger, -finger])
            messages.append((_stamp(msg, t) + 1_000_000, arm.follower.joint_states_topic, msg))
    for t, row in zip(action_times, action_signal(action_times)):
        msg = JointState(name=list(ROBOT.vector_names), position=list(row))
        messages.append((_stamp(msg, t) + 500_000, ROBOT.action_topic, msg))
    height, width = image_shape
    for k, t in enumerate(frame_times):
        if not keep[k]:
            continue
        pixels = np.full((height, width, 3), k % 256, dtype=np.uint8)
        pixels[0, 0] = [k // 256, 7, 9]
        if camera_compression:
            format_, payload = rgb_to_compressed(pixels, camera_compression)
            msg = CompressedImage(format=format_, data=payload)
        else:
            msg = Image(height=height, width=width, encoding='rgb8', step=width * 3, data=pixels.tobytes())
        messages.append((_stamp(msg, t) + 2_000_000, ROBOT.camera('top').topic, msg))
    for topic, header_s, log_s in strays:
        if topic == ROBOT.camera('top').topic:
            msg = Image(height=height, width=width, encoding='rgb8', step=width * 3,
                        data=np.full((height, width, 3), 250, dtype=np.uint8).tobytes())
        else:
            template = next(m for _, t, m in messages if t == topic)
            msg = JointState(name=list(template.name), position=list(template.position))
        _stamp(msg, header_s)
        messages.append((int(round(log_s * 1e9)), topic, msg))
    shift_ns = int(round(log_shift_s * 1e9))
    messages = [(log + shift_ns, topic, msg) for log, topic, msg in messages]
    messages.sort(key=lambda item: item[0])
    camera_topic, camera_type = ROBOT.camera('top').topic, 'sensor_msgs/msg/Image'
    if camera_compression:
        camera_topic, camera_type = camera_topic + '/compressed', 'sensor_msgs/msg/CompressedImage'
        messages = [(log, camera_topic if topic == ROBOT.camera('top').topic else topic, msg) for log, topic, msg in messages]
    writer = Writer(path, version=9, storage_plugin=StoragePlugin.MCAP if storage == 'mcap' else StoragePlugin.SQLITE3)
    writer.open()
    connections = {}
    for topic, type_name in [(arm.follower.joint_states_topic, 'sensor_msgs/msg/JointState') for arm in ROBOT.arms] + [
            (ROBOT.action_topic, 'sensor_msgs/msg/JointState'), (camera_topic, camera_type)]:
        if topic not in skip_topics:
            connections[topic] = writer.add_connection(topic, type_name, typestore=STORE)
    for log_ns, topic, msg in messages:
        if topic in connections:
            writer.write(connections[topic], log_ns, serialize_message(msg))
    writer.set_custom_data('act.task', 'synthetic_task')
    if custom_window is not None:
        writer.set_custom_data('act.start_time_ns', str(int(round(custom_window[0] * 1e9))))
        writer.set_custom_data('act.stop_time_ns', str(int(round(custom_window[1] * 1e9))))
    writer.close()
    if write_episode_json:
        record = {'task': 'synthetic_task', 'episode_index': index, 'seed': seed, 'success': True, 'cameras': ['top']}
        if window is not None:
            record.update(start_time_ns=int(round(window[0] * 1e9)), stop_time_ns=int(round(window[1] * 1e9)))
        (path / 'episode.json').write_text(json.dumps(record))
    return SyntheticBag(path, joint_times, frame_times[keep], action_times)
