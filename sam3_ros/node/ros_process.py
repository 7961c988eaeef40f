"""What every executable of this package does around its node: spin until done or interrupted."""

from __future__ import annotations

import rclpy
from rclpy.executors import ExternalShutdownException


def spin_until_done(node, executor, done=None) -> None:
    """Spin `node` until `done` (an rclpy Future) completes, Ctrl-C, or shutdown; then clean up."""
    executor.add_node(node)
    try:
        if done is None:
            executor.spin()
        else:
            executor.spin_until_future_complete(done)
    except (KeyboardInterrupt, ExternalShutdownException):
        pass
    finally:
        node.destroy_node()
        rclpy.try_shutdown()
