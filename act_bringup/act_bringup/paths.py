"""Where the installed configs live, found through the ament index like a ROS install does."""

from __future__ import annotations

from pathlib import Path

from act_common.errors import ConfigNotFoundError


def bringup_share() -> Path:
    from ament_index_python.packages import get_package_share_directory

    return Path(get_package_share_directory('act_bringup'))


def _named_config(kind: str, folder: Path, name_or_path: str) -> Path:
    """An installed YAML by name (its stem in folder) or an explicit .yaml/.yml path."""
    candidate = Path(name_or_path)
    if candidate.suffix in ('.yaml', '.yml'):
        if not candidate.is_file():
            raise ConfigNotFoundError(f'{kind} {candidate} does not exist')
        return candidate
    path = folder / f'{name_or_path}.yaml'
    if not path.is_file():
        known = sorted(p.stem for p in folder.glob('*.yaml'))
        raise ConfigNotFoundError(f'unknown {kind} {name_or_path!r}; installed: {known}')
    return path


def robot_config_path(name_or_path: str) -> Path:
    """A robot config by name (aloha, aloha_sim, single_arm) or by explicit file path."""
    return _named_config('robot config', bringup_share() / 'config' / 'robots', name_or_path)


def node_params_path(name: str) -> Path:
    """A node parameter file in the nav2 style (one `node_name: ros__parameters:` block each)."""
    return bringup_share() / 'config' / f'{name}.yaml'


def large_data_dds_profile() -> Path:
    """The Fast DDS profile for full-size camera streams between processes (see the file)."""
    return bringup_share() / 'config' / 'fastdds_large_data.xml'


def use_large_data_dds_profile() -> str:
    """Points Fast DDS at the large-data profile for participants this process creates
    from now on, unless the user chose a profile; returns the profile in force."""
    import os

    return os.environ.setdefault('FASTDDS_DEFAULT_PROFILES_FILE', str(large_data_dds_profile()))


def training_config_path(name_or_path: str) -> Path:
    """A training config by name (paper, cpu_demo) or by explicit file path."""
    return _named_config('training config', bringup_share() / 'config' / 'training', name_or_path)
