"""Launch files and configs of the ACT suite; launch_overrides is the launch files' helper."""
