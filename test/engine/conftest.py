"""Shared fixtures of the engine tests: real footage, the tiny SAM 3, and transformers driven by hand."""

import os

# Before transformers is imported: its optional `kernels` package would otherwise try the hub.
os.environ.setdefault("HF_HUB_OFFLINE", "1")


import numpy as np
import pytest
import torch
from transformers import Sam3VideoModel
from transformers.models.sam3_video.modeling_sam3_video import Sam3VideoInferenceSession

from sam3_ros.engine.concept_tracker import ConceptTracker, TrackerSettings
from sam3_ros.engine.frame_preprocessing import frame_to_pixel_values
from sam3_ros.engine.mask_postprocessing import masks_at_source_size
from sam3_ros.engine.prompt_registry import PromptRequest
from sam3_ros.engine.stream.session import DetectionLimits, StreamSession
from sam3_ros.engine.streaming_sam3 import StreamingSam3VideoModel
from sam3_ros.engine.tiny_model import build_tiny_sam3

BIKES_FRAMES = 30
# Sam3VideoConfig overrides that re-condition every second frame whatever the tracker's confidence,
# so conditioning frames pile up and the engine's conditioning-frame cap has work to do.
RECONDITIONING = dict(recondition_every_nth_frame=2, high_conf_thresh=0.0, high_iou_thresh=0.0)


@pytest.fixture(scope="session")
def bikes_frames(bikes_small) -> list[np.ndarray]:
    """The first BIKES_FRAMES frames of bikes.mp4 at 160x68 (test/conftest.py). Do not modify them."""
    return bikes_small[:BIKES_FRAMES]


@pytest.fixture(scope="module")
def tiny_sam3():
    """(model, tokenizer): one confident object per prompt and frame. Shared by a module's tests."""
    return build_tiny_sam3()


@pytest.fixture(scope="session")
def build_reconditioning_sam3():
    """Factory of identical (model, tokenizer) pairs whose tracker re-conditions every second frame."""
    return lambda: build_tiny_sam3(**RECONDITIONING)


@pytest.fixture(scope="module")
def reconditioning_sam3(build_reconditioning_sam3):
    return build_reconditioning_sam3()


@pytest.fixture(scope="module")
def crowded_sam3():
    """(model, tokenizer) re-conditioning every second frame, with three confident objects per prompt."""
    return build_tiny_sam3(num_queries=3, **RECONDITIONING)


@pytest.fixture
def make_tracker(tiny_sam3):
    """Factory: a ConceptTracker on the module's tiny model with `texts` already prompted."""

    def make(*texts: str, model=None, **settings) -> ConceptTracker:
        sam3, tokenizer = model or tiny_sam3
        tracker = ConceptTracker(sam3, tokenizer, TrackerSettings(**settings))
        if texts:
            tracker.add_prompts([PromptRequest(text) for text in texts])
        return tracker

    return make


@pytest.fixture
def hooks():
    """A list to put hook handles in; they are removed after the test, as the model outlives it."""
    handles = []
    yield handles
    for handle in handles:
        handle.remove()


class PlainStream:
    """transformers' own Sam3VideoModel and streaming session, driven by hand with no engine code.

    The model is a plain `Sam3VideoModel` holding a copy of the given model's weights, so neither
    the engine's object quota nor its hooks take part.
    """

    model_class = Sam3VideoModel

    def __init__(self, model, tokenizer, prompts: dict[int, str], dtype: torch.dtype = torch.float32):
        self.model = self.model_class(model.config).eval()
        self.model.load_state_dict(model.state_dict())
        self.model.to(dtype)
        self.dtype = dtype
        self.session = self.new_session(dtype)
        for prompt_id, text in prompts.items():
            tokens = tokenizer(text, return_tensors="pt", padding="max_length", max_length=32)
            self.session.prompts[prompt_id] = text
            self.session.prompt_input_ids[prompt_id] = tokens.input_ids
            self.session.prompt_attention_masks[prompt_id] = tokens.attention_mask
        self.frame_idx = 0

    @torch.inference_mode()
    def step(self, frame: np.ndarray) -> dict[int, np.ndarray]:
        """Track one frame; return each model object's mask at the frame's size."""
        pixel_values = frame_to_pixel_values(frame, self.model.config.image_size, "cpu", self.dtype)
        output = self.model(inference_session=self.session, frame=pixel_values, frame_idx=self.frame_idx)
        self.frame_idx += 1
        self.mask_logits = {obj_id: logits.float() for obj_id, logits in output.obj_id_to_mask.items()}  # low resolution
        height, width = frame.shape[:2]
        return {obj_id: masks_at_source_size(logits, height, width)[0].numpy() for obj_id, logits in output.obj_id_to_mask.items()}

    def new_session(self, dtype: torch.dtype):
        return Sam3VideoInferenceSession(inference_device="cpu", dtype=dtype)

    def logit_difference(self, reference: "PlainStream") -> float:
        """The largest difference of this frame's mask logits from `reference`'s, relative to each
        reference object's range; both streams must track the same objects."""
        assert sorted(self.mask_logits) == sorted(reference.mask_logits)
        return max(
            ((self.mask_logits[obj_id] - expected).abs().max() / expected.abs().max()).item()
            for obj_id, expected in reference.mask_logits.items()
        )


class EngineModelStream(PlainStream):
    """The same hand-driven session on the engine's model class (StreamingSam3VideoModel: batched
    tracker and detector, per-prompt caps), without the rest of the engine (no pruning, ids or post-processing)."""

    model_class = StreamingSam3VideoModel

    def new_session(self, dtype: torch.dtype):
        # With upstream's own caps and thresholds, as the plain stream has them.
        return StreamSession(DetectionLimits.of_config(self.model.config), inference_device="cpu", dtype=dtype)


@pytest.fixture(scope="session")
def engine_model_stream():
    """The EngineModelStream class, used like PlainStream."""
    return EngineModelStream


@pytest.fixture(scope="session")
def plain_stream():
    """The PlainStream class: PlainStream(model, tokenizer, {prompt_id: text}).step(frame)."""
    return PlainStream
