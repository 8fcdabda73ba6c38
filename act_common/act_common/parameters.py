"""One parameter table per node: name, type, default, range or choices, when it applies,
description. The node declares from it, and the same table checks the YAML files in
act_bringup/config and writes the README's parameter list, so nothing is written twice
(ros2_controllers' generate_parameter_library habit, without code generation).

`declare_parameters` registers the validation callback before it declares, so a bad
starting value (from a parameters file or `-p`) fails at construction with the parameter
named, not later. Types follow rclpy: 'string', 'bool', 'int', 'double', 'string_array'.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Callable, Iterable, Mapping, Sequence

from act_common.errors import ConfigurationError

TYPES = ('string', 'bool', 'int', 'double', 'string_array')
# When a change takes effect: at the next configure (lifecycle nodes), only at start
# (read_only: changing it needs a restart), or at once (the node caches it).
APPLIES = ('configure', 'start', 'dynamic')


def _number(value: float) -> str:
    return str(value) if isinstance(value, int) else f'{value:g}'


@dataclass(frozen=True)
class ParameterSpec:
    name: str
    type: str
    # None: a string_array left unset (the node treats it as "all"/"none", see description).
    default: Any
    description: str
    applies: str = 'dynamic'
    range: tuple[float, float] | None = None  # inclusive, for int and double
    choices: tuple[str, ...] | None = None  # for string

    def __post_init__(self):
        if self.type not in TYPES or self.applies not in APPLIES:
            raise ValueError(f'parameter {self.name}: type must be one of {TYPES} and applies one of {APPLIES}, '
                             f'got {self.type!r}, {self.applies!r}')
        if self.default is not None and self.problem(self.default):
            raise ValueError(f'parameter {self.name}: default {self.default!r}: {self.problem(self.default)}')

    def problem(self, value: Any) -> str:
        """Why value is not acceptable for this parameter ('' when it is)."""
        if value is None:
            return '' if self.default is None else 'must be set'
        if self.type == 'string' and not isinstance(value, str):
            return f'must be a string, got {value!r}'
        if self.type == 'bool' and not isinstance(value, bool):
            return f'must be true or false, got {value!r}'
        if self.type == 'int' and (isinstance(value, bool) or not isinstance(value, int)):
            return f'must be an integer, got {value!r}'
        if self.type == 'double' and (isinstance(value, bool) or not isinstance(value, (int, float))
                                      or not math.isfinite(value)):
            return f'must be a finite number, got {value!r}'
        if self.type == 'string_array' and not (isinstance(value, (list, tuple))
                                                and all(isinstance(item, str) for item in value)):
            return f'must be a list of strings, got {value!r}'
        if self.range is not None and not self.range[0] <= value <= self.range[1]:
            return f'must be in [{_number(self.range[0])}, {_number(self.range[1])}], got {value!r}'
        if self.choices is not None and value not in self.choices:
            return f'must be one of {", ".join(self.choices)}, got {value!r}'
        return ''

    def summary(self) -> str:
        """One line for docs and --help: type, default, range/choices, when it applies."""
        limits = (f', range [{_number(self.range[0])}, {_number(self.range[1])}]' if self.range else '') + (
            f', one of {"|".join(self.choices)}' if self.choices else '')
        default = 'unset' if self.default is None else repr(self.default)
        applies = {'configure': 'read at configure', 'start': 'read at start', 'dynamic': 'changeable at run time'}
        return f'{self.type}, default {default}{limits}, {applies[self.applies]}'

    def descriptor(self):
        from rcl_interfaces.msg import FloatingPointRange, IntegerRange, ParameterDescriptor

        kwargs = {}
        if self.range is not None and self.type == 'int':
            kwargs['integer_range'] = [IntegerRange(from_value=int(self.range[0]), to_value=int(self.range[1]))]
        elif self.range is not None and self.type == 'double':
            kwargs['floating_point_range'] = [FloatingPointRange(from_value=float(self.range[0]),
                                                                 to_value=float(self.range[1]))]
        text = self.description + (f' One of: {", ".join(self.choices)}.' if self.choices else '')
        return ParameterDescriptor(description=text, read_only=self.applies == 'start', **kwargs)


class ParameterTable:
    """The parameters of one node, by name."""

    def __init__(self, node_name: str, specs: Sequence[ParameterSpec]):
        self.node_name = node_name
        self.specs = {spec.name: spec for spec in specs}
        if len(self.specs) != len(specs):
            raise ValueError(f'{node_name}: a parameter is listed twice')

    def defaults(self) -> dict[str, Any]:
        return {name: spec.default for name, spec in self.specs.items()}

    def problems(self, values: Mapping[str, Any], allowed_extra: Sequence[str] = ('use_sim_time',)) -> list[str]:
        """Every problem of a set of values (e.g. a YAML block): unknown names, types, ranges."""
        found = []
        for name, value in values.items():
            spec = self.specs.get(name)
            if spec is None:
                if name not in allowed_extra:
                    found.append(f'{self.node_name}: unknown parameter {name!r} (known: {sorted(self.specs)})')
                continue
            if isinstance(value, int) and not isinstance(value, bool) and spec.type == 'double':
                value = float(value)
            problem = spec.problem(value)
            if problem:
                found.append(f'{self.node_name}: parameter {name} {problem}')
        return found

    def checked(self, name: str, value: Any) -> Any:
        """value for parameter `name`, as the node would take it: text (from a command line)
        read as YAML unless the parameter is a string, an int widened to a double. Raises
        ConfigurationError naming the node, the parameter and the problem."""
        spec = self.specs.get(name)
        if spec is None:
            raise ConfigurationError(f'{self.node_name}: unknown parameter {name!r} (known: {sorted(self.specs)})')
        if isinstance(value, str) and spec.type != 'string':
            import yaml

            try:
                value = yaml.safe_load(value)
            except yaml.YAMLError as error:
                raise ConfigurationError(f'{self.node_name}: parameter {name}: {value!r} is not a YAML value '
                                         f'({error})') from None
        if spec.type == 'double' and isinstance(value, int) and not isinstance(value, bool):
            value = float(value)
        if spec.type == 'string_array' and isinstance(value, tuple):
            value = list(value)
        problem = spec.problem(value)
        if problem:
            raise ConfigurationError(f'{self.node_name}: parameter {name} {problem}')
        return value

    def add_cli_flag(self, parser, name: str, source: str, **kwargs) -> None:
        """`--name-with-dashes`, an alias of `--param NODE.NAME=VALUE` for one parameter: type,
        choices and help from the table. The value joins the --param overrides in command-line
        order (ParameterOverride), so both go through node_parameter_overrides; left out, the
        parameters file's value holds (source names that file)."""
        spec = self.specs[name]
        python_type = {'string': str, 'int': int, 'double': float}.get(spec.type)
        options = {'type': python_type, 'choices': spec.choices} if python_type else {}
        if spec.type == 'string_array':
            options = {'nargs': '+'}
        if spec.type == 'bool':
            options = {'nargs': 0}
        text = spec.description.replace('%', '%%')
        add_override_flag(parser, self.node_name, name, help=f'{text} (default: from {source})',
                          **{**options, **kwargs})

    def markdown(self) -> str:
        """The README's list of this node's parameters."""
        lines = [f'`{self.node_name}`:', '']
        lines += [f'- `{spec.name}` ({spec.summary()}): {spec.description}' for spec in self.specs.values()]
        return '\n'.join(lines)

    def declare(self, node, on_change: Callable[[dict[str, Any], dict[str, Any]], None] | None = None) -> dict[str, Any]:
        """Registers validation, then declares every parameter; returns the values.

        on_change(values, changed): called with all values and the changed ones, after the
        per-parameter checks; raises ValueError to refuse the change as a whole (the
        message becomes the reason). The starting values are checked one by one as they are
        declared, then once together by on_change (cross-parameter rules see them all).
        Raises ConfigurationError (a ValueError) naming the parameter(s) for a bad starting value."""
        from rcl_interfaces.msg import SetParametersResult
        from rclpy.exceptions import ParameterException
        from rclpy.parameter import Parameter

        current = self.defaults()
        declaring = True

        def validate(parameters: list) -> SetParametersResult:
            changed = {}
            for parameter in parameters:
                spec = self.specs.get(parameter.name)
                if spec is None:
                    continue  # use_sim_time and others rclpy owns
                value = parameter.value
                if spec.type == 'double' and isinstance(value, int) and not isinstance(value, bool):
                    value = float(value)
                problem = spec.problem(value)
                if problem:
                    return SetParametersResult(successful=False, reason=f'{self.node_name}: {parameter.name} {problem}')
                changed[parameter.name] = value
            if not changed:
                return SetParametersResult(successful=True)
            values = {**current, **changed}
            if on_change is not None and not declaring:
                try:
                    on_change(values, changed)
                except ValueError as error:
                    return SetParametersResult(successful=False, reason=str(error))
            current.update(changed)
            return SetParametersResult(successful=True)

        node.add_on_set_parameters_callback(validate)  # before declaring: starting values are checked too
        for spec in self.specs.values():
            try:
                if spec.default is None:
                    node.declare_parameter(spec.name, Parameter.Type.STRING_ARRAY, spec.descriptor())
                else:
                    node.declare_parameter(spec.name, spec.default, spec.descriptor())
            except ParameterException as error:  # a starting value the callback (or rclpy's type check) refused
                raise ConfigurationError(f'{self.node_name}: bad starting value of parameter {spec.name}: {error}') from error
        declaring = False
        if on_change is not None:
            try:
                on_change(dict(current), dict(current))
            except ValueError as error:
                raise ConfigurationError(f'{self.node_name}: bad starting values: {error}') from error
        return dict(current)


# Where `--param` and its aliases collect node parameter overrides on the argparse namespace.
PARAM_DEST = 'param'


@dataclass(frozen=True)
class ParameterOverride:
    """One explicit node parameter value from the command line (`--param NODE.NAME=VALUE`,
    or a flag that is an alias of it). value: the text as typed, or the flag's parsed value."""

    node: str
    name: str
    value: Any

    @classmethod
    def parse(cls, text: str) -> 'ParameterOverride':
        """'NODE.NAME=VALUE' -> an override; ConfigurationError when it does not read so."""
        target, sep, value = text.partition('=')
        node, dot, name = target.partition('.')
        if not sep or not dot or not node or not name:
            raise ConfigurationError(f'--param {text!r} must read NODE.NAME=VALUE, e.g. policy_node.device=cuda')
        return cls(node, name, value)


def add_override_flag(parser, node: str, name: str, **kwargs) -> None:
    """`--name-with-dashes` as an alias of `--param node.name=VALUE`: its value joins the
    --param overrides in command-line order. kwargs: argparse's (type, choices, help,
    nargs, metavar); nargs=0 makes a bool switch with its `--no-` opposite."""
    flag = '--' + name.replace('_', '-')
    if kwargs.get('nargs') == 0:
        parser.add_argument(flag, action=_override_action(node, name, True), dest=PARAM_DEST, **kwargs)
        parser.add_argument('--no-' + flag[2:], action=_override_action(node, name, False), dest=PARAM_DEST, nargs=0,
                            help=f'the opposite of {flag}')
    else:
        if kwargs.get('choices') is None:  # argparse would name the value after the shared dest
            kwargs.setdefault('metavar', name.upper())
        parser.add_argument(flag, action=_override_action(node, name, None), dest=PARAM_DEST, **kwargs)


def _override_action(node: str, name: str, flag_value: bool | None):
    """An argparse action appending a ParameterOverride of `node`.`name` to PARAM_DEST;
    flag_value: the value of a bool switch (no argument), None for a valued flag."""
    import argparse

    class OverrideAction(argparse.Action):
        def __call__(self, parser, namespace, values, option_string=None):
            value = flag_value if flag_value is not None else values
            overrides = list(getattr(namespace, self.dest, None) or [])
            overrides.append(ParameterOverride(node, name, value))
            setattr(namespace, self.dest, overrides)

    return OverrideAction


def parse_override_argument(text: str) -> ParameterOverride:
    """ParameterOverride.parse for argparse: a malformed override is a usage error (exit 2)
    with the reason, not argparse's bare 'invalid value'."""
    import argparse

    try:
        return ParameterOverride.parse(text)
    except ConfigurationError as error:
        raise argparse.ArgumentTypeError(str(error)) from None


def add_param_argument(parser, nodes: Sequence[str]) -> None:
    """The `--param NODE.NAME=VALUE` option (repeatable) for the nodes a command starts."""
    parser.add_argument('--param', action='append', dest=PARAM_DEST, metavar='NODE.NAME=VALUE', type=parse_override_argument,
                        help=f'node parameter on top of its parameters file, for node {" or ".join(nodes)} '
                        '(repeatable; VALUE read as YAML; the last one given wins; names and ranges: README, Node '
                        'parameters)')


def node_parameter_overrides(overrides: Iterable[ParameterOverride] | None,
                             tables: Mapping[str, ParameterTable]) -> dict[str, dict[str, Any]]:
    """{node: {parameter: value}} of the command line's overrides, in the order given (a
    later one wins), each checked against its node's table (tables: node name -> table
    of the nodes the command starts). Raises ConfigurationError for an unknown node or
    parameter or a bad value, naming it."""
    result: dict[str, dict[str, Any]] = {node: {} for node in tables}
    for override in overrides or ():
        table = tables.get(override.node)
        if table is None:
            raise ConfigurationError(f'--param {override.node}.{override.name}: this command starts no node '
                                     f'{override.node!r} (it starts {", ".join(tables)})')
        result[override.node][override.name] = table.checked(override.name, override.value)
    return result
