"""One parameter table per node feeds the YAML checks, the CLI flags and the README."""

from pathlib import Path

import pytest
import yaml
from ament_index_python.packages import get_package_share_directory

from act_tools.parameter_docs import CONFIG_FILES, render, replace_section, tables

CONFIG = Path(get_package_share_directory('act_bringup')) / 'config'
README = Path(__file__).resolve().parents[2] / 'README.md'


@pytest.mark.parametrize('table', tables(), ids=lambda t: t.node_name)
def test_the_yaml_block_of_each_node_passes_its_table(table):
    document = yaml.safe_load((CONFIG / CONFIG_FILES[table.node_name]).read_text())
    block = document[table.node_name]['ros__parameters']
    assert table.problems(block) == []
    # The YAML documents the defaults: a value set there equals the table's default (an
    # unset default, such as 'all cameras', may be narrowed by the file).
    for name, value in block.items():
        default = table.specs[name].default
        if default is not None:
            assert value == default, f'{CONFIG_FILES[table.node_name]}: {name}: {value!r} but the table says {default!r}'


def test_a_yaml_typo_is_caught_by_the_table():
    policy = next(t for t in tables() if t.node_name == 'policy_node')
    problems = policy.problems({'precison': 'bf16', 'ensemble_weighting': 'newest'})
    assert any("unknown parameter 'precison'" in p for p in problems)
    assert any('ensemble_weighting must be one of oldest_first, newest_first, chunked' in p for p in problems)


def test_the_readme_lists_the_tables():
    text = README.read_text()
    assert replace_section(text) == text, ('the README parameter list differs from the tables: run '
                                           '`python -m act_tools.parameter_docs README.md`')
    assert '`diagnostics_leader_age_warn_s`' in render()


def test_act_policy_flags_come_from_the_table():
    import argparse

    from act_tools.cli import policy as cli
    from act_common.parameters import node_parameter_overrides
    from act_policy_node.parameters import PARAMETERS

    parser = argparse.ArgumentParser()
    cli.register(parser.add_subparsers())
    args = parser.parse_args(['policy', '--checkpoint', 'x', '--precision', 'bf16', '--ensemble-m', '0.2'])
    overrides = node_parameter_overrides(args.param, {'policy_node': PARAMETERS})['policy_node']
    assert overrides == {'precision': 'bf16', 'ensemble_m': 0.2}  # device not given: policy.yaml's holds
    with pytest.raises(SystemExit):
        parser.parse_args(['policy', '--checkpoint', 'x', '--precision', 'fp16'])
    assert set(cli.CLI_PARAMETERS) <= set(PARAMETERS.specs)
