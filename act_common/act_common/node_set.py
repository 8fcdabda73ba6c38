"""Runs a set of the suite's nodes in one process, parameterized as ros2 launch would.

launch_ros is not installable everywhere (not on PyPI). `act sim|record|policy` start the
same nodes as the launch files, from the same nav2-style parameter YAML, by handing each
node the very arguments launch_ros would put on its command line
(`--ros-args --params-file FILE -p name:=value -r from:=to`). So the YAML stays the one
source of truth for parameters, whichever way the nodes are started.

Every node class of the suite accepts `**node_kwargs` and forwards them to rclpy's Node
(or LifecycleNode) constructor; that is what makes this composition possible.
"""

from __future__ import annotations

import signal
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable, Mapping

import rclpy
from rclpy.context import Context
from rclpy.executors import Executor, ExternalShutdownException, MultiThreadedExecutor, SingleThreadedExecutor
from rclpy.node import Node


@dataclass
class NodeSpec:
    """One node to start: its class, and where its parameters come from."""

    node_class: Callable[..., Node]
    params_file: Path | None = None
    # Parameters set on top of the file, like launch's `parameters=[file, {...}]`.
    overrides: Mapping[str, Any] = field(default_factory=dict)
    remappings: Mapping[str, str] = field(default_factory=dict)
    name: str | None = None


def ros_arguments(spec: NodeSpec) -> list[str]:
    """The `--ros-args ...` list launch_ros would pass for this spec."""
    arguments = ['--ros-args']
    if spec.name:
        arguments += ['-r', f'__node:={spec.name}']
    if spec.params_file is not None:
        if not Path(spec.params_file).is_file():
            raise FileNotFoundError(f'parameter file {spec.params_file} does not exist')
        arguments += ['--params-file', str(spec.params_file)]
    for name, value in spec.overrides.items():
        arguments += ['-p', f'{name}:={_parameter_literal(value)}']
    for source, target in spec.remappings.items():
        arguments += ['-r', f'{source}:={target}']
    return arguments


def _parameter_literal(value: Any) -> str:
    """A value as the YAML literal `-p name:=value` parses back to the same type."""
    if isinstance(value, bool):
        return 'true' if value else 'false'
    if isinstance(value, (list, tuple)):
        return '[' + ', '.join(_parameter_literal(item) for item in value) + ']'
    if isinstance(value, str):
        return "'" + value.replace("'", "''") + "'"
    if isinstance(value, Path):
        return "'" + str(value) + "'"
    return repr(value)


class NodeSet:
    """Nodes built from specs in one context, spun by one executor.

    threads: worker threads of a MultiThreadedExecutor (None: one per CPU); 1 spins with a
    SingleThreadedExecutor instead. Measured with rclpy 9.1 on a 2-core machine, a message
    between two nodes of one process reached its callback in 0.2 ms (median; 0.9 ms max)
    with the single-threaded executor and in 6 to 10 ms (median; p90 30 to 250 ms, max
    1.9 s) with the multi-threaded one. Nodes whose callbacks only store data and whose
    heavy work runs on their own threads (act_sim's) run best with threads=1.
    """

    def __init__(self, specs: Iterable[NodeSpec], context: Context | None = None, threads: int | None = None):
        self.context = context or Context()
        self._thread: threading.Thread | None = None
        self.executor: Executor | None = None
        if not self.context.ok():
            rclpy.init(context=self.context, signal_handler_options=rclpy.signals.SignalHandlerOptions.NO)
        self.nodes: list[Node] = []
        try:
            for spec in specs:
                self.nodes.append(spec.node_class(context=self.context, cli_args=ros_arguments(spec)))
        except BaseException:
            self.close()
            raise
        if threads == 1:
            self.executor = SingleThreadedExecutor(context=self.context)
        else:
            self.executor = MultiThreadedExecutor(num_threads=threads, context=self.context)
        for node in self.nodes:
            self.executor.add_node(node)

    def node(self, node_type: type) -> Node:
        return next(node for node in self.nodes if isinstance(node, node_type))

    def spin(self, until: Callable[[], bool] | None = None, period_s: float = 0.1) -> None:
        """Spins until `until()` is true, Ctrl-C, or shutdown."""
        stop = threading.Event()
        previous = signal.signal(signal.SIGINT, lambda *_: stop.set()) if threading.current_thread() is threading.main_thread() else None
        try:
            while not stop.is_set() and self.context.ok() and not (until and until()):
                self.executor.spin_once(timeout_sec=period_s)
        except ExternalShutdownException:
            pass
        finally:
            if previous is not None:
                signal.signal(signal.SIGINT, previous)

    def spin_in_background(self) -> None:
        """Spins on a daemon thread; the caller drives the nodes through their Python API."""
        def spin() -> None:
            try:
                self.executor.spin()
            except ExternalShutdownException:
                pass

        self._thread = threading.Thread(target=spin, name='act-node-set', daemon=True)
        self._thread.start()

    def close(self) -> None:
        if self.executor is not None:
            self.executor.shutdown(timeout_sec=5)
        for node in reversed(self.nodes):
            node.destroy_node()
        self.nodes.clear()
        if self.context.ok():
            rclpy.shutdown(context=self.context)
        if self._thread is not None:
            self._thread.join(timeout=5)

    def __enter__(self) -> 'NodeSet':
        return self

    def __exit__(self, *exc) -> None:
        self.close()
