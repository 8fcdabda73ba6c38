"""Parameter tables: values checked by type, range and choices, validation in place before
declaring (bad starting values refused at construction), YAML blocks checked."""

import pytest
import rclpy
from rclpy.context import Context
from rclpy.node import Node
from rclpy.parameter import Parameter

from act_common.parameters import ParameterSpec, ParameterTable

TABLE = ParameterTable('demo', [
    ParameterSpec('mode', 'string', 'a', 'Mode.', choices=('a', 'b')),
    ParameterSpec('rate_hz', 'double', 50.0, 'Rate.', range=(1.0, 1000.0)),
    ParameterSpec('count', 'int', 3, 'Count.', 'start', range=(0, 10)),
    ParameterSpec('names', 'string_array', None, 'Names; unset = all.', 'start'),
])


def test_values_are_checked_by_type_range_and_choices():
    spec = TABLE.specs['rate_hz']
    assert spec.problem(50) == '' and 'in [1, 1000]' in spec.problem(0.5) and 'finite' in spec.problem(float('nan'))
    assert 'one of a, b' in TABLE.specs['mode'].problem('c')
    assert 'integer' in TABLE.specs['count'].problem(True)
    with pytest.raises(ValueError, match='default 20'):
        ParameterSpec('x', 'int', 20, 'X.', range=(0, 10))


def test_a_yaml_block_is_checked_against_the_table():
    assert TABLE.problems({'mode': 'b', 'rate_hz': 10, 'use_sim_time': True}) == []
    problems = TABLE.problems({'mode': 'z', 'rat_hz': 10.0})
    assert "demo: parameter mode must be one of a, b, got 'z'" in problems
    assert any("unknown parameter 'rat_hz'" in p for p in problems)


def test_the_readme_list_names_type_default_range_and_when_it_applies():
    text = TABLE.markdown()
    assert '`rate_hz` (double, default 50.0, range [1, 1000], changeable at run time): Rate.' in text
    assert '`names` (string_array, default unset, read at start)' in text


@pytest.fixture
def context():
    context = Context()
    rclpy.init(context=context)
    yield context
    rclpy.shutdown(context=context)


def test_bad_starting_values_fail_at_construction_and_changes_are_validated(context):
    with pytest.raises(ValueError, match=r"bad starting value of parameter mode.*one of a, b, got 'c'"):
        node = Node('demo', context=context, cli_args=['--ros-args', '-p', 'mode:=c'])
        TABLE.declare(node)
    node = Node('demo_ok', context=context, cli_args=['--ros-args', '-p', 'rate_hz:=20.0'])
    seen = []

    def on_change(values, changed):
        if changed.get('mode') == 'b' and values['rate_hz'] > 100:
            raise ValueError('mode b needs rate_hz <= 100')
        seen.append(changed)

    values = TABLE.declare(node, on_change)
    assert values == {'mode': 'a', 'rate_hz': 20.0, 'count': 3, 'names': None}
    assert not node.set_parameters([Parameter('rate_hz', value=5000.0)])[0].successful
    assert node.set_parameters([Parameter('rate_hz', value=500.0)])[0].successful
    refused = node.set_parameters([Parameter('mode', value='b')])[0]
    assert not refused.successful and 'rate_hz <= 100' in refused.reason
    assert node.describe_parameter('count').read_only and not node.describe_parameter('rate_hz').read_only
    assert {'rate_hz': 500.0} in seen
    node.destroy_node()


def test_cross_parameter_rules_see_all_starting_values(context):
    def on_change(values, changed):
        if values['mode'] == 'b' and values['rate_hz'] > 100:
            raise ValueError('mode b needs rate_hz <= 100')

    # rate_hz is declared after mode: the rule must see both starting values, not a default.
    ok = Node('demo_cross_ok', context=context, cli_args=['--ros-args', '-p', 'mode:=b', '-p', 'rate_hz:=50.0'])
    assert TABLE.declare(ok, on_change)['mode'] == 'b'
    bad = Node('demo_cross_bad', context=context, cli_args=['--ros-args', '-p', 'mode:=b', '-p', 'rate_hz:=500.0'])
    with pytest.raises(ValueError, match='bad starting values: mode b needs rate_hz <= 100'):
        TABLE.declare(bad, on_change)
