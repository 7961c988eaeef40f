"""sam3-ros-annotate refuses bad input with one line that says why, before it loads a model."""

import subprocess

import numpy as np
import pytest

from sam3_ros.node.node_process import executable_path

INSTALLED_TOOL = executable_path("sam3-ros-annotate")
# facebook/sam3 is never loaded here: every refusal comes before the model (HF_HUB_OFFLINE is set).
PROMPT = ["--prompt", "person"]


def _refusal(run_tool, *args) -> str:
    outcome = run_tool(*args)
    assert isinstance(outcome, str), f"expected a refusal, got exit code {outcome}"
    assert outcome.startswith("sam3-ros-annotate: ") and "\n" not in outcome
    return outcome


@pytest.fixture(scope="module")
def two_topic_bag(tmp_path_factory, bag_messages, write_bag):
    rgb = np.zeros((8, 8, 3), dtype=np.uint8)
    return write_bag(
        tmp_path_factory.mktemp("bags") / "bag",
        {"/left/image_raw": [bag_messages.image(rgb, "rgb8", 5)], "/right/image_raw": [bag_messages.image(rgb, "yuv422", 5)]},
    )


def test_missing_input_from_the_installed_executable(tmp_path):
    # The executable `ros2 run sam3_ros sam3-ros-annotate` starts: exit status 1, one line on stderr.
    done = subprocess.run(
        [INSTALLED_TOOL, tmp_path / "nowhere.mp4", *PROMPT, "--output", tmp_path / "out"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 1
    assert done.stderr.strip().splitlines() == [f"sam3-ros-annotate: input '{tmp_path / 'nowhere.mp4'}' does not exist"]
    assert not (tmp_path / "out").exists()


def test_unreadable_file(run_tool, tmp_path):
    fake = tmp_path / "clip.mp4"
    fake.write_text("not a video")
    assert "cannot read" in _refusal(run_tool, fake, *PROMPT, "--output", tmp_path / "out")


def test_corrupt_recording(run_tool, tmp_path):
    fake = tmp_path / "run.mcap"
    fake.write_bytes(b"\x89MCAP0\r\n garbage")
    assert "cannot read recording" in _refusal(run_tool, fake, *PROMPT, "--output", tmp_path / "out")


def test_topic_not_in_the_recording_lists_the_image_topics(run_tool, tmp_path, two_topic_bag):
    reason = _refusal(run_tool, two_topic_bag, "--topic", "/camera/image_raw", *PROMPT, "--output", tmp_path / "out")
    assert "'/camera/image_raw' is not in" in reason
    assert "/left/image_raw (sensor_msgs/msg/Image)" in reason and "/right/image_raw" in reason


def test_several_image_topics_need_a_topic(run_tool, tmp_path, two_topic_bag):
    reason = _refusal(run_tool, two_topic_bag, *PROMPT, "--output", tmp_path / "out")
    assert "--topic" in reason and "/left/image_raw" in reason


def test_unknown_image_encoding(run_tool, tmp_path, two_topic_bag):
    reason = _refusal(run_tool, two_topic_bag, "--topic", "/right/image_raw", *PROMPT, "--output", tmp_path / "out")
    assert "unsupported image encoding 'yuv422'" in reason


def test_topic_on_a_video_file(run_tool, tmp_path, bikes_path):
    assert "--topic" in _refusal(run_tool, bikes_path, "--topic", "/image", *PROMPT, "--output", tmp_path / "out")


def test_no_prompt_or_an_empty_one(run_tool, tmp_path, bikes_path):
    assert run_tool(bikes_path, "--output", tmp_path / "out") == 2  # argparse: --prompt is required
    assert "empty" in _refusal(run_tool, bikes_path, "--prompt", " ", "--output", tmp_path / "out")
