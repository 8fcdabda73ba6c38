"""A RecorderNode in its own process that starts an episode at once (for kill tests).

    python test/recorder_process.py ROBOT_CONFIG OUTPUT_DIR CAMERA...

Prints `recording <bag path>` once the bag is open, then spins until killed.
"""

import sys

import rclpy
from rclpy.executors import SingleThreadedExecutor

from act_teleop.recorder_node import RecorderNode


def main() -> None:
    robot, output, cameras = sys.argv[1], sys.argv[2], sys.argv[3:]
    rclpy.init()
    node = RecorderNode(cli_args=['--ros-args', '-p', f'robot_config:={robot}', '-p', f'output_dir:={output}',
                                  '-p', 'cameras:=[' + ', '.join(cameras) + ']'])
    record = node.start_episode('killed_task', -1, 7)
    print(f'recording {record.bag_path}', flush=True)
    executor = SingleThreadedExecutor()  # as recorder_node's main spins it
    executor.add_node(node)
    executor.spin()


if __name__ == '__main__':
    main()
