"""The engine's model applies SAM 3's per-prompt mask constraints exactly as transformers does,
with its prompt groups taken from the host instead of the device."""

import pytest
import torch
from transformers import Sam3VideoModel
from transformers.models.sam3_video.modeling_sam3_video import Sam3VideoInferenceSession

from sam3_ros.engine.visual_prompts import VISUAL_PROMPT_ID


@pytest.fixture(scope="module")
def model(tiny_sam3):
    return tiny_sam3[0]


def overlapping_masks(count: int, seed: int) -> torch.Tensor:
    """Near-identical masks: every pair overlaps far beyond SAM 3's thresholds."""
    generator = torch.Generator().manual_seed(seed)
    shared = torch.randn(16, 16, generator=generator)
    ranks = torch.randperm(count, generator=generator).float()[:, None, None]  # a clear winner per pixel
    return shared + 0.1 * ranks + 0.02 * torch.randn(count, 16, 16, generator=generator)


def session_with(obj_ids, prompts, last_occluded) -> Sam3VideoInferenceSession:
    session = Sam3VideoInferenceSession(inference_device="cpu", dtype=torch.float32)
    session.obj_ids = list(obj_ids)
    session.obj_id_to_prompt_id = dict(zip(obj_ids, prompts))
    session.obj_id_to_last_occluded = {o: torch.tensor([f]) for o, f in zip(obj_ids, last_occluded) if f is not None}
    return session


@pytest.mark.parametrize("seed", range(4))
def test_recent_occlusion_suppression_matches_transformers(model, seed):
    obj_ids, prompts = [3, 5, 6, 8, 9, 11], [1, 2, 1, 1, 2, 1]
    last_occluded = [-1, 4, 7, None, 2, 5]  # None: new this frame
    masks = overlapping_masks(len(obj_ids), seed)
    expected_metadata, metadata = {}, {}

    expected = Sam3VideoModel._suppress_overlapping_based_on_recent_occlusion(
        model, session_with(obj_ids, prompts, last_occluded), 12, masks.clone(), expected_metadata, {8}
    )
    result = model._suppress_overlapping_based_on_recent_occlusion(
        session_with(obj_ids, prompts, last_occluded), 12, masks.clone(), metadata, {8}
    )

    assert (expected != masks).any(), "the case must suppress something"
    assert torch.equal(result, expected)
    assert {o: t.tolist() for o, t in metadata["obj_id_to_last_occluded"].items()} == {
        o: t.tolist() for o, t in expected_metadata["obj_id_to_last_occluded"].items()
    }


@pytest.mark.parametrize("seed", range(4))
def test_area_shrinkage_suppression_matches_transformers(model, seed):
    masks = overlapping_masks(6, seed).unsqueeze(1)
    prompts = [1, 2, 1, 1, 2, 3]

    expected = Sam3VideoModel._suppress_object_pw_area_shrinkage(model, masks.clone(), prompts)

    assert (expected != masks).any()
    assert torch.equal(model._suppress_object_pw_area_shrinkage(masks.clone(), prompts), expected)


def test_overlapping_visual_objects_are_not_suppressed_for_a_recent_occlusion(model):
    """Each visual object is its own intent: the concept rule does not apply between two of them."""
    obj_ids, last_occluded = [3, 5, 6], [-1, 4, 7]
    masks = overlapping_masks(len(obj_ids), seed=0)
    as_one_concept = model._suppress_overlapping_based_on_recent_occlusion(
        session_with(obj_ids, [1, 1, 1], last_occluded), 12, masks.clone(), {}, set()
    )

    result = model._suppress_overlapping_based_on_recent_occlusion(
        session_with(obj_ids, [VISUAL_PROMPT_ID] * 3, last_occluded), 12, masks.clone(), {}, set()
    )

    assert (as_one_concept != masks).any(), "the same masks of one concept must suppress something"
    assert torch.equal(result, masks)


def test_overlapping_visual_objects_keep_their_area(model):
    masks = overlapping_masks(3, seed=0).unsqueeze(1)
    as_one_concept = model._suppress_object_pw_area_shrinkage(masks.clone(), [1, 1, 1])

    result = model._suppress_object_pw_area_shrinkage(masks.clone(), [VISUAL_PROMPT_ID] * 3)

    assert (as_one_concept != masks).any(), "the same masks of one concept must shrink one"
    assert torch.equal(result, masks)
