"""`sam3ctl watch`: a live terminal view of the node's ~/instances and its /diagnostics status."""

from __future__ import annotations

from diagnostic_msgs.msg import DiagnosticArray
from rich.console import Console
from rich.live import Live

from sam3_ros.cli.connection import Sam3Connection
from sam3_ros.cli.errors import NodeUnreachable
from sam3_ros.cli.live_view import live_view
from sam3_ros.msg import InstanceArray
from sam3_ros.node.message_conversion import node_status_name

DIAGNOSTICS_WAIT_S = 1.5  # the node reports once a second
REFRESH_S = 0.25


def add_arguments(subparsers, common) -> None:
    watch = subparsers.add_parser(
        "watch",
        parents=[common],
        help="live view until Ctrl-C: per prompt its instances (IDs, scores, boxes), rates and latency from /diagnostics",
    )
    watch.add_argument("--once", action="store_true", help="print the view of the next InstanceArray, then exit")


class LatestReports:
    """The newest InstanceArray of the node and the newest DiagnosticStatus it published."""

    def __init__(self, node_name: str):
        self.array = None
        self.status = None
        # The node's own status; a node with several cameras also has one per camera.
        self._status_name = node_status_name(node_name.rpartition("/")[2])

    def on_instances(self, array) -> None:
        self.array = array

    def on_diagnostics(self, array) -> None:
        for status in array.status:
            if status.name == self._status_name:
                self.status = status

    def lifecycle_state(self) -> str:
        values = {} if self.status is None else {item.key: item.value for item in self.status.values}
        return values.get("lifecycle state", "unknown: no diagnostics from it")


def run(args, connection: Sam3Connection, out) -> None:
    topic = f"{connection.node_name}/instances"
    latest = LatestReports(connection.node_name)
    connection.node.create_subscription(InstanceArray, topic, latest.on_instances, 10)
    connection.node.create_subscription(DiagnosticArray, "/diagnostics", latest.on_diagnostics, 10)
    if not connection.spin_until(connection.node_is_running, connection.timeout):
        raise connection.not_found(f"topic {topic}")
    console = Console(file=out)
    if args.once:
        if not connection.spin_until(lambda: latest.array is not None, connection.timeout):
            connection.spin_until(lambda: latest.status is not None, DIAGNOSTICS_WAIT_S)
            raise NodeUnreachable(
                f"no InstanceArray on {topic} within {connection.timeout:g} s: the node publishes while it is active "
                f"and receives images (its lifecycle state: {latest.lifecycle_state()})"
            )
        connection.spin_until(lambda: latest.status is not None, DIAGNOSTICS_WAIT_S)
        # Not wrapped or cropped (a pipe is 80 columns): a figure split over two lines reads as two.
        console.print(live_view(connection.node_name, latest.array, latest.status, topic), soft_wrap=True)
        return
    view = lambda: live_view(connection.node_name, latest.array, latest.status, topic)  # noqa: E731
    with Live(view(), console=console, auto_refresh=False) as live:
        while True:  # until Ctrl-C
            connection.spin_until(lambda: False, REFRESH_S)
            live.update(view(), refresh=True)
