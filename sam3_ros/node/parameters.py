"""The node's ROS parameters: declaration with descriptions and ranges, and validated reading.

All are read when the node is configured (lifecycle), except `prompts`, which follows the prompt
service both ways, and `autostart`, read once at start-up. Each camera named in `cameras` also has
`<camera>.use_compressed` and `<camera>.use_depth`, declared at configure (docs/cameras.md).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from rcl_interfaces.msg import FloatingPointRange, IntegerRange, ParameterDescriptor
from rclpy.parameter import Parameter
from rclpy.qos import QoSProfile, ReliabilityPolicy, qos_profile_sensor_data

from sam3_ros.engine.concept_tracker import TrackerSettings
from sam3_ros.engine.model_loading import DEFAULT_MODEL
from sam3_ros.engine.vision_backends import check_vision_backend
from sam3_ros.engine.visual_prompts import DEFAULT_MAX_POINTS
from sam3_ros.outputs.depth_projection import DepthSettings

_BIG = 2**31 - 1


def _int(low: int, high: int = _BIG) -> dict:
    return {"integer_range": [IntegerRange(from_value=low, to_value=high, step=1)]}


def _float(low: float, high: float) -> dict:
    return {"floating_point_range": [FloatingPointRange(from_value=low, to_value=high, step=0.0)]}


# A threshold parameter's value for "what the model's config says", as a real checkpoint carries its own.
MODEL_OWN = -1.0


def _threshold() -> dict:
    return _float(MODEL_OWN, 1.0)


def _own_or(name: str, value: float) -> float | None:
    if value == MODEL_OWN:
        return None
    if not 0.0 <= value <= 1.0:
        raise ValueError(f"{name} must be in [0, 1], or {MODEL_OWN:g} for the model's own, got {value:g}")
    return value


# name -> (default, description, extra descriptor fields)
PARAMETERS = {
    "model": (
        DEFAULT_MODEL,
        "Hugging Face hub id or local directory of SAM 3 weights; 'tiny-random' for an untrained test model, "
        "'tiny-synthetic' for the packaged tiny model trained on synthetic coloured shapes",
        {},
    ),
    "device": ("auto", "torch device: auto (cuda if available), cpu, cuda, cuda:N", {}),
    "dtype": ("auto", "auto (bfloat16 on GPU, float32 on CPU), float32, bfloat16, float16", {}),
    "vision_backend": (
        "pytorch",
        "Vision backbone: pytorch, compile (torch.compile, warmed up at configure) or tensorrt (engine built once and cached; falls back to pytorch with a warning)",
        {},
    ),
    "tensorrt_cache_dir": ("", "TensorRT engine cache folder; empty = ~/.cache/sam3_ros/tensorrt", {}),
    "prompts": (Parameter.Type.STRING_ARRAY, "Concepts to track at start-up; kept in sync with the prompt service", {}),
    "cameras": (
        Parameter.Type.STRING_ARRAY,
        "Camera names, each tracked on the one model: <camera>/image in, ~/<camera>/instances, label_image, debug_image and "
        "markers out, <camera>.use_compressed and <camera>.use_depth as its own use_compressed and use_depth; "
        "empty = one unnamed camera on image, outputs directly under ~/",
        {},
    ),
    "detection_threshold": (
        MODEL_OWN,
        "Minimum detector score for a detection to count; -1 = the model's own (0.5 for SAM 3, the calibrated 0.15 for tiny-synthetic)",
        _threshold(),
    ),
    "new_track_threshold": (
        MODEL_OWN,
        "Minimum detector score for an unmatched detection to start a track; -1 = the model's own (0.7 for SAM 3, 0.45 for tiny-synthetic)",
        _threshold(),
    ),
    "confirm_frames": (3, "Consecutive frames a new track must be seen before it is published", _int(1, 1000)),
    "max_lost_frames": (30, "Frames a published track may stay unseen (occluded) before it ends", _int(0, 100000)),
    "visual_object_max_lost_frames": (
        150,
        "Frames a visual object (~/track_object) may stay unseen before it ends; -1 = only when removed (the detector never finds it again)",
        _int(-1, 100000),
    ),
    "refinement_hold_frames": (
        30,
        "Frames after a ~/refine_object call in which the detector may not re-condition that object",
        _int(0, 100000),
    ),
    "max_objects_per_prompt": (20, "Tracked objects per prompt", _int(1, 1000)),
    "max_objects_total": (50, "Tracked objects over all prompts", _int(1, 10000)),
    "max_prompts": (16, "Active prompts at most", _int(1, 1000)),
    "max_prompt_length": (120, "Characters per prompt at most", _int(1, 10000)),
    "max_exemplars": (8, "Exemplar boxes per prompt at most", _int(0, 1000)),
    "max_points_per_request": (
        DEFAULT_MAX_POINTS,
        "Points (clicks) per ~/track_object or ~/refine_object request at most; larger requests are refused",
        _int(1, 100000),
    ),
    "max_image_pixels": (4096 * 4096, "Largest accepted image (width*height)", _int(4)),
    "max_prompt_requests_per_second": (
        20.0,
        "~/set_prompts calls per second at most (bursts up to one second's worth); more are refused; 0 = no limit",
        _float(0.0, 100000.0),
    ),
    "out_of_memory_streak": (3, "Consecutive out-of-memory frames after which the object caps are halved (not below 1)", _int(1, 1000)),
    "state_file": (
        "",
        "JSON file that keeps the active prompt set across restarts (written atomically on every change, read at configure, wins over `prompts`); empty = off",
        {},
    ),
    "image_qos_reliability": ("best_effort", "Image subscription reliability: best_effort (sensor data) or reliable", {}),
    "image_qos_depth": (
        5,
        "Image subscription queue depth (the node still processes only the newest image; older ones are counted as dropped)",
        _int(1, 100),
    ),
    "use_compressed": (False, "Subscribe to image/compressed (sensor_msgs/CompressedImage) instead of image", {}),
    "publish_label_image": (True, "Publish ~/label_image (16UC1 track ids) when someone subscribes", {}),
    "publish_debug_image": (True, "Publish ~/debug_image (rgb8 overlay) when someone subscribes", {}),
    "use_depth": (False, "Match depth/image and depth/camera_info to each colour image and give instances a 3D position", {}),
    "depth_sync_slop": (0.05, "Largest stamp difference (s) between a colour image, its depth image and camera_info", _float(0.0001, 10.0)),
    "depth_sync_queue_size": (10, "Messages per topic kept waiting for their partners (approximate-time sync)", _int(1, 1000)),
    "min_depth_pixels": (20, "Fewer inlier depth pixels under a mask than this: the instance has no 3D position", _int(1)),
    "stall_timeout": (3.0, "Seconds without a camera image (while active) before diagnostics report a stall (WARN)", _float(0.01, 3600.0)),
    "autostart": (True, "Configure and activate at start-up; false leaves the node unconfigured for a lifecycle manager", {}),
}


@dataclass(frozen=True)
class NodeConfig:
    model: str
    device: str
    dtype: str
    vision_backend: str
    tensorrt_cache_dir: str
    prompts: tuple[str, ...]
    cameras: tuple[CameraInput, ...]
    tracker: TrackerSettings
    image_qos: QoSProfile
    publish_label_image: bool
    publish_debug_image: bool
    stall_timeout: float
    max_prompt_requests_per_second: float
    max_points_per_request: int
    out_of_memory_streak: int
    state_file: str


@dataclass(frozen=True)
class DepthInput:
    """How depth reaches the node (use_depth): approximate-time sync and the 3D settings."""

    sync_slop: float
    sync_queue_size: int
    settings: DepthSettings


@dataclass(frozen=True)
class CameraInput:
    """One camera: its name ("" for the one camera of a node without `cameras`) and how its images come."""

    name: str
    use_compressed: bool
    depth: DepthInput | None  # None: no depth for this camera

    def topic(self, relative: str) -> str:
        """An input topic of this camera: `image` is `<camera>/image`, or `image` for the unnamed camera."""
        return f"{self.name}/{relative}" if self.name else relative

    def output(self, name: str) -> str:
        return f"~/{self.name}/{name}" if self.name else f"~/{name}"


# A camera name is one token of a ROS topic name.
_CAMERA_NAME = re.compile(r"[A-Za-z][A-Za-z0-9_]*")


def declare_parameters(node) -> None:
    for name, (default, description, extra) in PARAMETERS.items():
        node.declare_parameter(name, default, ParameterDescriptor(description=description, **extra))


def image_qos(reliability: str, depth: int) -> QoSProfile:
    if reliability not in ("best_effort", "reliable"):
        raise ValueError(f"image_qos_reliability must be best_effort or reliable, got '{reliability}'")
    qos = QoSProfile(
        history=qos_profile_sensor_data.history,
        depth=depth,
        reliability=ReliabilityPolicy.BEST_EFFORT if reliability == "best_effort" else ReliabilityPolicy.RELIABLE,
        durability=qos_profile_sensor_data.durability,
    )
    return qos


def read_config(node) -> NodeConfig:
    """Read and validate every parameter; raises ValueError naming the bad parameter."""
    value = {name: node.get_parameter(name).value for name in PARAMETERS if name not in ("prompts", "cameras")}
    check_vision_backend(value["vision_backend"])
    depth = DepthInput(
        sync_slop=value["depth_sync_slop"],
        sync_queue_size=value["depth_sync_queue_size"],
        settings=DepthSettings(min_pixels=value["min_depth_pixels"]),
    )
    prompts = node.get_parameter_or("prompts", Parameter("prompts", value=[])).value or []
    names = node.get_parameter_or("cameras", Parameter("cameras", value=[])).value or []
    cameras = camera_inputs(node, list(names), value["use_compressed"], value["use_depth"], depth)
    tracker = TrackerSettings(
        confirm_frames=value["confirm_frames"],
        max_lost_frames=value["max_lost_frames"],
        refinement_hold_frames=value["refinement_hold_frames"],
        visual_object_max_lost_frames=value["visual_object_max_lost_frames"],
        max_objects_per_prompt=value["max_objects_per_prompt"],
        max_objects_total=value["max_objects_total"],
        max_prompts=value["max_prompts"],
        max_prompt_length=value["max_prompt_length"],
        max_exemplars=value["max_exemplars"],
        max_image_pixels=value["max_image_pixels"],
        detection_threshold=_own_or("detection_threshold", value["detection_threshold"]),
        new_track_threshold=_own_or("new_track_threshold", value["new_track_threshold"]),
    )
    return NodeConfig(
        model=value["model"],
        device=value["device"],
        dtype=value["dtype"],
        vision_backend=value["vision_backend"],
        tensorrt_cache_dir=value["tensorrt_cache_dir"],
        prompts=tuple(prompts),
        cameras=cameras,
        tracker=tracker,
        image_qos=image_qos(value["image_qos_reliability"], value["image_qos_depth"]),
        publish_label_image=value["publish_label_image"],
        publish_debug_image=value["publish_debug_image"],
        stall_timeout=value["stall_timeout"],
        max_prompt_requests_per_second=value["max_prompt_requests_per_second"],
        max_points_per_request=value["max_points_per_request"],
        out_of_memory_streak=value["out_of_memory_streak"],
        state_file=value["state_file"],
    )


def camera_inputs(node, names: list[str], use_compressed: bool, use_depth: bool, depth: DepthInput) -> tuple[CameraInput, ...]:
    """The cameras of `names` (none: the one unnamed camera), each with its own use_compressed and
    use_depth (declared here on first use, defaulting to the node's); raises ValueError for a bad name."""
    if not names:
        return (CameraInput("", use_compressed, depth if use_depth else None),)
    for name in names:
        if not _CAMERA_NAME.fullmatch(name):
            raise ValueError(f"cameras: '{name}' is no camera name: use letters, digits and underscores, starting with a letter")
    if len(set(names)) < len(names):
        raise ValueError(f"cameras: {names} names a camera twice")
    cameras = []
    for name in names:
        own = {}
        for option, default in (("use_compressed", use_compressed), ("use_depth", use_depth)):
            full = f"{name}.{option}"
            if not node.has_parameter(full):
                node.declare_parameter(
                    full, default, ParameterDescriptor(description=f"{option} of camera {name} (default: the node's {option})")
                )
            own[option] = node.get_parameter(full).value
        cameras.append(CameraInput(name, own["use_compressed"], depth if own["use_depth"] else None))
    return tuple(cameras)
