"""Subscriptions whose messages are matched by header stamp: colour image, depth image, depth camera_info.

message_filters' ApproximateTimeSynchronizer is the ROS convention and is used where it is
installed (a ROS distro: package.xml declares it). The PyPI wheels have no message_filters; there
the same policy comes from sam3_ros.node.approximate_sync (see its docstring), fed by plain
subscriptions. `backend` says which one a node uses; the node logs it.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from typing import Any

from sam3_ros.node.approximate_sync import ApproximateTimeSync, stamp_to_ns

try:
    import message_filters
except ImportError:  # the PyPI wheels: no message_filters
    message_filters = None

MESSAGE_FILTERS = "message_filters"
FALLBACK = "sam3_ros.node.approximate_sync"


class SynchronisedSubscriptions:
    """Calls `on_set(*messages)` for each matched set, one message per (type, topic) in `inputs`, in order.

    `on_first(msg)` is called for every message of the first input before matching, so that the
    node can count camera frames that never find a partner.
    """

    def __init__(
        self,
        node,
        inputs: list[tuple[type, str]],
        qos,
        queue_size: int,
        slop_s: float,
        on_set: Callable[..., Any],
        on_first: Callable[[Any], Any] | None = None,
        callback_group=None,
    ):
        self._node = node
        if message_filters is not None:
            self.backend = MESSAGE_FILTERS
            self._filters = [
                message_filters.Subscriber(node, msg_type, topic, qos_profile=qos, callback_group=callback_group)
                for msg_type, topic in inputs
            ]
            self._sync = message_filters.ApproximateTimeSynchronizer(self._filters, queue_size, slop_s)
            self._sync.registerCallback(on_set)
            if on_first is not None:
                self._filters[0].registerCallback(on_first)
            self.subscriptions = [f.sub for f in self._filters]
        else:
            self.backend = FALLBACK
            self._on_first = on_first
            self._sync = ApproximateTimeSync(len(inputs), queue_size, slop_s, on_set)
            self.subscriptions = [
                node.create_subscription(msg_type, topic, partial(self._add, index), qos, callback_group=callback_group)
                for index, (msg_type, topic) in enumerate(inputs)
            ]

    def _add(self, index: int, msg) -> None:
        if index == 0 and self._on_first is not None:
            self._on_first(msg)
        self._sync.add(index, stamp_to_ns(msg.header.stamp), msg)

    def destroy(self) -> None:
        for subscription in self.subscriptions:
            self._node.destroy_subscription(subscription)
        self.subscriptions = []
