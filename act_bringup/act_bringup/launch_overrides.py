"""Launch arguments that override a node's YAML parameter only when given (nav2_bringup's
pattern: the parameters file first, an argument on top only if the user set it).

A launch argument declared with a default and passed as `{'device': LaunchConfiguration('device')}`
after the parameters file always wins, so a `device: cuda` written in policy.yaml was
silently replaced by the argument's default. The launch files therefore declare these
arguments with an empty default (= not given) and build the node in an OpaqueFunction
with `parameters=[params_file, given_overrides(arguments, OVERRIDES)]`.

Pure Python (no launch import): the launch files call it at launch time, the tests call
it with the overrides table read from the launch file's source, so the effective
parameters are checked where launch_ros is not installable.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Mapping

import yaml

# An argument left at this value was not given.
NOT_GIVEN = ''

_TYPES = {'str': str, 'float': float, 'int': int, 'bool': bool}


def _convert(argument: str, text: str, type_name: str) -> Any:
    if type_name == 'bool':
        lowered = text.strip().lower()
        if lowered not in ('true', 'false'):
            raise ValueError(f'launch argument {argument}:={text!r} must be true or false')
        return lowered == 'true'
    try:
        return _TYPES[type_name](text)
    except (KeyError, ValueError):
        raise ValueError(f'launch argument {argument}:={text!r} is not a {type_name}') from None


def given_overrides(arguments: Mapping[str, str], overrides: Mapping[str, tuple[str, str]]) -> dict[str, Any]:
    """{parameter: typed value} for the override arguments that were given.

    arguments: the launch configurations (argument -> text); overrides: argument ->
    (node parameter, 'str' | 'float' | 'int' | 'bool'). Raises ValueError naming the
    argument when a given value does not convert."""
    given = {}
    for argument, (parameter, type_name) in overrides.items():
        text = arguments.get(argument, NOT_GIVEN)
        if text != NOT_GIVEN:
            given[parameter] = _convert(argument, text, type_name)
    return given


def yaml_parameters(params_file: str | Path, node_name: str) -> dict[str, Any]:
    """The `node_name: ros__parameters:` block of a nav2-style parameters file ({} if absent)."""
    with open(params_file, encoding='utf-8') as f:
        document = yaml.safe_load(f) or {}
    block = document.get(node_name) or document.get(f'/{node_name}') or {}
    return dict(block.get('ros__parameters') or {})


def effective_parameters(params_file: str | Path, node_name: str, arguments: Mapping[str, str],
                         overrides: Mapping[str, tuple[str, str]], fixed: Mapping[str, Any] = ()) -> dict[str, Any]:
    """What the node starts with: the file's block, then `fixed` (always set by the launch
    file), then the given override arguments, in the order launch_ros applies them."""
    parameters = yaml_parameters(params_file, node_name)
    parameters.update(dict(fixed))
    parameters.update(given_overrides(arguments, overrides))
    return parameters
