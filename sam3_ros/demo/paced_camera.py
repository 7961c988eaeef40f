"""A camera that sends the node one frame at a time and waits for its result: every frame is
processed (none dropped by the newest-frame policy), and each result maps to its frame by stamp.

The synthetic-scene demo and the tracking-quality benchmark's `node` tracker use it to score what
the node publishes over ROS against the scene's ground truth.
"""

from __future__ import annotations

import time

import numpy as np
import rclpy
from builtin_interfaces.msg import Time
from rclpy.node import Node
from rclpy.qos import qos_profile_sensor_data
from sensor_msgs.msg import Image
from std_msgs.msg import Header

from sam3_ros.msg import InstanceArray
from sam3_ros.node.image_conversion import image_msg_from_array
from sam3_ros.outputs.mask_encoding import decode_mask
from sam3_ros.synthetic.evaluation import Step, Tracks

FRAME_PERIOD_NS = 33_333_333  # stamps 30 Hz apart, as a camera's
# Best-effort frames can be lost between processes; one not answered within this is sent again.
RESEND_AFTER_S = 2.0


class PacedCamera:
    """Publishes frames on `image_topic` from `node` and spins `node` until the result of each arrives."""

    def __init__(self, node: Node, image_topic: str, instances_topic: str = "/sam3/instances", frame_id: str = "camera"):
        self.node = node
        self.frame_id = frame_id
        self._publisher = node.create_publisher(Image, image_topic, qos_profile_sensor_data)
        self._results: dict[tuple[int, int], InstanceArray] = {}
        node.create_subscription(InstanceArray, instances_topic, self._on_instances, 10)
        self._frames_sent = 0

    def _on_instances(self, msg: InstanceArray) -> None:
        self._results[(msg.header.stamp.sec, msg.header.stamp.nanosec)] = msg

    def wait_for_node(self, timeout: float) -> bool:
        """Whether the node subscribed to the image topic within `timeout` seconds."""
        return spin_until(self.node, lambda: self._publisher.get_subscription_count() > 0, timeout)

    def send(self, rgb: np.ndarray, timeout: float = 60.0) -> InstanceArray:
        """The node's result for `rgb` (HxWx3 uint8), sent with the next stamp; TimeoutError if none came."""
        sec, nanosec = divmod(1_000_000_000 + self._frames_sent * FRAME_PERIOD_NS, 1_000_000_000)
        self._frames_sent += 1
        key = (sec, nanosec)
        msg = image_msg_from_array(rgb, "rgb8", Header(stamp=Time(sec=sec, nanosec=nanosec), frame_id=self.frame_id))
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            self._publisher.publish(msg)
            if spin_until(self.node, lambda: key in self._results, min(RESEND_AFTER_S, deadline - time.monotonic())):
                return self._results.pop(key)
        raise TimeoutError(f"the node published no result for frame {self._frames_sent - 1} within {timeout:.0f} s")

    def step(self, phrases: list[str]) -> Step:
        """A tracker for sam3_ros.synthetic.evaluation: each frame through the node, its masks by phrase and id."""

        def track(rgb: np.ndarray) -> Tracks:
            result = self.send(rgb)
            tracks: Tracks = {phrase: {} for phrase in phrases}
            for instance in result.instances:
                if instance.prompt_text in tracks:
                    tracks[instance.prompt_text][instance.id] = decode_mask(instance.mask_rle, result.height, result.width)
            return tracks

        return track


def spin_until(node: Node, done, timeout: float) -> bool:
    """Spin `node` until done() is true or `timeout` seconds passed; whether done() became true."""
    deadline = time.monotonic() + timeout
    while not done():
        if time.monotonic() >= deadline:
            return False
        rclpy.spin_once(node, timeout_sec=0.05)
    return True
