"""sam3-ros-annotate on rosbag2 recordings that the test writes itself with rosbags."""

import json

import cv2
import pytest
from rosbags.highlevel import AnyReader
from rosbags.rosbag2 import StoragePlugin

FRAMES = 15
# Irregular stamps far from zero, as a robot's clock gives them: the outputs must copy them.
STAMPS_NS = [1_700_000_000_000_000_000 + i * 66_666_667 + (i % 3) * 1_000 for i in range(FRAMES)]


@pytest.fixture(scope="module")
def recording(tmp_path_factory, small_bikes_frames, bag_messages, write_bag):
    """An MCAP rosbag2 folder: rgb8 and bgr8 Images on one topic, JPEGs of the same frames on another."""
    assert len(small_bikes_frames) == FRAMES
    images = [
        bag_messages.image(rgb, "rgb8" if i % 2 else "bgr8", STAMPS_NS[i], "camera_optical") for i, rgb in enumerate(small_bikes_frames)
    ]
    jpegs = [bag_messages.compressed(rgb, STAMPS_NS[i], "camera_optical") for i, rgb in enumerate(small_bikes_frames)]
    path = tmp_path_factory.mktemp("recording") / "bag"
    return write_bag(path, {"/camera/image_raw": images, "/camera/image_raw/compressed": jpegs})


def _annotate(run_tool, tmp_path, source, topic):
    output = tmp_path / "out"
    args = [source, "--topic", topic, "--prompt", "forklift", "--prompt", "pallet", "--model", "tiny-random", "--output", output]
    assert run_tool(*args) == 0
    return output


def _check_outputs(output, prompts=("forklift", "pallet"), frame_id="camera_optical"):
    with AnyReader([output / "instances.mcap"]) as reader:
        messages = [(t, reader.deserialize(raw, c.msgtype)) for c, t, raw in reader.messages()]
    assert [t for t, _ in messages] == STAMPS_NS
    assert [m.header.stamp.sec * 1_000_000_000 + m.header.stamp.nanosec for _, m in messages] == STAMPS_NS
    assert {m.header.frame_id for _, m in messages} == {frame_id}
    assert {(m.width, m.height) for _, m in messages} == {(160, 68)}
    vis = json.loads((output / "annotations.json").read_text())
    assert vis["videos"][0]["timestamps_ns"] == STAMPS_NS
    assert [c["name"] for c in vis["categories"]] == list(prompts)
    assert vis["annotations"]
    capture = cv2.VideoCapture(str(output / "annotated.mp4"))
    assert capture.get(cv2.CAP_PROP_FRAME_COUNT) == FRAMES
    capture.release()


def test_image_topic_of_a_rosbag2_folder(run_tool, tmp_path, recording):
    _check_outputs(_annotate(run_tool, tmp_path, recording, "/camera/image_raw"))


def test_compressed_topic_of_a_bare_mcap_file(run_tool, tmp_path, recording):
    (mcap_file,) = recording.glob("*.mcap")
    _check_outputs(_annotate(run_tool, tmp_path, mcap_file, "/camera/image_raw/compressed"))


def test_sqlite3_recording(run_tool, tmp_path, small_bikes_frames, bag_messages, write_bag):
    images = [bag_messages.image(rgb, "rgb8", STAMPS_NS[i], "cam") for i, rgb in enumerate(small_bikes_frames)]
    bag = write_bag(tmp_path / "bag", {"/image": images}, storage=StoragePlugin.SQLITE3)
    assert list(bag.glob("*.db3"))
    # One image topic: --topic may be left out.
    output = tmp_path / "out"
    assert run_tool(bag, "--prompt", "cup", "--model", "tiny-random", "--output", output) == 0
    _check_outputs(output, prompts=["cup"], frame_id="cam")
