"""One override syntax for node parameters (`--param NODE.NAME=VALUE`, its alias flags) and
one exit-code convention (act_common.errors) across the `act` subcommands."""

import pytest

from act_tools.cli.main import build_parser, main
from act_tools.cli.node_parameters import overrides_for
from act_common.errors import EXIT_BAD_CONFIG, ConfigurationError


def _overrides(argv, nodes):
    return overrides_for(build_parser().parse_args(argv), nodes)


def test_alias_flags_and_param_give_the_same_overrides_and_the_last_one_wins():
    by_alias = _overrides(['eval', '--checkpoint', 'x', '--policy-param', 'ensemble_weighting=chunked',
                           '--sim-param', 'shadow_map_size=1024'], ('policy_node', 'sim_node'))
    by_param = _overrides(['eval', '--checkpoint', 'x', '--param', 'policy_node.ensemble_weighting=chunked',
                           '--param', 'sim_node.shadow_map_size=1024'], ('policy_node', 'sim_node'))
    assert by_alias == by_param == {'policy_node': {'ensemble_weighting': 'chunked'},
                                    'sim_node': {'shadow_map_size': 1024}}
    policy = _overrides(['policy', '--checkpoint', 'x', '--device', 'cuda', '--param', 'policy_node.device=cpu',
                         '--ensemble-m', '1', '--camera-remap', 'top=front'], ('policy_node',))['policy_node']
    # Typed as the table says: ensemble_m is a double even when written as 1.
    assert policy == {'device': 'cpu', 'ensemble_m': 1.0, 'camera_remap': ['top=front']}
    assert isinstance(policy['ensemble_m'], float)
    sim = _overrides(['sim', '--task', 'insertion', '--param', 'sim_node.real_time_factor=0', '--cameras', 'top'],
                     ('sim_node',))['sim_node']
    assert sim == {'task': 'insertion', 'real_time_factor': 0.0, 'cameras': ['top']}


@pytest.mark.parametrize('argv, message', [
    (['--param', 'policy_node.no_such=1'], "unknown parameter 'no_such'"),
    (['--param', 'sim_node.seed=1'], "this command starts no node 'sim_node'"),
    (['--param', 'policy_node.ensemble_weighting=sideways'], 'must be one of oldest_first, newest_first, chunked'),
    (['--param', 'policy_node.torch_threads=1000'], 'must be in [0, 256]'),
])
def test_a_bad_override_is_a_configuration_error_naming_it(argv, message):
    with pytest.raises(ConfigurationError, match=message.replace('[', r'\[').replace(']', r'\]')):
        _overrides(['policy', '--checkpoint', 'x', *argv], ('policy_node',))


def test_a_malformed_override_is_a_usage_error(capsys):
    with pytest.raises(SystemExit) as exit_info:
        build_parser().parse_args(['policy', '--checkpoint', 'x', '--param', 'device=cuda'])
    assert exit_info.value.code == EXIT_BAD_CONFIG
    assert 'must read NODE.NAME=VALUE' in capsys.readouterr().err


def test_a_bad_config_exits_2_with_one_line_from_main(tmp_path, capsys):
    # act eval: an unknown policy parameter, reported before anything starts.
    assert main(['eval', '--checkpoint', str(tmp_path), '--param', 'policy_node.precison=bf16']) == EXIT_BAD_CONFIG
    err = capsys.readouterr().err
    assert err.startswith('act eval: policy_node: unknown parameter') and 'Traceback' not in err
    # act eval: a config value EvalConfig refuses.
    assert main(['eval', '--checkpoint', str(tmp_path), '--episodes', '0']) == EXIT_BAD_CONFIG
    assert 'episodes must be >= 1' in capsys.readouterr().err
    # act record --sim without --episodes.
    assert main(['record', '--sim', '--output', str(tmp_path / 'bags')]) == EXIT_BAD_CONFIG
    assert 'act record: --sim needs --episodes N' in capsys.readouterr().err
