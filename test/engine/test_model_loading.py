"""Loading SAM 3: clear errors when the weights or the device are not there, and the tiny model."""

import pytest
import torch

from sam3_ros.engine.concept_tracker import ConceptTracker, TrackerSettings
from sam3_ros.engine.model_loading import ModelLoadError, load_sam3, resolve_device, resolve_dtype
from sam3_ros.engine.prompt_registry import PromptRequest


def test_missing_weights_say_how_to_get_them(tmp_path):
    with pytest.raises(ModelLoadError) as error:
        load_sam3(str(tmp_path / "missing"), device="cpu")

    message = str(error.value)
    assert "hf auth login" in message
    assert "parameter model" in message
    assert str(tmp_path / "missing") in message


@pytest.mark.skipif(torch.cuda.is_available(), reason="needs a machine without CUDA")
def test_asking_for_cuda_without_cuda_is_an_error():
    with pytest.raises(ModelLoadError, match="no CUDA"):
        resolve_device("cuda")


def test_auto_dtype_on_the_cpu_is_float32():
    assert resolve_dtype("auto", torch.device("cpu")) is torch.float32


def test_the_tiny_model_loads_and_tracks(bikes_frames):
    model, tokenizer = load_sam3("tiny-random", device="cpu")
    tracker = ConceptTracker(model, tokenizer, TrackerSettings(confirm_frames=1))
    tracker.add_prompts([PromptRequest("person")])

    result = tracker.process(bikes_frames[0])

    assert next(model.parameters()).dtype is torch.float32
    assert [instance.prompt_text for instance in result.instances] == ["person"]
