"""The policy node as users start it: `ros2 run act_policy_node policy_node` managed through
the lifecycle services, and `act policy`."""

import os
import signal
import subprocess
import sys
import time

import pytest
import rclpy
from act_msgs.msg import PolicyStatus
from ament_index_python.packages import get_package_prefix
from lifecycle_msgs.msg import State, Transition
from lifecycle_msgs.srv import ChangeState, GetState
from rclpy.context import Context
from rclpy.executors import SingleThreadedExecutor

from act_common.qos import STATUS_QOS
from act_common.robot_config import load_robot_config
from act_common.interfaces import POLICY_STATUS_TOPIC as STATUS_TOPIC
from policy_checkpoints import train_checkpoint
from policy_harness import ROBOT_CONFIG

# The policy node and `act policy` in processes of their own.
pytestmark = pytest.mark.slow


@pytest.fixture(scope='module')
def checkpoint(tmp_path_factory):
    return train_checkpoint(tmp_path_factory.mktemp('cli_checkpoint'), load_robot_config(ROBOT_CONFIG), steps=1)


class Listener:
    """A private context with a status subscriber and a lifecycle client."""

    def __init__(self):
        self.context = Context()
        rclpy.init(context=self.context)
        self.node = rclpy.create_node('policy_process_test', context=self.context)
        self.statuses: list[PolicyStatus] = []
        self.node.create_subscription(PolicyStatus, STATUS_TOPIC, self.statuses.append, STATUS_QOS)
        self.change_state = self.node.create_client(ChangeState, '/policy_node/change_state')
        self.get_state = self.node.create_client(GetState, '/policy_node/get_state')
        self.executor = SingleThreadedExecutor(context=self.context)
        self.executor.add_node(self.node)

    def spin_until(self, condition, timeout_s: float) -> bool:
        deadline = time.monotonic() + timeout_s
        while not condition() and time.monotonic() < deadline:
            self.executor.spin_once(timeout_sec=0.1)
        return condition()

    def call(self, client, request, timeout_s: float):
        """The response, or None when none came within timeout_s."""
        future = client.call_async(request)
        return future.result() if self.spin_until(future.done, timeout_s) else None

    def transition(self, transition_id: int, goal_state: int, timeout_s: float = 120.0) -> bool:
        """Requests a transition; true once the node is in goal_state.

        A request sent just after discovery can go unanswered on a loaded machine (the
        server's side of the match not complete yet): then the node's state decides
        whether the transition happened, and the request is sent again if not."""
        deadline = time.monotonic() + timeout_s
        assert self.spin_until(self.change_state.service_is_ready, timeout_s), 'no /policy_node/change_state'
        while time.monotonic() < deadline:
            response = self.call(self.change_state, ChangeState.Request(transition=Transition(id=transition_id)), 20.0)
            if response is not None:
                return response.success
            state = self.call(self.get_state, GetState.Request(), 5.0)
            if state is not None and state.current_state.id == goal_state:
                return True
        return False

    def close(self):
        self.executor.shutdown()
        self.node.destroy_node()
        rclpy.shutdown(context=self.context)


@pytest.mark.timeout(400)
def test_console_script_is_managed_through_lifecycle_services(checkpoint, tmp_path):
    executable = os.path.join(get_package_prefix('act_policy_node'), 'lib', 'act_policy_node', 'policy_node')
    log_path = tmp_path / 'policy_node.log'
    log = open(log_path, 'w')
    process = subprocess.Popen([executable, '--ros-args', '-p', f'robot_config:={ROBOT_CONFIG}',
                                '-p', f'checkpoint:={checkpoint}'], stdout=log, stderr=subprocess.STDOUT,
                               env={**os.environ, 'PYTHONUNBUFFERED': '1'})
    listener = Listener()
    try:
        assert listener.transition(Transition.TRANSITION_CONFIGURE, State.PRIMARY_STATE_INACTIVE)
        assert listener.transition(Transition.TRANSITION_ACTIVATE, State.PRIMARY_STATE_ACTIVE)
        # No robot is running: active, but holding for want of joint states.
        assert listener.spin_until(lambda: any('joint states unusable' in s.detail for s in listener.statuses), 20), \
            [s.detail for s in listener.statuses]
        holding = [s for s in listener.statuses if 'joint states unusable' in s.detail][-1]
        assert holding.state == PolicyStatus.STATE_HOLDING and holding.model_id.startswith('last-')
        assert holding.ticks > 0 and holding.held_ticks == holding.ticks
        assert listener.transition(Transition.TRANSITION_DEACTIVATE, State.PRIMARY_STATE_INACTIVE)
        assert listener.spin_until(lambda: listener.statuses[-1].state == PolicyStatus.STATE_INACTIVE, 10)
    except AssertionError as error:
        raise AssertionError(f'{error}\npolicy_node log:\n{log_path.read_text()[-3000:]}') from error
    finally:
        listener.close()
        process.send_signal(signal.SIGINT)
        process.wait(timeout=30)
        log.close()
    assert process.returncode == 0, log_path.read_text()[-3000:]


@pytest.mark.timeout(120)
def test_act_policy_refuses_a_checkpoint_for_another_robot(checkpoint):
    run = subprocess.run([sys.executable, '-m', 'act_tools.cli.main', 'policy', '--checkpoint', str(checkpoint),
                          '--robot', 'single_arm'], capture_output=True, text=True, timeout=110)
    assert run.returncode == 1
    assert 'does not fit robot' in run.stderr and 'single_arm' in run.stderr and 'joints differ' in run.stderr
