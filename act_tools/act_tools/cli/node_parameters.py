"""The nodes' parameter tables as the `act` subcommands see them, and their overrides.

One syntax for a node parameter on every subcommand that starts nodes:
`--param NODE.NAME=VALUE` (act_common.parameters.ParameterOverride). A few frequent ones
also have a flag of their own (`act policy --device`, `act sim --task`, `act eval
--policy-param NAME=VALUE`); each is an alias that adds the same override, so flags and
--param mix and the last one given wins.

Precedence, whichever way a node is started (here, `ros2 launch`, `ros2 run`): the node's
parameters file (YAML, act_bringup/config/<node>.yaml or --params-file), then the explicit
overrides on top (launch arguments that were given, --param, alias flags).
"""

from __future__ import annotations

import importlib
from typing import Any, Sequence

# Node name -> (module, attribute) of its ParameterTable; imported on use (some modules load
# MuJoCo or rclpy).
NODE_TABLES = {
    'policy_node': ('act_policy_node.parameters', 'PARAMETERS'),
    'sim_node': ('act_sim.sim_node', 'PARAMETERS'),
    'teleop': ('act_teleop.teleop_node', 'PARAMETERS'),
    'recorder': ('act_teleop.recorder_node', 'PARAMETERS'),
}


def node_table(node: str):
    """The ParameterTable of node `node` (a NODE_TABLES key)."""
    module, attribute = NODE_TABLES[node]
    return getattr(importlib.import_module(module), attribute)


def overrides_for(args, nodes: Sequence[str]) -> dict[str, dict[str, Any]]:
    """{node: {parameter: value}} from the command line's --param and alias flags, checked
    against the tables of `nodes` (the nodes this command starts). Raises
    act_common.errors.ConfigurationError (exit 2) naming a bad override."""
    from act_common.parameters import PARAM_DEST, node_parameter_overrides

    return node_parameter_overrides(getattr(args, PARAM_DEST, None), {node: node_table(node) for node in nodes})
