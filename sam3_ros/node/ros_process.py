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


# How often spin_until_done looks at its `done` future between callbacks.
DONE_POLL_S = 0.25


def spin_until_done(node, executor, done=None) -> None:
    """Spin `node` until `done` (an rclpy Future) completes, Ctrl-C, or shutdown; then clean up.

    Not `executor.spin_until_future_complete(done)`: in Jazzy's rclpy (7.1.x) each of its rounds
    adds one more done-callback to the future (ros2/rclpy#1371, fixed by #1374 from Kilted on, not
    in Jazzy), and a node's `done` future stays pending for its whole life: the node's memory
    grew by about 5 MiB per 1,000 frames. Plain spin_once rounds add nothing to the future.
    """
    executor.add_node(node)
    try:
        if done is None:
            executor.spin()
        else:
            while rclpy.ok(context=executor.context) and not done.done():
                executor.spin_once(timeout_sec=DONE_POLL_S)
    except (KeyboardInterrupt, ExternalShutdownException):
        pass
    finally:
        node.destroy_node()
        rclpy.try_shutdown()
