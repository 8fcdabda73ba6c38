"""The `main()` every node executable shares: init, spin one node, shut down cleanly on
Ctrl-C or an external shutdown (ros2 launch sends SIGINT)."""

from __future__ import annotations

from typing import Callable


def spin_node(make_node: Callable[[], object], args: list[str] | None = None) -> None:
    """Creates the node after rclpy.init (so it sees the --ros-args) and spins it on a
    SingleThreadedExecutor.

    Every node of the suite spins on one thread: their callbacks only store data or hand
    work to threads of their own (a service that must wait is a coroutine:
    act_teleop.recorder_node's stop). rclpy 9.1's MultiThreadedExecutor, measured on the
    2-core machine, added 6-10 ms per message (policy node tick lateness 6-7 ms median vs
    0.9 ms), and on it the recorder took 94 % of a core and lost 27 % of its joint states."""
    import rclpy
    from rclpy.executors import ExternalShutdownException, SingleThreadedExecutor
    from rclpy.impl.implementation_singleton import rclpy_implementation

    rclpy.init(args=args)
    node = None
    try:
        node = make_node()
        executor = SingleThreadedExecutor()
        executor.add_node(node)
        executor.spin()
    except (KeyboardInterrupt, ExternalShutdownException):
        pass
    except rclpy_implementation.RCLError:
        # A SIGINT between the executor's check of the context and its building of a wait
        # set ends in RCLError ('the given context is not valid'), not in
        # ExternalShutdownException: policy_node exited 1 on a Ctrl-C in a test run. It is
        # a shutdown like the others where the context is gone; anything else is raised.
        if rclpy.ok():
            raise
    finally:
        if node is not None:
            node.destroy_node()
        if rclpy.ok():
            rclpy.shutdown()
