"""Where the installed configs the `act` command reads live: act_bringup's node parameter
files and Fast DDS profile, act_training's training configs (robot configs:
act_common.config_paths)."""

from __future__ import annotations

import os
from pathlib import Path

from act_common.config_paths import named_yaml, package_share


def bringup_share() -> Path:
    return package_share('act_bringup')


def node_params_path(name: str) -> Path:
    """A node parameter file in the nav2 style (one `node_name: ros__parameters:` block each)."""
    return bringup_share() / 'config' / f'{name}.yaml'


def large_data_dds_profile() -> Path:
    """The Fast DDS profile for full-size camera streams between processes (see the file)."""
    return bringup_share() / 'config' / 'fastdds_large_data.xml'


def use_large_data_dds_profile() -> str:
    """Points Fast DDS at the large-data profile for participants this process creates
    from now on, unless the user chose a profile; returns the profile in force."""
    return os.environ.setdefault('FASTDDS_DEFAULT_PROFILES_FILE', str(large_data_dds_profile()))


def training_config_path(name_or_path: str) -> Path:
    """A training config by name (paper, cpu_demo) or by explicit file path."""
    return named_yaml('training config', package_share('act_training') / 'config' / 'training', name_or_path)
