"""Shared robot interface of the ACT suite: configs, conversions, QoS, command safety."""
