"""`act sim` runs the simulated ALOHA with scripted demonstrations from its YAML."""

import os
import subprocess

import pytest
import yaml

from act_tools.cli.main import build_parser
from act_tools.cli.node_parameters import overrides_for
from act_tools.paths import node_params_path


def test_sim_arguments():
    args = build_parser().parse_args(['sim', '--task', 'insertion', '--scripted-episodes', '3',
                                      '--real-time-factor', '0', '--cameras', 'top', 'angle'])
    # The sim_node flags are aliases of --param sim_node.NAME=VALUE, checked against its table.
    assert overrides_for(args, ('sim_node',)) == {'sim_node': {'task': 'insertion', 'real_time_factor': 0.0,
                                                               'cameras': ['top', 'angle']}}
    assert args.scripted_episodes == 3
    assert args.command_path == 'direct' and args.robot == 'aloha_sim'


def test_sim_yaml_is_installed_in_the_nav2_style():
    params = yaml.safe_load(node_params_path('sim').read_text())
    assert params['sim_node']['ros__parameters']['task'] == 'transfer_cube'
    assert params['direct_player']['ros__parameters']['use_sim_time'] is True
    assert params['scripted_leader']['ros__parameters']['use_sim_time'] is True


@pytest.mark.slow
@pytest.mark.timeout(180)
def test_act_sim_plays_a_scripted_episode():
    run = subprocess.run(['act', 'sim', '--task', 'transfer_cube', '--scripted-episodes', '1', '--seed', '21',
                          '--real-time-factor', '0'], capture_output=True, text=True, timeout=170, env=dict(os.environ))
    assert run.returncode == 0, run.stdout + run.stderr
    assert 'transfer_cube seed 21: success' in run.stdout
    # act sim reports success as act eval does (TaskSpec.success), with its interval.
    assert 'transfer_cube: success 1/1 = 100 % (95 % CI 21-100 %), lockstep, seeds 21' in run.stdout
    assert 'through the direct command path' in run.stdout and '1 still held at the end' in run.stdout
