"""A stand-in robot for recorder tests and benchmarks: synthetic camera and joint streams.

    python -m act_teleop.synthetic_streams --robot-config aloha_sim.yaml --cameras top angle \
        --height 480 --width 640 --camera-hz 30 --joint-hz 50 --duration 60

Publishes, for the robot config: rgb8 images on the chosen cameras' topics, follower and
leader joint states and the commanded action (a sine per joint), and in simulation
/clock and /sim/task_reward, each at its rate on the wall clock. It waits until every
topic has a subscriber, publishes for `duration` seconds, then prints one JSON line with
the number of messages published per topic (what a recorder should have stored).
Message k of a stream carries k in its header frame_id, so a reader can find gaps.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from dataclasses import dataclass

import numpy as np

from act_common.robot_config import load_robot_config


@dataclass
class Stream:
    topic: str
    period_s: float
    make: object  # (k, t) -> message
    publisher: object = None
    next_s: float = 0.0
    count: int = 0


def _joint_state(names, values, k, t):
    from sensor_msgs.msg import JointState

    msg = JointState(name=list(names), position=[float(v) for v in values])
    msg.header.stamp.sec, msg.header.stamp.nanosec = int(t), int((t % 1) * 1e9)
    msg.header.frame_id = str(k)
    return msg


def build_streams(node, robot, cameras, height, width, camera_hz, joint_hz) -> list[Stream]:
    from act_msgs.msg import TaskReward
    from rosgraph_msgs.msg import Clock
    from sensor_msgs.msg import Image, JointState

    from act_common.interfaces import TASK_REWARD_QOS, TASK_REWARD_TOPIC
    from act_common.qos import CLOCK_QOS, COMMAND_QOS, SENSOR_QOS

    streams = []
    base = np.random.default_rng(0).integers(0, 255, size=(height, width, 3), dtype=np.uint8)
    for index, name in enumerate(cameras):
        camera = robot.camera(name)

        def image(k, t, camera=camera, index=index):
            msg = Image(height=height, width=width, encoding='rgb8', is_bigendian=0, step=width * 3)
            pixels = base.copy()
            pixels[0, :8, 0] = np.frombuffer(np.int64(k).tobytes(), dtype=np.uint8)  # frame number in the pixels
            msg.data = pixels.tobytes()
            msg.header.stamp.sec, msg.header.stamp.nanosec = int(t), int((t % 1) * 1e9)
            msg.header.frame_id = str(k)
            return msg

        streams.append(Stream(camera.topic, 1.0 / camera_hz, image, node.create_publisher(Image, camera.topic, SENSOR_QOS)))
    for arm in robot.arms:
        follower_names = list(arm.joint_names) + [arm.follower.gripper.joint]
        streams.append(Stream(arm.follower.joint_states_topic, 1.0 / joint_hz,
                              lambda k, t, n=follower_names: _joint_state(n, np.sin(t + np.arange(len(n))) * 0.01 + 0.03, k, t),
                              node.create_publisher(JointState, arm.follower.joint_states_topic, SENSOR_QOS)))
        if arm.leader is not None:
            leader_names = list(arm.joint_names) + [arm.leader.gripper.joint]
            streams.append(Stream(arm.leader.joint_states_topic, 1.0 / joint_hz,
                                  lambda k, t, n=leader_names: _joint_state(n, np.sin(t + np.arange(len(n))) * 0.1, k, t),
                                  node.create_publisher(JointState, arm.leader.joint_states_topic, SENSOR_QOS)))
    names = list(robot.vector_names)
    streams.append(Stream(robot.action_topic, 1.0 / joint_hz,
                          lambda k, t: _joint_state(names, np.sin(t + np.arange(len(names))) * 0.1, k, t),
                          node.create_publisher(JointState, robot.action_topic, COMMAND_QOS)))
    if robot.simulated:
        def clock(k, t):
            msg = Clock()
            msg.clock.sec, msg.clock.nanosec = int(t), int((t % 1) * 1e9)
            return msg

        def reward(k, t):
            msg = TaskReward(task='synthetic', seed=7, step=k, reward=1.0, max_reward=4.0, episode_max_reward=1.0)
            msg.header.stamp.sec, msg.header.stamp.nanosec = int(t), int((t % 1) * 1e9)
            return msg

        streams.append(Stream(robot.clock_topic, 1.0 / joint_hz, clock, node.create_publisher(Clock, robot.clock_topic, CLOCK_QOS)))
        streams.append(Stream(TASK_REWARD_TOPIC, 1.0 / joint_hz, reward,
                              node.create_publisher(TaskReward, TASK_REWARD_TOPIC, TASK_REWARD_QOS)))
    return streams


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('--robot-config', required=True)
    parser.add_argument('--cameras', nargs='*', default=None, help='camera names (default: all of the robot config)')
    parser.add_argument('--height', type=int, default=480)
    parser.add_argument('--width', type=int, default=640)
    parser.add_argument('--camera-hz', type=float, default=30.0)
    parser.add_argument('--joint-hz', type=float, default=50.0)
    parser.add_argument('--duration', type=float, default=10.0, help='seconds of publishing')
    parser.add_argument('--match-timeout', type=float, default=30.0, help='seconds to wait for subscribers')
    args = parser.parse_args(argv)

    import rclpy

    robot = load_robot_config(args.robot_config)
    cameras = list(robot.camera_names) if args.cameras is None else args.cameras
    rclpy.init()
    node = rclpy.create_node('synthetic_streams')
    try:
        streams = build_streams(node, robot, cameras, args.height, args.width, args.camera_hz, args.joint_hz)
        deadline = time.monotonic() + args.match_timeout
        while any(s.publisher.get_subscription_count() == 0 for s in streams):
            if time.monotonic() > deadline:
                missing = [s.topic for s in streams if s.publisher.get_subscription_count() == 0]
                print(json.dumps({'error': f'no subscriber on {missing}'}), flush=True)
                return 1
            time.sleep(0.05)
        time.sleep(0.5)  # matched both ways (the reader side may lag the writer side)
        start = time.monotonic()
        for stream in streams:
            stream.next_s = start
        end = start + args.duration
        while True:
            now = time.monotonic()
            if now >= end:
                break
            due = min(streams, key=lambda s: s.next_s)
            if due.next_s > now:
                time.sleep(min(due.next_s - now, end - now))
                continue
            t = 1000.0 + due.count * due.period_s  # synthetic time, the same grid in every run
            due.publisher.publish(due.make(due.count, t))
            due.count += 1
            due.next_s += due.period_s
            if now - due.next_s > 1.0:  # fell far behind: do not burst
                due.next_s = now
        elapsed = time.monotonic() - start
        print(json.dumps({'published': {s.topic: s.count for s in streams}, 'elapsed_s': elapsed}), flush=True)
        time.sleep(1.0)  # let reliable readers fetch the last samples before the writers go
    finally:
        node.destroy_node()
        rclpy.shutdown()
    return 0


if __name__ == '__main__':
    sys.exit(main())
