"""Fixtures for the cross-package tests."""

import os
import sys
import pytest

@pytest.fixture
def peer_env():
    """Environment for a subprocess ROS peer: same domain, loopback discovery, unbuffered."""
    env = dict(os.environ)
    env.setdefault('ROS_AUTOMATIC_DISCOVERY_RANGE', 'LOCALHOST')
    env['PYTHONUNBUFFERED'] = '1'
    return env


@pytest.fixture
def python():
    return sys.executable
