"""sam3ctl's arguments, dispatch and exit statuses.

Exit status: 0 done; 1 the node refused (the reason is printed); 2 bad arguments; 3 the node or
its service is not there, or did not answer within the timeout; 130 interrupted while waiting
(except `watch` and `console`, which end with Ctrl-C).
"""

from __future__ import annotations

import argparse
import sys

from rclpy.executors import ExternalShutdownException

from sam3_ros.cli import lifecycle_commands, object_commands, prompt_commands, watch
from sam3_ros.cli.connection import Sam3Connection
from sam3_ros.cli.console import command as console
from sam3_ros.cli.errors import BadArguments, NodeUnreachable, RequestRefused
from sam3_ros.node.node_process import use_large_image_transport

COMMANDS = {"prompts": prompt_commands, "objects": object_commands, "lifecycle": lifecycle_commands, "watch": watch, "console": console}
LIVE_COMMANDS = ("watch", "console")  # Ctrl-C is how they end
DEFAULT_NODE = "/sam3"
DEFAULT_TIMEOUT_S = 5.0


def parser() -> argparse.ArgumentParser:
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("-n", "--node", default=DEFAULT_NODE, help=f"the sam3 node, with its namespace (default {DEFAULT_NODE})")
    common.add_argument(
        "-t",
        "--timeout",
        type=float,
        default=DEFAULT_TIMEOUT_S,
        help=f"seconds to wait for the node and for each answer (default {DEFAULT_TIMEOUT_S:g}); "
        "lifecycle transitions are waited for until done",
    )
    top = argparse.ArgumentParser(
        prog="sam3ctl",
        description="Operate a running sam3 node over ROS 2: prompts, visual objects, lifecycle, live view, a web console. "
        "Uses ROS_DOMAIN_ID and the rest of the ROS 2 environment like any ROS 2 client.",
    )
    subparsers = top.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for module in COMMANDS.values():
        module.add_arguments(subparsers, common)
    return top


def main(argv=None) -> None:
    args = parser().parse_args(argv)
    if args.command == "console":
        use_large_image_transport()  # it receives camera-sized images (the node's debug_image)
    try:
        with Sam3Connection(args.node, args.timeout) as connection:
            COMMANDS[args.command].run(args, connection, sys.stdout)
    except BadArguments as error:
        _fail(2, str(error))
    except NodeUnreachable as error:
        _fail(3, str(error))
    except RequestRefused as error:
        _fail(1, f"refused: {error}")
    except (KeyboardInterrupt, ExternalShutdownException):
        if args.command not in LIVE_COMMANDS:
            sys.exit(130)


def _fail(status: int, message: str) -> None:
    print(f"sam3ctl: {message}", file=sys.stderr)
    sys.exit(status)
