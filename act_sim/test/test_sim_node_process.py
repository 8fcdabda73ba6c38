"""sim_node as `ros2 run act_sim sim_node` starts it: its own process, over DDS."""

import os
import subprocess
import time

import pytest
import rclpy
from ament_index_python.packages import get_package_prefix
from rclpy.context import Context
from rclpy.executors import SingleThreadedExecutor

from sim_ros_harness import ROBOT_CONFIG, ProbeNode

# sim_node in a process of its own, over DDS.
pytestmark = pytest.mark.slow


@pytest.mark.timeout(90)
def test_console_script_runs_in_its_own_process():
    # What `ros2 run act_sim sim_node` starts.
    sim_node = os.path.join(get_package_prefix('act_sim'), 'lib', 'act_sim', 'sim_node')
    process = subprocess.Popen([sim_node, '--ros-args', '-p', f'robot_config:={ROBOT_CONFIG}',
                                '-p', 'real_time_factor:=2.0', '-p', 'task:=insertion', '-p', 'seed:=9'])
    context = Context()
    rclpy.init(context=context)
    try:
        probe = ProbeNode(context=context)
        executor = SingleThreadedExecutor(context=context)
        executor.add_node(probe)
        deadline = time.monotonic() + 60
        while len(probe.clocks) < 5 and time.monotonic() < deadline and process.poll() is None:
            executor.spin_once(timeout_sec=0.1)  # waits for discovery too
        assert len(probe.clocks) >= 5, 'no /clock from the sim_node process'
        assert probe.rewards and probe.rewards[-1].task == 'insertion' and probe.rewards[-1].seed == 9
        executor.shutdown()
        probe.destroy_node()
    finally:
        rclpy.shutdown(context=context)
        process.terminate()
        process.wait(timeout=20)
