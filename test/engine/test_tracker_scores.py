"""Tracker scores in bfloat16: computed in float32, so confident scores stay below 1 and comparable.

Upstream turns the tracker's score logits into probabilities in the model's dtype; in bfloat16
every confident score then rounds to exactly 1.0, and the engine, which gives an overlapping pixel
to the object with the higher score, would decide by object order instead.
"""

import pytest
import torch

from sam3_ros.engine.concept_tracker import ConceptTracker, TrackerSettings
from sam3_ros.engine.prompt_registry import PromptRequest
from sam3_ros.engine.tiny_model import build_tiny_sam3


def tracked_scores(dtype: torch.dtype, frames) -> list[dict[int, float]]:
    """Per frame after the first (whose new objects carry detection scores), track id -> score."""
    model, tokenizer = build_tiny_sam3()
    tracker = ConceptTracker(model.to(dtype), tokenizer, TrackerSettings(confirm_frames=1))
    tracker.add_prompts([PromptRequest("person"), PromptRequest("bicycle")])
    results = [tracker.process(frame) for frame in frames]
    return [{i.track_id: i.score for i in result.instances} for result in results[1:]]


def test_bfloat16_tracker_scores_match_float32_and_do_not_round_to_one(bikes_frames):
    bf16 = tracked_scores(torch.bfloat16, bikes_frames[:4])
    fp32 = tracked_scores(torch.float32, bikes_frames[:4])

    assert [sorted(frame) for frame in bf16] == [[1, 2]] * 3
    for bf16_frame, fp32_frame in zip(bf16, fp32):
        for track_id, score in bf16_frame.items():
            assert score < 1.0, "a bfloat16 sigmoid rounds a confident score to exactly 1.0"
            assert score == pytest.approx(fp32_frame[track_id], abs=1e-3)
