"""What every executable of this package does around its node: start rclpy, spin until done or interrupted."""

from __future__ import annotations

import signal

import rclpy
from rclpy.executors import ExternalShutdownException
from rclpy.signals import SignalHandlerOptions


def _interrupt(signum, frame) -> None:
    raise KeyboardInterrupt(signal.Signals(signum).name)


def init_rclpy(args=None) -> None:
    """rclpy.init, with Ctrl-C (SIGINT) and SIGTERM raising KeyboardInterrupt in the main thread.

    rclpy's own signal handler shuts the context down the moment the signal arrives, while the
    node's other threads (the inference thread) may still be publishing: "RCLError: Failed to
    publish: publisher's context is invalid". As a KeyboardInterrupt the signal ends the spin in
    spin_until_done, which destroys the node (stopping its threads) before it shuts rclpy down.
    The spinning thread sees it when its wait returns (at the latest at its next timer).
    """
    rclpy.init(args=args, signal_handler_options=SignalHandlerOptions.NO)
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, _interrupt)


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
