"""The console's ROS side: one sam3ctl connection, owned by the thread that spins it.

It finds the node's cameras in the ROS graph (the InstanceArray topics the node publishes:
`~/instances`, or `~/<camera>/instances` with the `cameras` parameter), keeps the newest
InstanceArray of each and the node's newest /diagnostics status, and subscribes to a camera's
`~/debug_image` only while a browser watches that camera: the node draws its overlay only for a
subscriber, so a console nobody looks at costs the node nothing. Subscriptions are by topic name,
so they carry on when the node restarts.

The web server's threads never touch rclpy: they `submit` work (service calls) that runs here,
between two spin rounds, and read `snapshot()`.
"""

from __future__ import annotations

import concurrent.futures
import os
import queue
import time

from diagnostic_msgs.msg import DiagnosticArray
from rclpy.node import NodeNameNonExistentError
from rclpy.qos import HistoryPolicy, QoSProfile, ReliabilityPolicy
from sensor_msgs.msg import Image

from sam3_ros.cli.connection import UNCONFIGURED_HINT, Sam3Connection
from sam3_ros.cli.console.frames import NewestFrames
from sam3_ros.cli.console.views import active_prompts_view, diagnostics_view, instance_array_view, visual_objects_view
from sam3_ros.cli.errors import NodeUnreachable
from sam3_ros.cli.watch import LatestReports
from sam3_ros.msg import InstanceArray
from sam3_ros.srv import GetPrompts, RefineObject, RemoveObject, SetPrompts, TrackObject

GRAPH_REFRESH_S = 0.5  # how often cameras and the node's presence are looked up
VIEWER_TIMEOUT_S = 15.0  # a camera nobody asked a frame of for this long loses its debug_image subscription
PROMPTS_REFRESH_S = 2.0  # the least time between two GetPrompts of the console's own
SERVICES = {"set_prompts": SetPrompts, "track_object": TrackObject, "refine_object": RefineObject, "remove_object": RemoveObject}
INSTANCE_ARRAY_TYPE = "sam3_ros/msg/InstanceArray"
# The newest message only, best effort: a console that falls behind loses frames, it never holds
# up the node's publisher (a reliable subscriber to the node's reliable publisher would).
NEWEST_ONLY = QoSProfile(history=HistoryPolicy.KEEP_LAST, depth=1, reliability=ReliabilityPolicy.BEST_EFFORT)


def camera_topic(node_name: str, camera: str, name: str) -> str:
    """`/sam3/instances` for the one unnamed camera, `/sam3/front/instances` for camera `front`."""
    return f"{node_name}/{camera}/{name}" if camera else f"{node_name}/{name}"


def cameras_published(node_name: str, publisher_topics) -> list[str]:
    """The cameras whose InstanceArray topic is among a node's (topic, types) publishers."""
    prefix = f"{node_name}/"
    cameras = []
    for topic, types in publisher_topics:
        if INSTANCE_ARRAY_TYPE in types and topic.startswith(prefix) and topic.endswith("/instances"):
            cameras.append(topic[len(prefix) : -len("instances")].rstrip("/"))
    return sorted(cameras)


class _CameraTopics:
    def __init__(self, instances):
        self.instances = instances
        self.debug_image = None  # while a browser watches


class RosBridge:
    def __init__(self, connection: Sam3Connection, frames: NewestFrames):
        self.connection = connection
        self.node_name = connection.node_name
        self.frames = frames
        self.on_frame = lambda camera: None  # the web server's wake-up, set once it runs
        self.node_running = False
        self._jobs: queue.SimpleQueue = queue.SimpleQueue()
        self._topics: dict[str, _CameraTopics] = {}
        self._arrays: dict[str, InstanceArray] = {}  # camera -> its newest InstanceArray
        self._prompts: list[dict] | None = None  # None: not known yet
        self._prompts_asked_at = float("-inf")
        self._reports = LatestReports(self.node_name)
        connection.node.create_subscription(DiagnosticArray, "/diagnostics", self._reports.on_diagnostics, 10)

    # -- any thread --------------------------------------------------------------------------------

    def submit(self, work) -> concurrent.futures.Future:
        """Run `work()` on the ROS thread; its result or exception in the future."""
        future = concurrent.futures.Future()
        self._jobs.put((work, future))
        return future

    def cameras(self) -> list[str]:
        return sorted(self._topics)

    def snapshot(self) -> dict:
        """What the page's state request gets (JSON-ready)."""
        arrays = dict(self._arrays)
        return {
            "node": self.node_name,
            "ros_domain_id": os.environ.get("ROS_DOMAIN_ID", "0"),
            "node_running": self.node_running,
            "cameras": [
                {
                    "name": camera,
                    "instances": instance_array_view(arrays[camera]) if camera in arrays else None,
                    **self.frames.counts(camera),
                }
                for camera in self.cameras()
            ],
            "prompts": self._prompts,
            "diagnostics": diagnostics_view(self._reports.status),
        }

    # -- the ROS thread ----------------------------------------------------------------------------

    def run(self) -> None:
        """Spin, run submitted work and follow the graph until Ctrl-C (KeyboardInterrupt)."""
        next_refresh = 0.0
        while True:
            self.connection.spin_until(lambda: not self._jobs.empty(), max(0.0, next_refresh - time.monotonic()))
            while not self._jobs.empty():
                self._run(*self._jobs.get())
            if time.monotonic() >= next_refresh:
                self._follow_graph()
                next_refresh = time.monotonic() + GRAPH_REFRESH_S

    def call(self, service: str, request) -> dict:
        """Call one of SERVICES; the node's answer for the page. Raises NodeUnreachable."""
        response = self.connection.call(SERVICES[service], service, request, missing_hint=UNCONFIGURED_HINT)
        answer = {"ok": response.success, "message": response.message}
        if hasattr(response, "active_prompts"):
            answer["prompts"] = active_prompts_view(response.active_prompts)
            self._prompts = answer["prompts"]
        if hasattr(response, "visual_objects"):
            answer["visual_objects"] = visual_objects_view(response.visual_objects)
        if hasattr(response, "track_id"):
            answer["track_id"] = response.track_id
        return answer

    @staticmethod
    def _run(work, future: concurrent.futures.Future) -> None:
        if not future.set_running_or_notify_cancel():
            return
        try:
            future.set_result(work())
        except KeyboardInterrupt:
            future.set_exception(NodeUnreachable("the console is stopping (Ctrl-C)"))
            raise
        except Exception as error:  # noqa: BLE001 - handed to the request that asked for the work
            future.set_exception(error)

    def _follow_graph(self) -> None:
        self.node_running = self.connection.node_is_running()
        if not self.node_running:
            return  # the subscriptions wait for the node to come back
        namespace, _, name = self.node_name.rpartition("/")
        try:
            published = self.connection.node.get_publisher_names_and_types_by_node(name, namespace or "/")
        except NodeNameNonExistentError:
            return
        cameras = cameras_published(self.node_name, published)
        for camera in set(self._topics) - set(cameras):
            self._forget(camera)
        for camera in cameras:
            if camera not in self._topics:
                topic = camera_topic(self.node_name, camera, "instances")
                on_array = lambda array, camera=camera: self._on_instances(camera, array)  # noqa: E731
                self._topics[camera] = _CameraTopics(self.connection.node.create_subscription(InstanceArray, topic, on_array, NEWEST_ONLY))
        watched_since = time.monotonic() - VIEWER_TIMEOUT_S
        for camera, topics in self._topics.items():
            watched = self.frames.watched_since(camera, watched_since)
            if watched and topics.debug_image is None:
                topic = camera_topic(self.node_name, camera, "debug_image")
                on_image = lambda msg, camera=camera: self._on_debug_image(camera, msg)  # noqa: E731
                topics.debug_image = self.connection.node.create_subscription(Image, topic, on_image, NEWEST_ONLY)
            elif not watched and topics.debug_image is not None:
                self.connection.node.destroy_subscription(topics.debug_image)
                topics.debug_image = None
        if cameras and self._prompts is None:
            self._refresh_prompts()

    def _forget(self, camera: str) -> None:
        topics = self._topics.pop(camera)
        self._arrays.pop(camera, None)
        for subscription in (topics.instances, topics.debug_image):
            if subscription is not None:
                self.connection.node.destroy_subscription(subscription)

    def _on_instances(self, camera: str, array) -> None:
        self._arrays[camera] = array
        if self._prompts is not None and {p.id for p in array.prompts} != {p["id"] for p in self._prompts}:
            self._refresh_prompts()  # someone else (sam3ctl, a parameter, a restart) changed them

    def _on_debug_image(self, camera: str, msg) -> None:
        self.frames.put(camera, msg)
        self.on_frame(camera)

    def _refresh_prompts(self) -> None:
        """GetPrompts, at most once per PROMPTS_REFRESH_S; the prompts stay as they were if it fails."""
        if time.monotonic() - self._prompts_asked_at < PROMPTS_REFRESH_S:
            return
        self._prompts_asked_at = time.monotonic()
        self.submit(self._get_prompts)

    def _get_prompts(self) -> None:
        response = self.connection.call(GetPrompts, "get_prompts", GetPrompts.Request(), missing_hint=UNCONFIGURED_HINT)
        self._prompts = active_prompts_view(response.active_prompts)
