"""Names and QoS of the suite's own topics and services, one definition for the node that
serves each and for every client (CLIs, tests, benches). The robot's topics (joint states,
commands, cameras, /clock, the commanded action) come from the robot config instead
(act_common.robot_config); the QoS profiles themselves are in act_common.qos.

Nodes create their services and status topics under private names (`~/start`), so a node
started under another name or namespace keeps them beside it; the absolute names below
are those under the default node names, which is what clients call.
"""

from __future__ import annotations

from act_common.qos import COMMAND_QOS, REWARD_QOS, STATUS_QOS


def _under(node: str, private_name: str) -> str:
    """The absolute name of a private name ('~/x') under node `node` in the root namespace."""
    return f'/{node}/{private_name.removeprefix("~/")}'


# sim_node (act_sim.sim_node): the sim's episode interface.
SIM_NODE = 'sim_node'
SIM_RESET_SERVICE = '/sim/reset'  # act_msgs/srv/ResetSim
TASK_REWARD_TOPIC = '/sim/task_reward'  # act_msgs/msg/TaskReward, published with TASK_REWARD_QOS
TASK_REWARD_QOS = REWARD_QOS

# policy_node (act_policy_node.policy_node).
POLICY_NODE = 'policy_node'
POLICY_CHUNK_TOPIC = '/act/policy/action_chunk'  # act_msgs/msg/ActionChunk
POLICY_TRAJECTORY_TOPIC = '/act/policy/chunk_trajectory'  # trajectory_msgs/msg/JointTrajectory
POLICY_CHUNK_QOS = COMMAND_QOS
POLICY_STATUS_TOPIC = '/act/policy/status'  # act_msgs/msg/PolicyStatus
STATUS_TOPIC_QOS = STATUS_QOS

# teleop (act_teleop.teleop_node): std_srvs/srv/Trigger services and a PolicyStatus topic.
TELEOP_NODE = 'teleop'
TELEOP_STATUS = '~/status'
TELEOP_START = '~/start'
TELEOP_STOP = '~/stop'
TELEOP_STATUS_TOPIC = _under(TELEOP_NODE, TELEOP_STATUS)
TELEOP_START_SERVICE = _under(TELEOP_NODE, TELEOP_START)
TELEOP_STOP_SERVICE = _under(TELEOP_NODE, TELEOP_STOP)

# recorder (act_teleop.recorder_node): act_msgs/srv/StartEpisode and StopEpisode.
RECORDER_NODE = 'recorder'
RECORDER_START = '~/start_episode'
RECORDER_STOP = '~/stop_episode'
RECORDER_START_SERVICE = _under(RECORDER_NODE, RECORDER_START)
RECORDER_STOP_SERVICE = _under(RECORDER_NODE, RECORDER_STOP)

# Every node's diagnostic_msgs/DiagnosticArray (act_common.diagnostics).
DIAGNOSTICS_TOPIC = '/diagnostics'
