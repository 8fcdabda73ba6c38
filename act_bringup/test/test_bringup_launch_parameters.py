"""Launch arguments override the parameters file only when given (nav2_bringup's pattern).

Found: policy.launch.py passed `device`/`precision` from arguments with defaults after
policy.yaml, so a `device: cuda` in the YAML was silently ignored (sim.launch.py the same
with `task`). Here the effective parameters of each launch file's nodes are computed from
the file's parsed source (its OVERRIDES table and argument defaults) and the YAML it
names, with act_bringup.launch_overrides, the code the launch files run. Where
launch/launch_ros are importable the launch files' own functions are called as well.
"""

from __future__ import annotations

import ast
import importlib.util
from pathlib import Path

import pytest
import yaml
from ament_index_python.packages import get_package_share_directory

from act_bringup.launch_overrides import NOT_GIVEN, effective_parameters, given_overrides

SHARE = Path(get_package_share_directory('act_bringup'))
LAUNCH_DIR, CONFIG = SHARE / 'launch', SHARE / 'config'
HAVE_LAUNCH = importlib.util.find_spec('launch') is not None and importlib.util.find_spec('launch_ros') is not None

# launch file -> node name -> (parameters file, the OVERRIDES entry for it, or None when flat)
NODES = {
    'policy.launch.py': {'policy_node': ('policy.yaml', None)},
    'sim.launch.py': {'sim_node': ('sim.yaml', 'sim_node'), 'scripted_leader': ('sim.yaml', 'scripted_leader')},
    'record.launch.py': {'recorder': ('recorder.yaml', None)},
}


def parsed(launch_file: str) -> tuple[dict, dict[str, str]]:
    """(OVERRIDES literal, {argument: default}) read from the launch file's source."""
    tree = ast.parse((LAUNCH_DIR / launch_file).read_text())
    overrides = None
    for node in tree.body:
        if isinstance(node, ast.Assign) and any(isinstance(t, ast.Name) and t.id == 'OVERRIDES' for t in node.targets):
            overrides = ast.literal_eval(node.value)
    defaults = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and getattr(node.func, 'id', None) == 'DeclareLaunchArgument':
            name = node.args[0].value if node.args and isinstance(node.args[0], ast.Constant) else None
            for keyword in node.keywords:
                if name and keyword.arg == 'default_value' and isinstance(keyword.value, ast.Constant):
                    defaults[name] = keyword.value.value
    assert overrides is not None, f'{launch_file} has no OVERRIDES table'
    return overrides, defaults


def overrides_of(launch_file: str, node_name: str) -> dict:
    overrides, _ = parsed(launch_file)
    key = NODES[launch_file][node_name][1]
    return overrides[key] if key else overrides


def unset_arguments(launch_file: str) -> dict[str, str]:
    """The launch configurations of a launch with no argument given: the declared defaults."""
    return dict(parsed(launch_file)[1])


def with_yaml(tmp_path: Path, source: str, node_name: str, **values) -> Path:
    document = yaml.safe_load((CONFIG / source).read_text())
    document[node_name]['ros__parameters'].update(values)
    path = tmp_path / source
    path.write_text(yaml.safe_dump(document))
    return path


@pytest.mark.parametrize('launch_file', sorted(NODES))
def test_override_arguments_default_to_not_given_and_are_not_set_elsewhere(launch_file):
    overrides, defaults = parsed(launch_file)
    tables = overrides.values() if launch_file == 'sim.launch.py' else [overrides]
    arguments = {argument for table in tables for argument in table}
    parameters = {parameter for table in tables for parameter, _ in table.values()}
    for argument in arguments:
        assert defaults.get(argument) == NOT_GIVEN, f'{launch_file}: {argument} defaults to {defaults.get(argument)!r}'
    # No literal parameter dict in the file sets an overridable parameter unconditionally.
    tree = ast.parse((LAUNCH_DIR / launch_file).read_text())
    for node in ast.walk(tree):
        if isinstance(node, ast.Dict) and all(isinstance(k, ast.Constant) for k in node.keys):
            keys = {k.value for k in node.keys}
            if keys & arguments and all(isinstance(v, ast.Tuple) for v in node.values):
                continue  # the OVERRIDES table itself
            assert not keys & parameters, f'{launch_file}:{node.lineno} sets {sorted(keys & parameters)} always'


def test_policy_yaml_device_holds_without_the_argument(tmp_path):
    overrides = overrides_of('policy.launch.py', 'policy_node')
    unset = unset_arguments('policy.launch.py')
    installed = effective_parameters(CONFIG / 'policy.yaml', 'policy_node', unset, overrides)
    assert installed['device'] == 'cpu' and installed['precision'] == 'auto'
    cuda_yaml = with_yaml(tmp_path, 'policy.yaml', 'policy_node', device='cuda', precision='bf16')
    effective = effective_parameters(cuda_yaml, 'policy_node', unset, overrides)
    assert effective['device'] == 'cuda' and effective['precision'] == 'bf16'
    given = effective_parameters(cuda_yaml, 'policy_node', {**unset, 'device': 'cuda:1', 'precision': 'fp32'}, overrides)
    assert given['device'] == 'cuda:1' and given['precision'] == 'fp32'
    assert given['ensemble_weighting'] == 'oldest_first'  # the rest of the file untouched


def test_sim_yaml_task_holds_without_the_argument(tmp_path):
    unset = unset_arguments('sim.launch.py')
    sim_overrides = overrides_of('sim.launch.py', 'sim_node')
    insertion_yaml = with_yaml(tmp_path, 'sim.yaml', 'sim_node', task='insertion', real_time_factor=0.0)
    effective = effective_parameters(insertion_yaml, 'sim_node', unset, sim_overrides)
    assert effective['task'] == 'insertion' and effective['real_time_factor'] == 0.0
    given = effective_parameters(insertion_yaml, 'sim_node', {**unset, 'task': 'transfer_cube', 'real_time_factor': '2'},
                                 sim_overrides)
    assert given['task'] == 'transfer_cube' and given['real_time_factor'] == 2.0
    leader = effective_parameters(CONFIG / 'sim.yaml', 'scripted_leader', {**unset, 'episodes': '5'},
                                  overrides_of('sim.launch.py', 'scripted_leader'))
    assert leader == {'use_sim_time': True, 'episodes': 5}
    # policy.launch.py includes sim.launch.py, passing its own task argument through:
    # unset there too, so sim.yaml's task holds under `ros2 launch ... policy.launch.py`.
    assert unset_arguments('policy.launch.py')['task'] == NOT_GIVEN


def test_recorder_yaml_output_dir_holds_without_the_argument(tmp_path):
    overrides, unset = overrides_of('record.launch.py', 'recorder'), unset_arguments('record.launch.py')
    moved = with_yaml(tmp_path, 'recorder.yaml', 'recorder', output_dir='/data/episodes', storage_id='sqlite3')
    effective = effective_parameters(moved, 'recorder', unset, overrides)
    assert effective['output_dir'] == '/data/episodes' and effective['storage_id'] == 'sqlite3'
    assert effective_parameters(moved, 'recorder', {**unset, 'output_dir': 'here'}, overrides)['output_dir'] == 'here'


def test_a_given_value_of_the_wrong_type_names_the_argument():
    with pytest.raises(ValueError, match=r"real_time_factor:='fast' is not a float"):
        given_overrides({'real_time_factor': 'fast'}, {'real_time_factor': ('real_time_factor', 'float')})


@pytest.mark.skipif(not HAVE_LAUNCH, reason='launch/launch_ros are not installed (not on PyPI); the parsed checks above ran')
@pytest.mark.parametrize('launch_file,function,node_class', [('policy.launch.py', '_policy', 'LifecycleNode'),
                                                             ('record.launch.py', '_recorder', 'Node'),
                                                             ('sim.launch.py', '_sim_nodes', 'Node')])
def test_launch_functions_pass_only_given_overrides(launch_file, function, node_class, monkeypatch):
    from launch import LaunchContext

    spec = importlib.util.spec_from_file_location(launch_file.replace('.', '_'), LAUNCH_DIR / launch_file)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    real = getattr(module, node_class)
    made = []

    def recording(**kwargs):
        made.append(kwargs)
        return real(**kwargs)

    monkeypatch.setattr(module, node_class, recording)
    context = LaunchContext()
    context.launch_configurations.update(unset_arguments(launch_file))
    getattr(module, function)(context)
    assert made and all(kwargs['parameters'][-1] == {} for kwargs in made)
