"""Entry point of the `act` program."""

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
        importlib.import_module(f'act_bringup.cli.{name}').register(subparsers)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return 2
    return int(args.handler(args) or 0)


if __name__ == '__main__':
    sys.exit(main())
