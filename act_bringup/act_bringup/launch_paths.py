"""Installed files the launch files name: act_bringup's own (launch files, node parameter
files, Interbotix modes, the Fast DDS profile) and the robot configs, which act_common
installs because every package's nodes and tests read them (act_common.config_paths)."""

from __future__ import annotations

import os

from ament_index_python.packages import get_package_share_directory


def bringup_file(*parts: str) -> str:
    """A file under share/act_bringup, e.g. bringup_file('config', 'policy.yaml')."""
    return os.path.join(get_package_share_directory('act_bringup'), *parts)


def robot_config_file(name: str) -> str:
    """An installed robot config, e.g. robot_config_file('aloha.yaml')."""
    return os.path.join(get_package_share_directory('act_common'), 'config', 'robots', name)
