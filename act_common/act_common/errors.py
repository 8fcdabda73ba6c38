"""The suite's error base classes and the `act` command's exit codes.

Every error a user can cause or meet in normal use (a bad config, an unreadable episode,
a sim that does not answer) derives from ActError. `act` (its entry point, cli/main.py) catches
ActError once, prints `act <command>: <message>` and exits with the error's exit_code;
anything else is a bug and keeps its traceback.

Exit codes, for every subcommand:
    0  success
    1  the command ran and failed: bad data, a failed stage, a refused checkpoint
    2  bad usage or configuration: an unknown option or value, a config that does not
       validate (argparse exits 2 for its own usage errors too)
"""

from __future__ import annotations

EXIT_OK = 0
EXIT_FAILURE = 1
EXIT_BAD_CONFIG = 2


class ActError(Exception):
    """An error the `act` command reports in one line and exits with `exit_code` for."""

    exit_code = EXIT_FAILURE


class ConfigurationError(ActError, ValueError):
    """A configuration (a YAML file, an override, an option's value) is invalid; the
    message names the offending field and value. A ValueError too, so code that validates
    configs with ValueError keeps working."""

    exit_code = EXIT_BAD_CONFIG


class ConfigNotFoundError(ConfigurationError, FileNotFoundError):
    """A named config (robot, training, parameters file) does not exist; lists what does."""


def require_choice(name: str, value, choices) -> None:
    """Raises ConfigurationError unless value is one of choices (its one definition, e.g.
    act_teleop.camera_compression.CAMERA_COMPRESSIONS), naming the field and the choices."""
    if value not in choices:
        raise ConfigurationError(f'{name} must be one of {", ".join(map(str, choices))}, got {value!r}')
