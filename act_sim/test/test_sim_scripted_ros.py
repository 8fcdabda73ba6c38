"""Scripted demonstrations played through the ROS command path succeed, step for step
as in the plain simulator."""

import numpy as np
import pytest
from rclpy.node import Node
from sensor_msgs.msg import JointState
from std_msgs.msg import Float64MultiArray

from act_common.node_set import NodeSet, NodeSpec
from act_common.joint_vectors import leader_vector
from act_common.qos import COMMAND_QOS, SENSOR_QOS
from act_common.robot_config import load_robot_config
from act_sim.episode_runner import EpisodeMonitorNode, ScriptedEpisodeRunner
from act_sim.scripted import generate_demo, replay_demo
from act_sim.scripted_leader import DirectPlayerNode, ScriptedLeaderNode
from act_sim.sim_node import SimNode
from sim_ros_harness import ROBOT_CONFIG


class LeaderMirrorNode(Node):
    """A stand-in for the teleop node: each leader joint state becomes a follower command
    (follower = sign * leader + offset, gripper normalized with the leader calibration)."""

    def __init__(self, **node_kwargs):
        super().__init__('leader_mirror', **node_kwargs)
        self.robot = load_robot_config(ROBOT_CONFIG)
        for arm in self.robot.arms:
            publisher = self.create_publisher(Float64MultiArray, arm.follower.command.topic, COMMAND_QOS)
            self.create_subscription(JointState, arm.leader.joint_states_topic,
                                     lambda msg, arm=arm, publisher=publisher: self._mirror(arm, publisher, msg), SENSOR_QOS)

    @staticmethod
    def _mirror(arm, publisher, msg):
        leader = leader_vector(arm, msg.name, msg.position)
        follower = np.array(arm.leader.signs) * leader[:-1] + np.array(arm.leader.offsets)
        publisher.publish(Float64MultiArray(data=list(follower) + [float(leader[-1])]))


def _play(player_class, demos, extra=(), real_time_factor=0.0):
    specs = [NodeSpec(SimNode, overrides={'robot_config': ROBOT_CONFIG, 'real_time_factor': real_time_factor,
                                          'cameras': ['top']}),
             NodeSpec(player_class, overrides={'robot_config': ROBOT_CONFIG, 'use_sim_time': True}),
             NodeSpec(EpisodeMonitorNode), *extra]
    with NodeSet(specs, threads=1) as nodes:
        nodes.spin_in_background()
        monitor = nodes.node(EpisodeMonitorNode)
        player = nodes.node(player_class)
        runner = ScriptedEpisodeRunner(monitor, player, player.robot)
        outcomes = []
        for demo in demos:
            result = runner.play(demo)
            rewards = {msg.step: msg.reward for msg in monitor.received(demo.seed)}
            outcomes.append((result, rewards, player.rows_published))
        return outcomes


@pytest.mark.slow  # whole scripted episodes through sim_node and a player
@pytest.mark.timeout(240)
@pytest.mark.parametrize('task', ['transfer_cube', 'insertion'])
def test_scripted_demos_succeed_through_the_direct_command_path(task):
    demos = [generate_demo(task, seed) for seed in (11, 12)]
    assert all(demo.usable for demo in demos)
    for demo, (result, rewards, rows) in zip(demos, _play(DirectPlayerNode, demos)):
        assert result.success and result.usable, result.summary()
        assert result.steps == 400 and rows == 400
        # Lockstep: the episode over ROS is the plain replay, step for step.
        plain = replay_demo(demo).rewards
        steps = [step for step in rewards if 1 <= step <= 400]
        assert len(steps) > 300
        assert all(rewards[step] == plain[step - 1] for step in steps)


@pytest.mark.slow  # whole scripted episodes through sim_node and a player
@pytest.mark.timeout(240)
def test_scripted_demo_succeeds_through_the_leader_arms():
    demo = generate_demo('transfer_cube', 13)
    [(result, _, rows)] = _play(ScriptedLeaderNode, [demo], extra=[NodeSpec(LeaderMirrorNode)])
    assert result.success, result.summary()
    assert rows == 400


@pytest.mark.slow  # whole scripted episodes through sim_node and a player
@pytest.mark.timeout(120)
def test_scripted_demo_succeeds_paced_to_the_wall_clock():
    # Not lockstep: a row that misses its tick acts one step late; the demos tolerate it.
    demo = generate_demo('insertion', 14)
    [(result, _, _)] = _play(DirectPlayerNode, [demo], real_time_factor=2.0)
    assert result.success, result.summary()
