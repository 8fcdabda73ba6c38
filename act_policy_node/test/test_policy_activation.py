"""Chunks belong to an activation: an inference in flight across a lifecycle transition
never reaches the robot.

The policy is a stand-in with a settable inference time (act_training is not needed to
show a race in the node's glue): it returns the measured state as its chunk, so every
command is safe, and it records which observation each call used. The synthetic robot
publishes the top camera and the joint states at 50 Hz on the wall clock, which is the
node's clock here.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from rclpy.lifecycle import TransitionCallbackReturn

import act_policy_node.policy_node as policy_node_module
from act_common.node_set import NodeSet, NodeSpec
from act_common.robot_config import load_robot_config
from act_policy_node.policy_node import PolicyNode
from policy_harness import ROBOT_CONFIG, SyntheticRobot

# The policy node through activations, with inferences seconds long.
pytestmark = pytest.mark.slow

ROBOT = load_robot_config(ROBOT_CONFIG)
CHUNK_SIZE = 50


@dataclass
class SlowPolicy:
    """What policy_node reads of act_training's ActPolicy, with an inference time to set."""

    delay_s: float = 0.0
    camera_names: tuple = ('top',)
    vector_names: tuple = tuple(ROBOT.vector_names)
    state_dim: int = ROBOT.vector_size
    action_dim: int = ROBOT.vector_size
    chunk_size: int = CHUNK_SIZE
    control_period_s: float = ROBOT.control_period_s
    image_size: tuple = (480, 640)
    model_id: str = 'slow-stand-in'
    precision: str = 'fp32'
    started: threading.Event = field(default_factory=threading.Event)
    calls: int = 0

    def predict_chunk(self, images, qpos):
        self.calls += 1
        self.started.set()
        time.sleep(self.delay_s)
        return np.tile(np.asarray(qpos, dtype=np.float64), (self.chunk_size, 1))  # (S, D)


class TopCameraRobot(SyntheticRobot):
    def __init__(self, **node_kwargs):
        super().__init__(['top'], **node_kwargs)


class DecisionLog:
    """Wraps the node's ControlLoop.decide (after each configure) and keeps what each
    commanded tick was built from: (tick_ns, observation stamps of its chunks)."""

    def __init__(self, node: PolicyNode):
        self.node = node
        self.lock = threading.Lock()
        self.commanded: list[tuple[int, tuple[int, ...]]] = []
        # (tick_ns, observation stamps of the chunks that shaped a command for the first time)
        self.first_used: list[tuple[int, tuple[int, ...]]] = []

    def attach(self) -> None:
        loop = self.node._loop
        decide = loop.decide

        def spy(tick_ns, *args, **kwargs):
            decision = decide(tick_ns, *args, **kwargs)
            if decision.command is not None and not decision.held:
                with self.lock:
                    self.commanded.append((tick_ns, tuple(c.observation_stamp_ns for c in decision.contributing)))
                    self.first_used.append((tick_ns, tuple(c.observation_stamp_ns for c in decision.first_used)))
            return decision

        loop.decide = spy

    def after(self, t_ns: int) -> list[tuple[int, tuple[int, ...]]]:
        with self.lock:
            return [entry for entry in self.commanded if entry[0] >= t_ns]


@pytest.fixture
def slow_policy(monkeypatch):
    policy = SlowPolicy()
    monkeypatch.setattr(policy_node_module, 'load_policy', lambda checkpoint, device, precision: policy)
    return policy


def start_nodes() -> NodeSet:
    overrides = {'robot_config': ROBOT_CONFIG, 'checkpoint': '/stand-in/checkpoint', 'precision': 'fp32'}
    nodes = NodeSet([NodeSpec(PolicyNode, overrides=overrides), NodeSpec(TopCameraRobot)], threads=1)
    nodes.spin_in_background()
    return nodes


def wait_for(condition, timeout_s: float = 20.0) -> bool:
    deadline = time.monotonic() + timeout_s
    while not condition():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.005)
    return True


def now_ns(node: PolicyNode) -> int:
    return node.get_clock().now().nanoseconds


def configure_and_activate(node: PolicyNode, log: DecisionLog) -> int:
    assert node.trigger_configure() == TransitionCallbackReturn.SUCCESS, node.status_detail
    log.attach()
    return activate(node)


def activate(node: PolicyNode) -> int:
    """Activates; returns a time at or before the activation's start (node clock)."""
    before = now_ns(node)
    assert node.trigger_activate() == TransitionCallbackReturn.SUCCESS, node.status_detail
    return before


def old_chunks_commanded(log: DecisionLog, activation_start_ns: int) -> list:
    """Commanded ticks of the activation begun at activation_start_ns that used a chunk
    from an observation stamped before it (first uses: a chunk enters a command there first)."""
    with log.lock:
        return [(tick, stamps) for tick, stamps in log.first_used
                if tick >= activation_start_ns and any(stamp < activation_start_ns for stamp in stamps)]


def start_a_slow_inference(node, log, slow_policy, delay_s: float) -> None:
    """Configures and activates the node, waits for its first commands, then makes the next
    inference take delay_s and returns once it is in flight."""
    configure_and_activate(node, log)
    assert wait_for(lambda: len(log.commanded) >= 5), node.status_detail
    slow_policy.delay_s = delay_s
    slow_policy.started.clear()
    assert slow_policy.started.wait(5), 'no inference started'


def test_a_chunk_in_flight_across_deactivate_activate_is_dropped_never_commanded(slow_policy):
    # The reproduction: inference 0.6 s, deactivate while it runs, re-activate
    # 0.1 s later, before it returns (what `act eval` does between episodes).
    with start_nodes() as nodes:
        node = nodes.node(PolicyNode)
        log = DecisionLog(node)
        start_a_slow_inference(node, log, slow_policy, 0.6)
        time.sleep(0.05)  # it is in flight now
        assert node.trigger_deactivate() == TransitionCallbackReturn.SUCCESS
        time.sleep(0.1)
        slow_policy.delay_s = 0.0
        second_start = activate(node)
        # The in-flight chunk returns about 0.45 s later; fresh chunks follow. Wait for
        # commands well after its return (a loaded machine serves ticks late, not never).
        assert wait_for(lambda: len(log.after(second_start + 700_000_000)) >= 3, 30), node.status_detail
        stale = old_chunks_commanded(log, second_start)
        report = node.stats.report()
    assert not stale, f'commands of the new activation used the old observation\'s chunk: {stale[:3]}'
    assert report.get('stale_chunks_dropped') == 1, report


def test_a_chunk_in_flight_across_cleanup_configure_activate_is_dropped(slow_policy):
    with start_nodes() as nodes:
        node = nodes.node(PolicyNode)
        log = DecisionLog(node)
        start_a_slow_inference(node, log, slow_policy, 0.6)
        # cleanup stops the worker: it waits for the inference in flight, whose chunk
        # must not reach the buffer of the next configuration.
        assert node.trigger_deactivate() == TransitionCallbackReturn.SUCCESS
        assert node.trigger_cleanup() == TransitionCallbackReturn.SUCCESS
        slow_policy.delay_s = 0.0
        second_start = configure_and_activate(node, log)
        assert wait_for(lambda: len(log.after(second_start)) >= 5, 30), node.status_detail
        assert not old_chunks_commanded(log, second_start)


def test_shutdown_during_inference_commands_nothing_more(slow_policy):
    with start_nodes() as nodes:
        node, robot = nodes.node(PolicyNode), nodes.node(TopCameraRobot)
        log = DecisionLog(node)
        start_a_slow_inference(node, log, slow_policy, 0.5)
        assert node.trigger_shutdown() is not None
        shut_down = time.monotonic()
        time.sleep(0.8)  # past the return of the inference
        late = [t for t, _ in robot.commands['left'] if t > shut_down + 0.05]
        assert node.policy is None
    assert not late, f'{len(late)} commands after shutdown'


# --- property: random lifecycle sequences and inference delays ---

STEPS = st.lists(st.tuples(st.sampled_from(['reactivate', 'reconfigure', 'run']),
                           st.floats(0.0, 0.25),   # inference time from now on, s
                           st.floats(0.0, 0.2)),   # time spent in the step / inactive, s
                 min_size=2, max_size=5)


@settings(max_examples=8, deadline=None, database=None,  # no .hypothesis/ folder in the checkout
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(steps=STEPS)
def test_every_command_comes_from_the_current_activations_chunks(slow_policy, steps):
    with start_nodes() as nodes:
        node = nodes.node(PolicyNode)
        log = DecisionLog(node)
        starts = [configure_and_activate(node, log)]
        for action, delay_s, pause_s in steps:
            slow_policy.delay_s = delay_s
            time.sleep(pause_s)
            if action == 'reactivate':
                assert node.trigger_deactivate() == TransitionCallbackReturn.SUCCESS
                time.sleep(pause_s / 2)
                starts.append(activate(node))
            elif action == 'reconfigure':
                assert node.trigger_deactivate() == TransitionCallbackReturn.SUCCESS
                assert node.trigger_cleanup() == TransitionCallbackReturn.SUCCESS
                starts.append(configure_and_activate(node, log))
        slow_policy.delay_s = 0.0
        time.sleep(0.3)
    # Each commanded tick belongs to the latest activation begun before it; every chunk it
    # used must come from an observation stamped after that activation began.
    for tick_ns, stamps in log.commanded:
        begun = max(start for start in starts if start <= tick_ns)
        assert stamps and all(stamp >= begun for stamp in stamps), (tick_ns, stamps, begun)
