"""Entry point of the `act` program.

Every subcommand reports an error a user can cause (act_common.errors.ActError) through
here, in one line, with the suite's exit codes: 0 success, 1 the command ran and failed,
2 bad usage or configuration (act_common.errors).
"""

from __future__ import annotations

import argparse
import importlib
import sys

# Subcommand modules, in the order `act --help` lists them.
COMMANDS = ('doctor', 'demo', 'sim', 'record', 'convert', 'bag', 'train', 'policy', 'eval')


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog='act',
        description='ACT (Action Chunking with Transformers) on ROS 2: simulate, record, '
        'convert, train, evaluate and run policies.',
    )
    subparsers = parser.add_subparsers(dest='command', metavar='COMMAND')
    for name in COMMANDS:
        importlib.import_module(f'act_tools.cli.{name}').register(subparsers)
    return parser


def main(argv: list[str] | None = None) -> int:
    from act_common.errors import EXIT_BAD_CONFIG, ActError

    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return EXIT_BAD_CONFIG
    try:
        return int(args.handler(args) or 0)
    except ActError as error:
        print(f'act {args.command}: {error}', file=sys.stderr)
        return error.exit_code


if __name__ == '__main__':
    sys.exit(main())
