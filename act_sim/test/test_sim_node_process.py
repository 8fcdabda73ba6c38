"""sim_node as `ros2 run act_sim sim_node` starts it: its own process, over DDS."""

import os
import subprocess

import pytest
from ament_index_python.packages import get_package_prefix
from rclpy.executors import SingleThreadedExecutor

from child_processes import context_beside, spin_until
from sim_ros_harness import ROBOT_CONFIG, ProbeNode

# sim_node in a process of its own, over DDS.
pytestmark = pytest.mark.slow


@pytest.mark.timeout(90)
def test_console_script_runs_in_its_own_process():
    # What `ros2 run act_sim sim_node` starts.
    sim_node = os.path.join(get_package_prefix('act_sim'), 'lib', 'act_sim', 'sim_node')
    process = subprocess.Popen([sim_node, '--ros-args', '-p', f'robot_config:={ROBOT_CONFIG}',
                                '-p', 'real_time_factor:=2.0', '-p', 'task:=insertion', '-p', 'seed:=9'])
    with context_beside(process, timeout_s=20) as context:
        probe = ProbeNode(context=context)
        executor = SingleThreadedExecutor(context=context)
        executor.add_node(probe)
        assert spin_until(executor, lambda: len(probe.clocks) >= 5, 60, process), 'no /clock from the sim_node process'
        # Each subscription is matched on its own by discovery: /clock can arrive before the
        # reward subscription has matched (CI, stop 17), so wait for a reward too.
        assert spin_until(executor, lambda: bool(probe.rewards), 30, process), 'no /sim/task_reward from the sim_node process'
        assert probe.rewards[-1].task == 'insertion' and probe.rewards[-1].seed == 9
        executor.shutdown()
        probe.destroy_node()
