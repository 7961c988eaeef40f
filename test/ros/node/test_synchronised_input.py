"""sam3_ros.node.synchronised_input on real rclpy subscriptions, with both of its backends.

Here message_filters is not installed, so the fallback (sam3_ros.node.approximate_sync) is the backend
the node uses. The message_filters branch, used in ROS distros, is checked against a stand-in
module with message_filters' Python API (Subscriber(node, type, topic, qos_profile=...),
ApproximateTimeSynchronizer(filters, queue_size, slop), registerCallback), so that its wiring
(topics, QoS, the callbacks, destroy) is exercised too.
"""

from __future__ import annotations

import importlib
import sys
import time
import types

import pytest
from builtin_interfaces.msg import Time
from rclpy.executors import SingleThreadedExecutor
from rclpy.node import Node
from rclpy.qos import QoSProfile
from sensor_msgs.msg import CameraInfo, Image

import sam3_ros.node.synchronised_input as synchronised_input
from sam3_ros.node.approximate_sync import ApproximateTimeSync, stamp_to_ns

TOPICS = ("/sync_test/colour", "/sync_test/depth", "/sync_test/info")
TIMEOUT_S = 20.0


def stand_in_message_filters() -> types.ModuleType:
    """message_filters' Python API, enough for SynchronisedSubscriptions."""
    module = types.ModuleType("message_filters")

    class SimpleFilter:
        def __init__(self):
            self.callbacks = []

        def registerCallback(self, callback, *args):  # noqa: N802 - message_filters' name
            self.callbacks.append((callback, args))

        def signalMessage(self, *msgs):  # noqa: N802
            for callback, args in self.callbacks:
                callback(*(msgs + args))

    class Subscriber(SimpleFilter):
        def __init__(self, node, msg_type, topic, qos_profile=10, **kwargs):
            super().__init__()
            self.sub = node.create_subscription(msg_type, topic, self.signalMessage, qos_profile, **kwargs)

    class ApproximateTimeSynchronizer(SimpleFilter):
        def __init__(self, filters, queue_size, slop):
            super().__init__()
            sync = ApproximateTimeSync(len(filters), queue_size, slop, self.signalMessage)
            for index, source in enumerate(filters):
                source.registerCallback(lambda msg, i=index: sync.add(i, stamp_to_ns(msg.header.stamp), msg))

    module.Subscriber, module.ApproximateTimeSynchronizer = Subscriber, ApproximateTimeSynchronizer
    return module


@pytest.fixture(params=["fallback", "message_filters"])
def backend_module(request, monkeypatch):
    """sam3_ros.node.synchronised_input as it loads without, or with, message_filters."""
    monkeypatch.setitem(sys.modules, "message_filters", stand_in_message_filters() if request.param == "message_filters" else None)
    module = importlib.reload(synchronised_input)
    yield request.param, module
    monkeypatch.undo()
    importlib.reload(synchronised_input)


def test_sets_reach_the_callback_and_destroy_unsubscribes(ros_context, backend_module):
    backend, module = backend_module
    node = Node("sync_test_subscriber", context=ros_context)
    source = Node("sync_test_publisher", context=ros_context)
    executor = SingleThreadedExecutor(context=ros_context)
    for n in (node, source):
        executor.add_node(n)
    sets, colours = [], []
    qos = QoSProfile(depth=10)
    inputs = [(Image, TOPICS[0]), (Image, TOPICS[1]), (CameraInfo, TOPICS[2])]
    subscriptions = module.SynchronisedSubscriptions(
        node, inputs, qos, queue_size=5, slop_s=0.05, on_set=lambda *m: sets.append(m), on_first=colours.append
    )
    publishers = [source.create_publisher(t, topic, qos) for t, topic in inputs]

    def spin_until(condition, what):
        deadline = time.monotonic() + TIMEOUT_S
        while not condition():
            assert time.monotonic() < deadline, f"timed out waiting for {what}"
            executor.spin_once(timeout_sec=0.05)

    try:
        assert subscriptions.backend == {"fallback": module.FALLBACK, "message_filters": module.MESSAGE_FILTERS}[backend]
        spin_until(lambda: all(p.get_subscription_count() == 1 for p in publishers), "the subscriptions")
        for frame in range(3):
            colour, depth, info = Image(), Image(), CameraInfo()
            colour.header.stamp = Time(sec=100 + frame, nanosec=0)
            depth.header.stamp = Time(sec=100 + frame, nanosec=10_000_000)  # 10 ms later: within the slop
            info.header.stamp = Time(sec=100 + frame, nanosec=20_000_000)
            colour.header.frame_id, depth.header.frame_id, info.header.frame_id = "colour", "depth", "info"
            for publisher, msg in zip(publishers, (colour, depth, info)):
                publisher.publish(msg)
            spin_until(lambda f=frame: len(sets) == f + 1, f"set {frame}")
        assert [[m.header.frame_id for m in s] for s in sets] == [["colour", "depth", "info"]] * 3
        assert [s[0].header.stamp.sec for s in sets] == [100, 101, 102]
        assert [c.header.stamp.sec for c in colours] == [100, 101, 102], "on_first sees every colour image"

        subscriptions.destroy()
        spin_until(lambda: all(p.get_subscription_count() == 0 for p in publishers), "the subscriptions to go")
    finally:
        executor.shutdown(timeout_sec=1.0)
        node.destroy_node()
        source.destroy_node()
