"""Where installed configs live, found through the ament index as a ROS install finds them.

The robot configs are installed by this package (share/act_common/config/robots/), because
every package's nodes and tests read them and act_common is the one they all depend on.
"""

from __future__ import annotations

from pathlib import Path

from act_common.errors import ConfigNotFoundError


def package_share(package: str) -> Path:
    """The share/<package> folder of an installed package."""
    from ament_index_python.packages import get_package_share_directory

    return Path(get_package_share_directory(package))


def named_yaml(kind: str, folder: Path, name_or_path: str) -> Path:
    """An installed YAML by name (its stem in folder) or an explicit .yaml/.yml path.
    Raises ConfigNotFoundError (a bad config: exit 2) listing the installed names."""
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


def robot_configs_dir() -> Path:
    """The installed robot configs (aloha, aloha_sim, single_arm)."""
    return package_share('act_common') / 'config' / 'robots'


def robot_config_path(name_or_path: str) -> Path:
    """A robot config by name (aloha, aloha_sim, single_arm) or by explicit file path."""
    return named_yaml('robot config', robot_configs_dir(), name_or_path)
