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
from typing import Any, Callable, Mapping, Sequence

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

    def add_cli_flag(self, parser, name: str, source: str, **kwargs) -> None:
        """`--name-with-dashes` for a parameter: type, choices and help from the table; left
        unset (None) the parameters file's value holds (source names that file)."""
        spec = self.specs[name]
        python_type = {'string': str, 'int': int, 'double': float}.get(spec.type)
        options = {'type': python_type, 'choices': spec.choices} if python_type else {}
        if spec.type == 'string_array':
            options = {'nargs': '+'}
        if spec.type == 'bool':
            import argparse

            options = {'action': argparse.BooleanOptionalAction, 'default': None}
        text = spec.description.replace('%', '%%')
        parser.add_argument('--' + name.replace('_', '-'), help=f'{text} (default: from {source})', **{**options, **kwargs})

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
        Raises ValueError naming the parameter(s) for a bad starting value."""
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
                raise ValueError(f'{self.node_name}: bad starting value of parameter {spec.name}: {error}') from error
        declaring = False
        if on_change is not None:
            try:
                on_change(dict(current), dict(current))
            except ValueError as error:
                raise ValueError(f'{self.node_name}: bad starting values: {error}') from error
        return dict(current)
