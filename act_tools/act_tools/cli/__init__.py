"""The `act` command line: one program, one module per subcommand.

Each subcommand module defines `register(subparsers)`, which adds its parser and sets
`handler` to a function taking the parsed arguments and returning an exit code. Modules
import torch, MuJoCo or rclpy inside their handler only, so `act --help` stays fast.
"""
