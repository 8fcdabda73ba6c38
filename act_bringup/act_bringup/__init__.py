"""Launch files, configs and the `act` command line of the ACT suite."""
