"""`act doctor`: what this environment has, and whether the suite can run on it."""

from __future__ import annotations

import importlib
import importlib.metadata
import os
import subprocess
import sys
from dataclasses import dataclass
from typing import Callable

# Rendering backends MuJoCo can use headless, in the order they are tried.
RENDER_BACKENDS = ('egl', 'osmesa')

_RENDER_PROBE = """
import mujoco
model = mujoco.MjModel.from_xml_string('<mujoco><worldbody><light pos="0 0 1"/><geom size=".1"/></worldbody></mujoco>')
renderer = mujoco.Renderer(model, 48, 64)
data = mujoco.MjData(model)
mujoco.mj_forward(model, data)
renderer.update_scene(data)
print(renderer.render().shape)
"""


@dataclass
class Check:
    name: str
    required: bool
    ok: bool
    detail: str


def _import_version(module: str, distribution: str | None = None) -> str:
    """Imports `module` (the real test that it works) and reports its installed version."""
    imported = importlib.import_module(module)
    try:
        return importlib.metadata.version(distribution or module)
    except importlib.metadata.PackageNotFoundError:
        return str(getattr(imported, '__version__', 'present'))


def check_rclpy() -> str:
    import rclpy
    from rclpy.utilities import get_rmw_implementation_identifier

    rclpy.init(args=[])
    try:
        return f'rmw {get_rmw_implementation_identifier()}, ROS_DOMAIN_ID={os.environ.get("ROS_DOMAIN_ID", "0")}'
    finally:
        rclpy.shutdown()


def check_act_msgs() -> str:
    from act_msgs.msg import ActionChunk, PolicyStatus  # noqa: F401
    from act_msgs.srv import ResetSim, StartEpisode, StopEpisode  # noqa: F401

    return 'ActionChunk, PolicyStatus, TaskReward, StartEpisode, StopEpisode, ResetSim'


def check_torch() -> str:
    import torch

    if torch.cuda.is_available():
        return f'{torch.__version__}, CUDA {torch.version.cuda} on {torch.cuda.get_device_name(0)}'
    return f'{torch.__version__}, CPU only ({torch.get_num_threads()} threads)'


def check_cpu() -> str:
    from act_common.cpu_features import cpu_features

    return cpu_features().describe()


def check_cpu_precisions() -> str:
    """What each CPU inference precision (policy node parameter `precision`) runs as here."""
    from act_common.cpu_features import cpu_features

    support = cpu_features().precision_support()
    return f'auto -> {support["auto"]}; ' + '; '.join(support[name] for name in ('fp32', 'bf16'))


def check_cuda() -> str:
    import torch

    if not torch.cuda.is_available():
        raise RuntimeError('no CUDA device (training and inference run on the CPU)')
    return f'{torch.cuda.device_count()} device(s), {torch.cuda.get_device_name(0)}'


def working_render_backend() -> str:
    """The first headless MuJoCo backend that renders; each is tried in its own process
    because MUJOCO_GL is read once, at import."""
    errors = []
    for backend in RENDER_BACKENDS:
        env = dict(os.environ, MUJOCO_GL=backend, PYOPENGL_PLATFORM=backend)
        probe = subprocess.run([sys.executable, '-c', _RENDER_PROBE], env=env, capture_output=True, text=True, timeout=60)
        if probe.returncode == 0:
            return backend
        errors.append(f'{backend}: {probe.stderr.strip().splitlines()[-1] if probe.stderr.strip() else probe.returncode}')
    raise RuntimeError('no headless backend renders (' + '; '.join(errors) + '); install libegl1 or libosmesa6')


def check_mujoco() -> str:
    import mujoco

    return f'{mujoco.__version__}, rendering with MUJOCO_GL={working_render_backend()}'


def check_gym_aloha() -> str:
    from gym_aloha.constants import ASSETS_DIR

    scenes = sorted(path.name for path in ASSETS_DIR.glob('bimanual_viperx_*.xml'))
    if not scenes:
        raise RuntimeError(f'no bimanual_viperx_*.xml scenes in {ASSETS_DIR}')
    return f'{_import_version("gym_aloha", "gym-aloha")}, {len(scenes)} scenes in {ASSETS_DIR}'


def check_bag_io() -> str:
    try:
        import rosbag2_py  # noqa: F401

        return 'rosbag2_py (ROS install)'
    except ImportError:
        return f'rosbags {_import_version("rosbags")} (rosbag2_py not installed)'


def check_optional(module: str, absent: str) -> Callable[[], str]:
    def check() -> str:
        try:
            return _import_version(module)
        except ImportError:
            raise RuntimeError(absent) from None

    return check


CHECKS: tuple[tuple[str, bool, Callable[[], str]], ...] = (
    ('rclpy', True, check_rclpy),
    ('act_msgs', True, check_act_msgs),
    ('torch', True, check_torch),
    ('cpu', True, check_cpu),
    ('cpu precision', True, check_cpu_precisions),
    ('cuda', False, check_cuda),
    ('mujoco', True, check_mujoco),
    ('gym_aloha', True, check_gym_aloha),
    ('bag I/O', True, check_bag_io),
    ('mcap', True, lambda: _import_version('mcap')),
    ('h5py', True, lambda: _import_version('h5py')),
    ('safetensors', True, lambda: _import_version('safetensors')),
    ('launch_ros', False, check_optional('launch_ros', 'not installed: use `act sim|record|policy` instead of ros2 launch')),
    ('interbotix_xs_msgs', False, check_optional('interbotix_xs_msgs', 'not installed: hardware backends unavailable, sim works')),
    ('cv_bridge', False, check_optional('cv_bridge', 'not installed: not needed, images convert with numpy')),
)


def run_checks() -> list[Check]:
    results = []
    for name, required, check in CHECKS:
        try:
            results.append(Check(name, required, True, check()))
        except Exception as error:  # a check reports whatever broke, it never aborts the others
            results.append(Check(name, required, False, f'{type(error).__name__}: {error}' if not isinstance(error, RuntimeError) else str(error)))
    return results


def handle(args) -> int:
    results = run_checks()
    width = max(len(result.name) for result in results)
    for result in results:
        mark = 'ok  ' if result.ok else ('FAIL' if result.required else 'n/a ')
        print(f'{mark} {result.name:<{width}}  {result.detail}')
    missing = [result.name for result in results if result.required and not result.ok]
    if missing:
        print(f'\nact doctor: required components missing: {", ".join(missing)}. '
              'Run `make setup` (scripts/setup.sh) to install them.', file=sys.stderr)
        return 1
    print('\nact doctor: everything the suite requires is present.')
    return 0


def register(subparsers) -> None:
    parser = subparsers.add_parser('doctor', help='check the environment (ROS 2, torch, MuJoCo rendering, optional ROS packages)')
    parser.set_defaults(handler=handle)
