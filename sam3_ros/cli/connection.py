"""One short-lived rclpy client of one sam3 node, with errors an operator can act on."""

from __future__ import annotations

import os
import time

import rclpy
from rclpy.executors import SingleThreadedExecutor
from rclpy.node import Node

from sam3_ros.cli.errors import BadArguments, NodeUnreachable
from sam3_ros.node.stop_requests import StopRequests

_SPIN_STEP_S = 0.05
# The `missing_hint` of services that a lifecycle node offers only while configured.
UNCONFIGURED_HINT = ": it exists from configure to cleanup (see `sam3ctl lifecycle get`)"


def fully_qualified(node_name: str) -> str:
    """`sam3` -> `/sam3`; `/robot1/sam3` stays as it is."""
    name = node_name.strip().rstrip("/")
    if not name.lstrip("/"):
        raise BadArguments(f"'{node_name}' is not a node name")
    return name if name.startswith("/") else f"/{name}"


class Sam3Connection:
    """A hidden client node in its own context; use as a context manager.

    `timeout` bounds how long the node's services are looked for and how long a plain request may
    take to be answered.
    """

    def __init__(self, node_name: str, timeout: float):
        self.node_name = fully_qualified(node_name)
        self.timeout = timeout
        self._context = rclpy.Context()
        rclpy.init(context=self._context)
        # A leading underscore hides the node from `ros2 node list`, as ros2cli's own nodes are.
        self.node = Node(f"_sam3ctl_{os.getpid()}", context=self._context, start_parameter_services=False)
        self._executor = SingleThreadedExecutor(context=self._context)
        self._executor.add_node(self.node)

    def __enter__(self) -> Sam3Connection:
        self._stop = StopRequests().__enter__()
        return self

    def __exit__(self, *exc_info) -> None:
        try:
            self._executor.shutdown(timeout_sec=1.0)
            self.node.destroy_node()
            self._context.try_shutdown()
        finally:
            self._stop.__exit__(*exc_info)

    def spin_until(self, condition, timeout: float | None) -> bool:
        """Spin until condition() holds (True) or `timeout` seconds have passed (False); None waits on.

        Ctrl-C (or SIGTERM) raises KeyboardInterrupt here, between two spin rounds, never inside
        the executor, which would leave the subscriptions' handles in use at `__exit__`.
        """
        deadline = None if timeout is None else time.monotonic() + timeout
        while not condition():
            if self._stop.requested:
                raise KeyboardInterrupt
            if deadline is not None and time.monotonic() > deadline:
                return False
            self._executor.spin_once(timeout_sec=_SPIN_STEP_S)
        return True

    def node_is_running(self) -> bool:
        namespace, _, name = self.node_name.rpartition("/")
        return (name, namespace or "/") in self.node.get_node_names_and_namespaces()

    def not_found(self, what: str, missing_hint: str = "") -> NodeUnreachable:
        """The error for `what` (a service or topic of the node) not being there after the timeout."""
        if self.node_is_running():
            return NodeUnreachable(f"node {self.node_name} is running but offers no {what}{missing_hint}")
        domain = os.environ.get("ROS_DOMAIN_ID", "0")
        return NodeUnreachable(
            f"node {self.node_name} not found within {self.timeout:g} s: is it running, under that name "
            f"(--node), on ROS_DOMAIN_ID {domain}?"
        )

    def call(self, srv_type, service: str, request, answer_timeout: float | None = -1.0, missing_hint: str = ""):
        """Call the node's `service` (relative to the node, e.g. 'get_prompts'); its response.

        `answer_timeout` -1 means the connection's timeout; None waits for the answer as long as
        the service is there (a lifecycle transition may load a model for minutes).
        """
        name = f"{self.node_name}/{service}"
        client = self.node.create_client(srv_type, name)
        try:
            if not self.spin_until(client.service_is_ready, self.timeout):
                raise self.not_found(f"service {name}", missing_hint)
            future = client.call_async(request)
            limit = self.timeout if answer_timeout == -1.0 else answer_timeout
            answered_or_gone = lambda: future.done() or not client.service_is_ready()  # noqa: E731
            if not self.spin_until(answered_or_gone, limit):
                raise NodeUnreachable(f"{name} did not answer within {limit:g} s")
            if not future.done():
                raise NodeUnreachable(f"node {self.node_name} went away before {name} answered")
            return future.result()
        finally:
            self.node.destroy_client(client)
