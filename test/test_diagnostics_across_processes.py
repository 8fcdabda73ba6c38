"""/diagnostics from each node, received in another process: the status names and levels
of a healthy run, and of a run whose camera stops.

Phase 1: sim_node alone (its joint states are stamped with sim time, which would mix with
the wall-clock robot of phase 2). Phase 2: the policy node (`act policy`, a small real
checkpoint), teleop (not started, so it commands nothing) and the recorder (not
recording), fed by this process: a top camera and both arms' follower and leader joint
states at 50 Hz, stamped with the wall clock. Then the camera stops.

Thresholds that would flag a loaded 2-core CI machine as unhealthy (deadline misses,
message age) are set generously through the nodes' parameters: the levels checked are the
ones the healthy and the stale run must have.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest
import rclpy
import yaml
from ament_index_python.packages import get_package_prefix
from diagnostic_msgs.msg import DiagnosticArray, DiagnosticStatus
from rclpy.context import Context
from rclpy.executors import SingleThreadedExecutor
from sensor_msgs.msg import Image, JointState

from act_common.config_paths import robot_config_path
from act_common.image_encoding import rgb_to_image_fields
from act_common.qos import SENSOR_QOS
from act_common.robot_config import load_robot_config

# The policy node tests' checkpoint trainer (a real act_training run of a few steps).
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / 'act_policy_node' / 'test'))
from policy_checkpoints import train_checkpoint  # noqa: E402

# The policy node, sim_node, teleop and recorder in processes of their own.
pytestmark = pytest.mark.slow

ROBOT_PATH = str(robot_config_path('aloha_sim'))
ROBOT = load_robot_config(ROBOT_PATH)
CAMERA = ROBOT.camera('top')
# diagnostic_msgs/DiagnosticStatus levels as integers (the message holds them as bytes).
OK, WARN, STALE = (ord(level) for level in (DiagnosticStatus.OK, DiagnosticStatus.WARN, DiagnosticStatus.STALE))
JOINTS = ['waist', 'shoulder', 'elbow', 'forearm_roll', 'wrist_angle', 'wrist_rotate', 'left_finger', 'right_finger']
HOME = [0.0, -0.96, 1.16, 0.0, -0.3, 0.0, 0.04, -0.04]


def executable(package: str, name: str) -> str:
    return os.path.join(get_package_prefix(package), 'lib', package, name)


class Monitor:
    """Subscribes /diagnostics and publishes the synthetic robot, in a private context."""

    def __init__(self):
        self.context = Context()
        rclpy.init(context=self.context)
        self.node = rclpy.create_node('diagnostics_monitor', context=self.context)
        self.lock = threading.Lock()
        self.latest: dict[str, DiagnosticStatus] = {}
        self.node.create_subscription(DiagnosticArray, '/diagnostics', self._on_array, 50)
        self.camera_enabled = True
        self.robot_enabled = False
        gradient = np.linspace(0, 255, CAMERA.width, dtype=np.uint8)
        self.image = rgb_to_image_fields(np.ascontiguousarray(
            np.broadcast_to(gradient[None, :, None], (CAMERA.height, CAMERA.width, 3))))
        self.camera_pub = self.node.create_publisher(Image, CAMERA.topic, SENSOR_QOS)
        topics = [arm.follower.joint_states_topic for arm in ROBOT.arms] + [arm.leader.joint_states_topic
                                                                             for arm in ROBOT.arms]
        self.joint_pubs = [self.node.create_publisher(JointState, topic, SENSOR_QOS) for topic in topics]
        self.node.create_timer(ROBOT.control_period_s, self._publish)
        self.executor = SingleThreadedExecutor(context=self.context)
        self.executor.add_node(self.node)
        self.thread = threading.Thread(target=self.executor.spin, daemon=True)
        self.thread.start()

    def _on_array(self, array: DiagnosticArray) -> None:
        with self.lock:
            for status in array.status:
                self.latest[status.name] = status

    def _publish(self) -> None:
        if not self.robot_enabled:
            return
        stamp = self.node.get_clock().now().to_msg()
        if self.camera_enabled:
            image = Image(**self.image)
            image.header.stamp = stamp
            self.camera_pub.publish(image)
        for publisher in self.joint_pubs:
            state = JointState(name=JOINTS, position=HOME)
            state.header.stamp = stamp
            publisher.publish(state)

    def levels(self) -> dict[str, int]:
        with self.lock:
            return {name: ord(status.level) if isinstance(status.level, bytes) else status.level
                    for name, status in self.latest.items()}

    def wait_for(self, expected: dict[str, int], timeout_s: float) -> bool:
        """True once the newest status of every expected name has its expected level."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            levels = self.levels()
            if all(levels.get(name) == level for name, level in expected.items()):
                return True
            time.sleep(0.2)
        return False

    def describe(self) -> str:
        with self.lock:
            return '\n'.join(f'  {name}: {status.level!r} {status.message}' for name, status in sorted(self.latest.items()))

    def close(self) -> None:
        self.executor.shutdown()
        self.node.destroy_node()
        rclpy.shutdown(context=self.context)


def start(command: list[str], log_path: Path, env: dict) -> tuple[subprocess.Popen, object]:
    log = open(log_path, 'w')
    return subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, env=env), log


def stop(processes) -> None:
    for process, _ in processes:
        if process.poll() is None:
            process.send_signal(signal.SIGINT)
    for process, log in processes:
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        log.close()


@pytest.fixture
def env():
    return {**os.environ, 'PYTHONUNBUFFERED': '1', 'ROS_AUTOMATIC_DISCOVERY_RANGE': 'LOCALHOST'}


@pytest.mark.timeout(500)
def test_each_node_publishes_diagnostics_healthy_then_stale_camera(tmp_path, env):
    checkpoint = train_checkpoint(tmp_path / 'checkpoint', ROBOT, steps=1)
    monitor = Monitor()
    processes = []
    logs = lambda: '\n'.join(f'--- {p.name}\n{p.read_text()[-1500:]}' for p in sorted(tmp_path.glob('*.log')))  # noqa: E731
    try:
        # Phase 1: the simulator (no camera subscribed here, so nothing is rendered).
        sim = start([executable('act_sim', 'sim_node'), '--ros-args', '-p', f'robot_config:={ROBOT_PATH}',
                     '-p', 'diagnostics_overrun_warn:=0.9'], tmp_path / 'sim_node.log', env)
        processes.append(sim)
        assert monitor.wait_for({'sim_node: stepping': OK}, 120), monitor.describe() + logs()
        stop([sim])
        processes.remove(sim)

        # Phase 2: policy node, teleop and recorder, fed by this process.
        params = tmp_path / 'policy.yaml'
        params.write_text(yaml.safe_dump({'policy_node': {'ros__parameters': {
            'observation_timeout_s': 0.5, 'diagnostics_age_warn_s': 0.3, 'diagnostics_missed_warn': 0.9,
            'diagnostics_missed_error': 0.95, 'diagnostics_latency_warn_s': 5.0, 'diagnostics_latency_error_s': 10.0}}}))
        monitor.robot_enabled = True
        processes.append(start([sys.executable, '-m', 'act_tools.cli.main', 'policy', '--checkpoint', str(checkpoint),
                                '--robot', ROBOT_PATH, '--params-file', str(params), '--no-use-sim-time'],
                               tmp_path / 'policy.log', env))
        processes.append(start([executable('act_teleop', 'teleop_node'), '--ros-args', '-p', f'robot_config:={ROBOT_PATH}',
                                '-p', 'autostart:=false', '-p', 'leader_timeout_s:=1.0',
                                '-p', 'diagnostics_leader_age_warn_s:=0.5'], tmp_path / 'teleop.log', env))
        processes.append(start([executable('act_teleop', 'recorder_node'), '--ros-args',
                                '-p', f'robot_config:={ROBOT_PATH}', '-p', f'output_dir:={tmp_path / "episodes"}'],
                               tmp_path / 'recorder.log', env))
        camera = f'policy_node: observation {CAMERA.topic}'
        healthy = {
            'policy_node: state': OK, 'policy_node: inference': OK, 'policy_node: control': OK,
            'policy_node: stale chunks': OK, camera: OK,
            'policy_node: observation /follower_left/joint_states': OK,
            'policy_node: observation /follower_right/joint_states': OK,
            'teleop: state': OK, 'teleop: leader left': OK, 'teleop: leader right': OK,
            'recorder: queue': OK, 'recorder: writing': OK, 'recorder: drops': OK,
        }
        assert monitor.wait_for(healthy, 240), 'healthy run:\n' + monitor.describe() + logs()

        # The camera stops: its status goes STALE, the control status warns that it holds.
        monitor.camera_enabled = False
        stale = {camera: STALE, 'policy_node: control': WARN,
                 'policy_node: observation /follower_left/joint_states': OK, 'teleop: leader left': OK}
        assert monitor.wait_for(stale, 30), 'stale camera:\n' + monitor.describe() + logs()
        with monitor.lock:
            assert 'stale observation' in monitor.latest['policy_node: control'].message
            assert 'old' in monitor.latest[camera].message
    finally:
        stop(processes)
        monitor.close()
