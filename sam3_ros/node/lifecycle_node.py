"""The `sam3` ROS 2 node: a managed (lifecycle) node around one ConceptTracker per camera, on one model.

Lifecycle: configure validates the parameters, loads the model and creates the topics and the
prompt services; activate starts processing; deactivate ignores incoming images but keeps prompts
and tracks; cleanup frees the model (prompts stay in the `prompts` parameter); shutdown ends the
process. With `autostart` (default) the node walks itself to active at start-up. Diagnostics go
to /diagnostics once a second in every state.

Cameras (parameter `cameras`, docs/cameras.md): each has its topics, outputs and tracker; the
trackers share the model and one track id counter, and prompts are node-wide. Without the
parameter the node has one unnamed camera on `image`, with its outputs directly under `~/`.

Threads: the executor delivers images, service calls and transitions; one worker thread runs the
model on each camera's newest image only, the cameras in turn. A new image replaces one of its
camera still waiting (counted as dropped), so the queue never grows, and prompt changes wait at
most one frame for the engine's lock.
"""

from __future__ import annotations

import gc
import threading
import time
from dataclasses import dataclass, field

import rclpy
import torch
from diagnostic_msgs.msg import DiagnosticArray
from geometry_msgs.msg import PointStamped
from rclpy.callback_groups import MutuallyExclusiveCallbackGroup
from rclpy.exceptions import ParameterException
from rclpy.executors import MultiThreadedExecutor
from rclpy.lifecycle import LifecycleNode, TransitionCallbackReturn
from rclpy.qos import DurabilityPolicy, HistoryPolicy, QoSProfile, ReliabilityPolicy
from rclpy.task import Future
from rclpy.time import Time
from sensor_msgs.msg import CameraInfo, CompressedImage, Image
from std_msgs.msg import Header
from visualization_msgs.msg import MarkerArray

from sam3_ros.engine.camera_group import CameraGroup
from sam3_ros.engine.concept_tracker import ConceptTracker, IdCounters
from sam3_ros.engine.frame_preprocessing import FrameError
from sam3_ros.engine.model_loading import MODEL_BANNERS, ModelLoadError, load_sam3
from sam3_ros.engine.prompt_registry import PromptError
from sam3_ros.engine.track_ids import TrackIdAllocator
from sam3_ros.msg import InstanceArray
from sam3_ros.node.health import HealthMonitor, device_memory_mib
from sam3_ros.node.image_conversion import (
    ImageConversionError,
    depth_from_image_msg,
    image_msg_from_array,
    intrinsics_from_camera_info,
    rgb_from_compressed_msg,
    rgb_from_image_msg,
)
from sam3_ros.node.message_conversion import (
    diagnostic_array_from_report,
    instance_array_from_result,
)
from sam3_ros.node.out_of_memory import FrameFailure, ObjectCaps, OutOfMemoryBackoff
from sam3_ros.node.parameters import CameraInput, NodeConfig, declare_parameters, read_config
from sam3_ros.node.prompt_service import PromptService
from sam3_ros.node.ros_process import init_rclpy, spin_until_done
from sam3_ros.node.rviz_markers import delete_all_markers, markers_for_instances
from sam3_ros.node.synchronised_input import SynchronisedSubscriptions
from sam3_ros.node.visual_prompt_service import DepthView, VisualPromptService
from sam3_ros.outputs.debug_overlay import draw_overlay
from sam3_ros.outputs.depth_projection import locate
from sam3_ros.outputs.label_image import label_image_from_masks
from sam3_ros.srv import GetPrompts, RefineObject, RemoveObject, SetPrompts, TrackObject

_THROTTLE_S = 5.0
DIAGNOSTICS_PERIOD_S = 1.0
DEPTH_TOPIC, DEPTH_INFO_TOPIC = "depth/image", "depth/camera_info"
# After a lifecycle shutdown the process exits, but only once the ChangeState response is on its
# way: it is sent after the transition callback returns.
_EXIT_DELAY_S = 0.5

SUCCESS, FAILURE = TransitionCallbackReturn.SUCCESS, TransitionCallbackReturn.FAILURE
# Requests wait in this queue while one is served (each waits up to a frame for the engine);
# rclpy's default of 10 loses the rest of a burst of concurrent calls, unanswered.
SERVICE_QUEUE_DEPTH = 256
_SERVICE_QOS = QoSProfile(
    history=HistoryPolicy.KEEP_LAST, depth=SERVICE_QUEUE_DEPTH, reliability=ReliabilityPolicy.RELIABLE, durability=DurabilityPolicy.VOLATILE
)


@dataclass(frozen=True)
class FrameInputs:
    colour: Image | CompressedImage
    depth: Image | None = None  # with use_depth: the matched depth image and its camera_info
    info: CameraInfo | None = None


@dataclass
class _Camera:
    """One camera's tracker, topics and frame state: what configure creates and cleanup destroys."""

    input: CameraInput
    tracker: ConceptTracker
    instances: object
    label: object
    debug: object
    markers: object
    colour_topic: str
    image_sub: object | None
    synchronised: SynchronisedSubscriptions | None
    out_of_memory: OutOfMemoryBackoff
    pending: FrameInputs | None = None  # its newest unprocessed frame
    shown_markers: set[int] = field(default_factory=set)  # track ids whose RViz markers are up
    marker_frame: str = ""  # the frame they are in


@dataclass
class _Interfaces:
    """What configure creates and cleanup destroys."""

    cameras: list[_Camera]
    services: list
    clicked_point_sub: object | None  # with depth: RViz's "Publish Point" clicks


class Sam3Node(LifecycleNode):
    def __init__(self, **kwargs):
        super().__init__("sam3", **kwargs)
        declare_parameters(self)
        self.config: NodeConfig | None = None
        self.engine: CameraGroup | None = None
        self._interfaces: _Interfaces | None = None
        # Carried from one engine to the next (and shared by the cameras), so ids are never reused.
        self._id_counters = IdCounters()
        self._track_ids = TrackIdAllocator()
        self._banner = ""
        self._active = False
        self._frame_sizes: dict[str, tuple[int, int]] = {}  # camera -> (width, height) of its latest frame
        self.depth_views: dict[str, DepthView] = {}  # camera -> with depth: where clicked 3D points land
        self.finished = Future()  # done after a lifecycle shutdown: main() then ends the process

        self._pending_lock = threading.Lock()  # guards each camera's pending frame
        self._turn = 0  # the camera whose frame goes first next, so that none starves
        self._processing = threading.Lock()  # held for a whole frame; cleanup waits for it
        self._wake = threading.Event()

        self.prompt_service = PromptService(self)
        self.visual_prompt_service = VisualPromptService(self)

        self.health = HealthMonitor(time.monotonic())
        self._diagnostics_pub = self.create_publisher(DiagnosticArray, "/diagnostics", 10)
        # Its own group, so that a long transition (loading the model) does not hold the reports up.
        self.create_timer(DIAGNOSTICS_PERIOD_S, self._publish_diagnostics, callback_group=MutuallyExclusiveCallbackGroup())

        self._running = True
        self._worker = threading.Thread(target=self._process_loop, name="sam3_inference", daemon=True)
        self._worker.start()
        if self.get_parameter("autostart").value and self.trigger_configure() == SUCCESS:
            self.trigger_activate()

    # -- lifecycle -------------------------------------------------------------------------------

    def on_configure(self, state) -> TransitionCallbackReturn:
        try:
            config = read_config(self)
        except ValueError as error:
            return self._configure_failed(f"invalid parameters: {error}")
        self.get_logger().info(
            f"configuring: loading SAM 3 '{config.model}' on device={config.device} dtype={config.dtype} "
            f"vision_backend={config.vision_backend}"
        )
        try:
            model, tokenizer = load_sam3(
                config.model,
                config.device,
                config.dtype,
                vision_backend=config.vision_backend,
                tensorrt_cache_dir=config.tensorrt_cache_dir or None,
            )
        except ModelLoadError as error:
            return self._configure_failed(str(error))
        except Exception as error:  # noqa: BLE001 - a broken model directory must not end the node
            return self._configure_failed(f"could not load SAM 3 from '{config.model}': {error!r}")
        cameras = [camera.name for camera in config.cameras]
        engine = CameraGroup(model, tokenizer, cameras, config.tracker, self._id_counters, self._track_ids)
        try:
            self.prompt_service.apply_start_prompts(engine, config)
        except PromptError as error:
            return self._configure_failed(f"parameter prompts: {error}")
        self.config, self.engine = config, engine
        self.prompt_service.configured(engine, config)
        self._banner = MODEL_BANNERS.get(config.model, "")
        dtype = str(engine.dtype).removeprefix("torch.")
        depth = any(camera.depth is not None for camera in config.cameras)
        # Before the subscriptions: their first images count on the cameras' health.
        self.health.configured(config.model, str(engine.device), dtype, depth, config.stall_timeout, model.mask_kernels, tuple(cameras))
        self._interfaces = self._create_interfaces(config, engine)
        self.get_logger().info(
            f"configured (inactive, vision backbone: {model.vision_backend}, mask NMS and hole filling: "
            f"{model.mask_kernels}): activate to start processing"
        )
        return SUCCESS

    def _configure_failed(self, reason: str) -> TransitionCallbackReturn:
        self.get_logger().error(
            f"configure failed: {reason}\nThe node stays unconfigured: fix the parameters "
            f"(ros2 param set {self.get_fully_qualified_name()} NAME VALUE) and configure again "
            f"(ros2 lifecycle set {self.get_fully_qualified_name()} configure)."
        )
        self.health.configure_failed(reason)
        return FAILURE

    @property
    def last_frame_size(self) -> tuple[int, int] | None:
        """(width, height) of the first camera's latest frame: exemplar boxes must fit in it."""
        config = self.config
        return self._frame_sizes.get(config.cameras[0].name) if config is not None else None

    def _create_camera(self, camera: CameraInput, tracker: ConceptTracker, config: NodeConfig) -> _Camera:
        colour_type, colour_topic = (CompressedImage, "image/compressed") if camera.use_compressed else (Image, "image")
        colour_topic = camera.topic(colour_topic)
        instances, label, debug, markers = (
            self.create_lifecycle_publisher(kind, camera.output(name), depth)
            for kind, name, depth in (
                (InstanceArray, "instances", 10),
                (Image, "label_image", 5),
                (Image, "debug_image", 5),
                (MarkerArray, "markers", 5),
            )
        )
        state = _Camera(
            camera, tracker, instances, label, debug, markers, colour_topic, None, None, OutOfMemoryBackoff(config.out_of_memory_streak)
        )
        if camera.depth is None:
            state.image_sub = self.create_subscription(colour_type, colour_topic, lambda msg: self._on_image(state, msg), config.image_qos)
        else:
            state.synchronised = SynchronisedSubscriptions(
                self,
                [(colour_type, colour_topic), (Image, camera.topic(DEPTH_TOPIC)), (CameraInfo, camera.topic(DEPTH_INFO_TOPIC))],
                config.image_qos,
                camera.depth.sync_queue_size,
                camera.depth.sync_slop,
                on_set=lambda colour, depth, info: self._on_synchronised(state, colour, depth, info),
                on_first=lambda colour: self._on_colour_image(state, colour),
            )
        return state

    def _create_interfaces(self, config: NodeConfig, engine: CameraGroup) -> _Interfaces:
        cameras = [self._create_camera(camera, engine.trackers[camera.name], config) for camera in config.cameras]
        # The node's default group also serves the parameter and lifecycle services: prompt changes
        # from the prompt services, `ros2 param set prompts` and configure then run one at a time,
        # so a service call mirroring its set into `prompts` never interleaves with a change of it.
        services = self.default_callback_group
        clicked_point_sub = None
        if any(camera.depth is not None for camera in config.cameras):
            clicked_point_sub = self.create_subscription(
                PointStamped, "clicked_point", self.visual_prompt_service.on_clicked_point, 10, callback_group=services
            )
        return _Interfaces(
            cameras=cameras,
            services=[
                self.create_service(
                    SetPrompts, "~/set_prompts", self.prompt_service.on_set_prompts, qos_profile=_SERVICE_QOS, callback_group=services
                ),
                self.create_service(
                    GetPrompts, "~/get_prompts", self.prompt_service.on_get_prompts, qos_profile=_SERVICE_QOS, callback_group=services
                ),
                self.create_service(
                    TrackObject,
                    "~/track_object",
                    self.visual_prompt_service.on_track_object,
                    qos_profile=_SERVICE_QOS,
                    callback_group=services,
                ),
                self.create_service(
                    RefineObject,
                    "~/refine_object",
                    self.visual_prompt_service.on_refine_object,
                    qos_profile=_SERVICE_QOS,
                    callback_group=services,
                ),
                self.create_service(
                    RemoveObject,
                    "~/remove_object",
                    self.visual_prompt_service.on_remove_object,
                    qos_profile=_SERVICE_QOS,
                    callback_group=services,
                ),
            ],
            clicked_point_sub=clicked_point_sub,
        )

    def on_activate(self, state) -> TransitionCallbackReturn:
        result = super().on_activate(state)  # enables the lifecycle publishers
        self._active = True
        self.health.activated(time.monotonic())
        inputs = ", ".join(self._inputs_description(camera) for camera in self._interfaces.cameras)
        prompts = ", ".join(p.text for p in self.engine.active_prompts()) or "none"
        self.get_logger().info(f"active: {inputs}; prompts: {prompts}")
        return result

    def _inputs_description(self, camera: _Camera) -> str:
        text = f"ready on '{self.resolve_topic_name(camera.colour_topic)}'"
        if camera.synchronised is not None:
            depth, info = (self.resolve_topic_name(camera.input.topic(topic)) for topic in (DEPTH_TOPIC, DEPTH_INFO_TOPIC))
            text += f" with depth from '{depth}' and '{info}' (approximate-time sync: {camera.synchronised.backend})"
        return text

    def on_deactivate(self, state) -> TransitionCallbackReturn:
        self._active = False
        self._drop_pending()
        for camera in self._interfaces.cameras:
            # Markers would otherwise stay in RViz while nothing updates them.
            if camera.shown_markers and camera.markers.get_subscription_count() > 0:
                header = Header(stamp=self.get_clock().now().to_msg(), frame_id=camera.marker_frame)
                camera.markers.publish(delete_all_markers(header))
            camera.shown_markers = set()
        self.health.deactivated()
        self.get_logger().info("inactive: incoming images are ignored; prompts and tracks are kept")
        return super().on_deactivate(state)

    def on_cleanup(self, state) -> TransitionCallbackReturn:
        self._release(destroy_interfaces=True)
        self.get_logger().info("cleaned up: model freed; prompts kept in the 'prompts' parameter")
        return SUCCESS

    def on_shutdown(self, state) -> TransitionCallbackReturn:
        self._release(destroy_interfaces=True)
        self.get_logger().info("shut down")
        timer = None

        def finish():
            self.destroy_timer(timer)
            self.finished.set_result(True)

        timer = self.create_timer(_EXIT_DELAY_S, finish)
        return SUCCESS

    def on_error(self, state) -> TransitionCallbackReturn:
        self.get_logger().error("a lifecycle transition raised an error; releasing the model (unconfigured)")
        self._release(destroy_interfaces=True)
        return SUCCESS

    def _release(self, destroy_interfaces: bool) -> None:
        """Stop processing and free the model; idempotent. The id counters survive for the next engine."""
        self._active = False
        self._drop_pending()
        with self._processing:  # let the frame in progress finish
            interfaces, self._interfaces = self._interfaces, None
            if interfaces is not None and destroy_interfaces:
                self._destroy_interfaces(interfaces)
            if self.engine is not None:
                self._id_counters = self.engine.id_counters()
            self.engine = self.config = None
        gc.collect()
        if torch.cuda.is_available():
            torch.cuda.empty_cache()
        self.health.cleaned_up()

    def _destroy_interfaces(self, interfaces: _Interfaces) -> None:
        for camera in interfaces.cameras:
            for publisher in (camera.instances, camera.label, camera.debug, camera.markers):
                self.destroy_lifecycle_publisher(publisher)
            if camera.image_sub is not None:
                self.destroy_subscription(camera.image_sub)
            if camera.synchronised is not None:
                camera.synchronised.destroy()
        if interfaces.clicked_point_sub is not None:
            self.destroy_subscription(interfaces.clicked_point_sub)
        for service in interfaces.services:
            self.destroy_service(service)

    # -- images ----------------------------------------------------------------------------------

    def _on_colour_image(self, camera: _Camera, msg) -> None:
        self.health.image_received(time.monotonic(), camera.input.name)

    def _on_image(self, camera: _Camera, msg) -> None:
        self._on_colour_image(camera, msg)
        self._enqueue(camera, FrameInputs(msg))

    def _on_synchronised(self, camera: _Camera, colour, depth, info) -> None:
        self.health.inputs_synchronised(time.monotonic())
        self._enqueue(camera, FrameInputs(colour, depth, info))

    def _enqueue(self, camera: _Camera, inputs: FrameInputs) -> None:
        if not self._active:
            return  # inactive: images are ignored, not queued for later
        with self._pending_lock:
            if camera.pending is not None:
                self.health.frame_dropped(camera.input.name)
            camera.pending = inputs
        self._wake.set()

    def _drop_pending(self) -> None:
        interfaces = self._interfaces
        with self._pending_lock:
            for camera in interfaces.cameras if interfaces is not None else ():
                camera.pending = None

    def _next_frame(self) -> tuple[_Camera | None, FrameInputs | None]:
        """The next camera with a frame waiting, counting on from the one after the last served
        (no camera starves, whatever the rates), and that frame; the wake-up stays set while
        another camera's frame waits."""
        interfaces = self._interfaces
        cameras = interfaces.cameras if interfaces is not None else []
        with self._pending_lock:
            order = cameras[self._turn :] + cameras[: self._turn]
            waiting = [camera for camera in order if camera.pending is not None]
            if len(waiting) <= 1:
                self._wake.clear()
            if not waiting:
                return None, None
            camera = waiting[0]
            inputs, camera.pending = camera.pending, None
            self._turn = (cameras.index(camera) + 1) % len(cameras)
            return camera, inputs

    def _process_loop(self) -> None:
        while self._running:
            if not self._wake.wait(timeout=0.2):
                continue
            camera, inputs = self._next_frame()
            if inputs is not None:
                with self._processing:
                    self._process(camera, inputs)

    def _process(self, camera: _Camera, inputs: FrameInputs) -> None:
        msg = inputs.colour
        if self.engine is None or not self._active:
            return
        try:
            rgb = rgb_from_compressed_msg(msg) if isinstance(msg, CompressedImage) else rgb_from_image_msg(msg)
            result = camera.tracker.process(rgb, stamp=msg.header.stamp)
        except (ImageConversionError, FrameError) as error:
            self.get_logger().warning(f"skipping image: {error}", throttle_duration_sec=_THROTTLE_S)
            self.health.image_rejected(str(error))
            return
        except Exception as error:  # noqa: BLE001 - one bad frame must not stop the node
            failure = FrameFailure.from_error(error)
        else:
            failure = None
        # Handled here, once the exception is gone: its traceback holds the failed frame's tensors,
        # which emptying the CUDA cache could not give back while it lives.
        if failure is not None:
            if failure.out_of_memory:
                self._on_out_of_memory(camera, failure.description)
            else:
                self.get_logger().error(f"inference failed, frame skipped: {failure.description}", throttle_duration_sec=_THROTTLE_S)
                self.health.inference_failed(failure.description)
            return
        camera.out_of_memory.frame_succeeded()
        self._frame_sizes[camera.input.name] = (result.width, result.height)
        positions = self._positions(camera.input, result, inputs) if inputs.depth is not None else None
        array = instance_array_from_result(result, msg.header, positions, inputs.depth.header if inputs.depth else None)
        camera.instances.publish(array)
        positioned = sum(1 for position in (positions or {}).values() if position.valid)
        self.health.frame_processed(self._latency_s(msg.header.stamp), len(result.instances), positioned, camera.input.name)
        if self.config.publish_label_image and camera.label.get_subscription_count() > 0:
            camera.label.publish(image_msg_from_array(label_image_from_masks(result), "16UC1", msg.header))
        if self.config.publish_debug_image and camera.debug.get_subscription_count() > 0:
            overlay = draw_overlay(rgb, result, self._banner)
            camera.debug.publish(image_msg_from_array(overlay, "rgb8", msg.header))
        if camera.markers.get_subscription_count() > 0:
            markers, camera.shown_markers = markers_for_instances(array, camera.shown_markers)
            camera.marker_frame = array.depth_header.frame_id
            if markers.markers:
                camera.markers.publish(markers)

    def _on_out_of_memory(self, camera: _Camera, error: str) -> None:
        """Skip the frame; after a run of them on a camera, halve its object caps instead of failing for ever."""
        self.get_logger().error(f"out of memory, frame skipped: {error}", throttle_duration_sec=_THROTTLE_S)
        self.health.out_of_memory(error)
        gc.collect()
        tracker = camera.tracker
        if tracker.device.type == "cuda":
            torch.cuda.empty_cache()
        settings = tracker.settings
        lowered = camera.out_of_memory.out_of_memory(ObjectCaps(settings.max_objects_total, settings.max_objects_per_prompt))
        if lowered is not None:
            tracker.set_object_caps(lowered.total, lowered.per_prompt)
            self.health.object_caps_lowered(lowered.total, lowered.per_prompt)
            self.get_logger().warning(
                f"{camera.out_of_memory.streak} frames in a row ran out of memory: object caps lowered to "
                f"max_objects_total={lowered.total}, max_objects_per_prompt={lowered.per_prompt} until the next configure"
            )

    def _positions(self, camera: CameraInput, result, inputs: FrameInputs):
        """track id -> ObjectPosition for this frame, or None (with a warning) if its depth is unusable."""
        try:
            depth = depth_from_image_msg(inputs.depth)
            intrinsics = intrinsics_from_camera_info(inputs.info, depth.shape[1], depth.shape[0])
        except ImageConversionError as error:
            self.get_logger().warning(f"no 3D positions for this frame: {error}", throttle_duration_sec=_THROTTLE_S)
            return None
        self.depth_views[camera.name] = DepthView(inputs.depth.header.frame_id, intrinsics, depth.shape, (result.height, result.width))
        return {i.track_id: locate(i.mask, depth, intrinsics, camera.depth.settings) for i in result.instances}

    def _latency_s(self, stamp) -> float:
        return (self.get_clock().now() - Time.from_msg(stamp)).nanoseconds / 1e9

    # -- diagnostics -----------------------------------------------------------------------------

    def _publish_diagnostics(self) -> None:
        # The prompts parameter mirrors the active set and, unlike the engine, never waits for a frame.
        prompts = len(self.get_parameter("prompts").value or [])
        engine = self.engine
        report = self.health.report(time.monotonic(), prompts, device_memory_mib(engine.device if engine else None))
        hardware_id = str(engine.device) if engine else "none"
        stamp = self.get_clock().now().to_msg()
        self._diagnostics_pub.publish(diagnostic_array_from_report(report, self.get_name(), hardware_id, stamp))

    def destroy_node(self):
        self._running = False
        self._wake.set()
        self._worker.join(timeout=5.0)
        # The context may already be shut down (Ctrl-C): free the model but leave the entities to
        # Node.destroy_node.
        self._release(destroy_interfaces=False)
        return super().destroy_node()


def main(args=None) -> None:
    init_rclpy(args)
    try:
        node = Sam3Node()
    except (ParameterException, ValueError) as error:  # a parameter value outside its declared range
        rclpy.logging.get_logger("sam3").fatal(str(error))
        rclpy.try_shutdown()
        raise SystemExit(1) from error
    except KeyboardInterrupt:  # Ctrl-C while autostart was loading the model
        rclpy.try_shutdown()
        return
    spin_until_done(node, MultiThreadedExecutor(num_threads=3), done=node.finished)


if __name__ == "__main__":
    main()
