"""What every executable of this package does around its node: start rclpy, spin until done or interrupted."""

from __future__ import annotations

import signal

import rclpy
from rclpy.executors import ExternalShutdownException
from rclpy.signals import SignalHandlerOptions

from sam3_ros.node.stop_requests import StopRequests


def _interrupt(signum, frame) -> None:
    raise KeyboardInterrupt(signal.Signals(signum).name)


def init_rclpy(args=None) -> None:
    """rclpy.init, with Ctrl-C (SIGINT) and SIGTERM raising KeyboardInterrupt until the node spins.

    rclpy's own signal handler shuts the context down the moment the signal arrives, while the
    node's other threads (the inference thread) may still be publishing: "RCLError: Failed to
    publish: publisher's context is invalid". Here a signal while the node is being built (autostart
    loading the model) aborts the build; once spin_until_done runs, it ends the spin, and the node
    is destroyed (stopping its threads) before rclpy shuts down.
    """
    rclpy.init(args=args, signal_handler_options=SignalHandlerOptions.NO)
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, _interrupt)


# How often spin_until_done looks at its `done` future and for a stop request between callbacks.
DONE_POLL_S = 0.25


def spin_until_done(node, executor, done=None) -> None:
    """Spin `node` until `done` (an rclpy Future) completes, Ctrl-C or SIGTERM, or shutdown; then clean up.

    From here on a signal is a StopRequests flag, looked at between two spin rounds: raised as a
    KeyboardInterrupt inside the executor it could land while rclpy creates a callback's Task
    ("Exception ignored in Future.__del__" at exit).

    Not `executor.spin_until_future_complete(done)`: in Jazzy's rclpy (7.1.x) each of its rounds
    adds one more done-callback to the future (ros2/rclpy#1371, fixed by #1374 from Kilted on, not
    in Jazzy), and a node's `done` future stays pending for its whole life: the node's memory
    grew by about 5 MiB per 1,000 frames. Plain spin_once rounds add nothing to the future.
    """
    executor.add_node(node)
    with StopRequests() as stop:
        try:
            while rclpy.ok(context=executor.context) and not stop.requested and not (done is not None and done.done()):
                executor.spin_once(timeout_sec=DONE_POLL_S)
        except (KeyboardInterrupt, ExternalShutdownException):
            pass
        finally:
            node.destroy_node()
            rclpy.try_shutdown()
