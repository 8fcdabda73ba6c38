"""The launch files: correct for a ROS 2 install, checked here with or without launch_ros.

launch/launch_ros are not on PyPI, so this workspace usually runs without them. In every
environment the files are read as Python source: every node they start must name an
executable that the installed packages really provide, every argument must be declared
with a description, and every LaunchConfiguration must refer to a declared argument.
Where launch_ros is importable (a ROS install) the files are also imported, must return a
LaunchDescription, and sim.launch.py is run and must publish /clock.
"""

from __future__ import annotations

import ast
import importlib.util
import itertools
import multiprocessing
import os
import signal
import time
from pathlib import Path

import pytest
from ament_index_python.packages import get_package_prefix, get_package_share_directory

from act_bringup import launch_paths

LAUNCH_DIR = Path(get_package_share_directory('act_bringup')) / 'launch'
LAUNCH_FILES = sorted(LAUNCH_DIR.glob('*.launch.py'))
# Drivers from other projects, started only where installed (teleop.launch.py checks).
EXTERNAL_PACKAGES = {'usb_cam', 'interbotix_xsarm_control'}
HAVE_LAUNCH = importlib.util.find_spec('launch') is not None and importlib.util.find_spec('launch_ros') is not None


def _keyword(call: ast.Call, name: str):
    for keyword in call.keywords:
        if keyword.arg == name and isinstance(keyword.value, ast.Constant):
            return keyword.value.value
    return None


def _calls(tree: ast.AST, names: set[str]):
    for node in ast.walk(tree):
        if isinstance(node, ast.Call):
            func = node.func
            name = func.id if isinstance(func, ast.Name) else func.attr if isinstance(func, ast.Attribute) else None
            if name in names:
                yield node


def test_the_four_launch_files_are_installed():
    assert {path.name for path in LAUNCH_FILES} >= {'sim.launch.py', 'teleop.launch.py', 'record.launch.py', 'policy.launch.py'}


@pytest.mark.parametrize('path', LAUNCH_FILES, ids=lambda p: p.name)
def test_nodes_name_installed_executables(path):
    tree = ast.parse(path.read_text(), filename=str(path))
    nodes = list(_calls(tree, {'Node', 'LifecycleNode'}))
    assert nodes, f'{path.name} starts no node'
    for call in nodes:
        package, executable = _keyword(call, 'package'), _keyword(call, 'executable')
        assert package and executable, f'{path.name}:{call.lineno}: a node without a literal package/executable'
        if package in EXTERNAL_PACKAGES:
            continue
        binary = Path(get_package_prefix(package)) / 'lib' / package / executable
        assert binary.is_file() and os.access(binary, os.X_OK), f'{path.name}:{call.lineno}: {binary} is not installed'


@pytest.mark.parametrize('path', LAUNCH_FILES, ids=lambda p: p.name)
def test_arguments_are_declared_with_descriptions_and_used_ones_exist(path):
    tree = ast.parse(path.read_text(), filename=str(path))
    declared = {}
    for call in _calls(tree, {'DeclareLaunchArgument'}):
        name = call.args[0].value if call.args and isinstance(call.args[0], ast.Constant) else None
        if name is None:  # declared in a comprehension with an f-string name
            continue
        declared[name] = call
        assert _keyword(call, 'description'), f'{path.name}: argument {name!r} has no description'
    used = {call.args[0].value for call in _calls(tree, {'LaunchConfiguration'})
            if call.args and isinstance(call.args[0], ast.Constant)}
    undeclared = used - set(declared)
    assert not undeclared, f'{path.name}: LaunchConfiguration of undeclared arguments {sorted(undeclared)}'


def _installed_paths(tree: ast.AST) -> set[Path]:
    """Every file a launch file names through act_bringup.launch_paths (bringup_file,
    robot_config_file) or os.path.join from an installed package's share folder, resolved
    as the launch file would: constants, names bound to such paths, and loop variables over
    a module-level tuple of tuples (teleop.launch.py's ARMS). Joins that start elsewhere (a
    driver's share found at run time) are left out."""
    literals = {}
    for node in tree.body:
        if isinstance(node, ast.Assign) and len(node.targets) == 1 and isinstance(node.targets[0], ast.Name):
            try:
                literals[node.targets[0].id] = ast.literal_eval(node.value)
            except ValueError:
                pass
    values: dict[str, list] = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.For) and isinstance(node.iter, ast.Name) and node.iter.id in literals:
            targets = node.target.elts if isinstance(node.target, ast.Tuple) else [node.target]
            for row in literals[node.iter.id]:
                row = row if isinstance(node.target, ast.Tuple) else (row,)
                for target, value in zip(targets, row):
                    if isinstance(target, ast.Name):
                        values.setdefault(target.id, []).append(value)

    def resolve(expr) -> list:
        if isinstance(expr, ast.Constant) and isinstance(expr.value, str):
            return [expr.value]
        if isinstance(expr, ast.Name):
            return values.get(expr.id, [])
        if isinstance(expr, ast.Call) and getattr(expr.func, 'id', None) == 'get_package_share_directory':
            return [get_package_share_directory(expr.args[0].value)]
        if isinstance(expr, ast.Call) and getattr(expr.func, 'id', None) in ('bringup_file', 'robot_config_file'):
            helper = getattr(launch_paths, expr.func.id)
            parts = [resolve(arg) for arg in expr.args]
            return [helper(*combination) for combination in itertools.product(*parts)] if all(parts) else []
        if isinstance(expr, ast.Call) and getattr(expr.func, 'attr', None) == 'join':
            parts = [resolve(arg) for arg in expr.args]
            paths = ['']
            for options in parts:
                paths = [os.path.join(path, option) for path in paths for option in options]
            return paths if all(parts) else []
        return []

    for node in ast.walk(tree):  # names bound to shares and joins (share, config, robots)
        if isinstance(node, ast.Assign) and len(node.targets) == 1 and isinstance(node.targets[0], ast.Name):
            resolved = resolve(node.value)
            if resolved:
                values[node.targets[0].id] = resolved
    found = set()
    for call in _calls(tree, {'join', 'bringup_file', 'robot_config_file'}):
        for path in resolve(call):
            if Path(path).suffix in ('.yaml', '.xml', '.py'):
                found.add(Path(path))
    return found


@pytest.mark.parametrize('path', LAUNCH_FILES, ids=lambda p: p.name)
def test_files_named_by_the_launch_files_are_installed(path):
    files = _installed_paths(ast.parse(path.read_text(), filename=str(path)))
    # Each launch file names its nodes' parameter files and a default robot config at least.
    assert any(f.parent.name == 'robots' for f in files), f'{path.name}: no robot config found in {files}'
    assert any(f.parent.name == 'config' and f.suffix == '.yaml' for f in files), f'{path.name}: no parameter file'
    missing = sorted(str(f) for f in files if not f.is_file())
    assert not missing, f'{path.name} names files that are not installed: {missing}'


@pytest.mark.skipif(not HAVE_LAUNCH, reason='launch/launch_ros are not installed (not on PyPI); the source checks above ran')
@pytest.mark.parametrize('path', LAUNCH_FILES, ids=lambda p: p.name)
def test_launch_files_return_a_launch_description(path):
    from launch import LaunchDescription

    spec = importlib.util.spec_from_file_location(path.stem.replace('.', '_'), path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    assert isinstance(module.generate_launch_description(), LaunchDescription)


def _run_sim_launch(stop_after_s: float) -> None:
    from launch import LaunchDescription, LaunchService
    from launch.actions import IncludeLaunchDescription, TimerAction, Shutdown
    from launch.launch_description_sources import PythonLaunchDescriptionSource

    os.setsid()  # its own process group: the test can end the nodes it starts, whatever happens
    service = LaunchService()
    service.include_launch_description(LaunchDescription([
        IncludeLaunchDescription(PythonLaunchDescriptionSource(str(LAUNCH_DIR / 'sim.launch.py'))),
        TimerAction(period=stop_after_s, actions=[Shutdown()]),
    ]))
    service.run()


@pytest.mark.skipif(not HAVE_LAUNCH, reason='launch/launch_ros are not installed (not on PyPI); the source checks above ran')
def test_sim_launch_publishes_clock():
    import rclpy
    from rclpy.context import Context
    from rclpy.executors import SingleThreadedExecutor
    from rosgraph_msgs.msg import Clock

    from act_common.qos import CLOCK_QOS

    launcher = multiprocessing.get_context('spawn').Process(target=_run_sim_launch, args=(40.0,))
    launcher.start()
    context = Context()
    rclpy.init(context=context)
    stamps = []
    try:
        node = rclpy.create_node('launch_clock_probe', context=context)
        node.create_subscription(Clock, '/clock', lambda msg: stamps.append(msg.clock.sec + 1e-9 * msg.clock.nanosec), CLOCK_QOS)
        executor = SingleThreadedExecutor(context=context)
        executor.add_node(node)
        deadline = time.monotonic() + 35
        while len(stamps) < 20 and time.monotonic() < deadline:
            executor.spin_once(timeout_sec=0.1)
        executor.shutdown()
    finally:
        rclpy.shutdown(context=context)
        # SIGINT is ros2 launch's Ctrl-C: launch shuts its nodes down before it exits.
        os.kill(launcher.pid, signal.SIGINT)
        launcher.join(timeout=20)
        try:
            os.killpg(launcher.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    assert len(stamps) >= 20, f'sim.launch.py published {len(stamps)} /clock messages'
    assert stamps == sorted(stamps) and stamps[-1] > stamps[0]
