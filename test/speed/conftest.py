"""Fixtures of the speed tests: a few small frames of real footage, and the engine run on them."""

import os

# Before transformers is imported: its optional `kernels` package would otherwise try the hub.
os.environ.setdefault("HF_HUB_OFFLINE", "1")

import numpy as np
import pytest

from sam3_ros.engine.concept_tracker import ConceptTracker, TrackerSettings
from sam3_ros.engine.prompt_registry import PromptRequest


@pytest.fixture(scope="session")
def small_frames(bikes_small) -> list[np.ndarray]:
    return bikes_small[:6]


def track(model, tokenizer, frames, texts=("person", "bicycle")) -> list[list[tuple]]:
    """Per frame, every reported instance as (track id, prompt id, score, box, mask)."""
    engine = ConceptTracker(model, tokenizer, TrackerSettings(confirm_frames=1))
    engine.add_prompts([PromptRequest(text) for text in texts])
    results = []
    for frame in frames:
        result = engine.process(frame)
        results.append([(i.track_id, i.prompt_id, i.score, i.box, i.mask) for i in result.instances])
    return results


def assert_same_tracks(expected, actual, score_tolerance=0.0, pixel_tolerance=0.0):
    """Same ids, prompts and boxes; scores within `score_tolerance`; masks differ on at most that share of pixels."""
    assert len(expected) == len(actual)
    for frame_expected, frame_actual in zip(expected, actual):
        assert [i[:2] for i in frame_expected] == [i[:2] for i in frame_actual]
        for (_, _, score, box, mask), (_, _, other_score, other_box, other_mask) in zip(frame_expected, frame_actual):
            assert abs(score - other_score) <= score_tolerance
            assert np.mean(mask != other_mask) <= pixel_tolerance
            if pixel_tolerance == 0.0:
                assert box == other_box


@pytest.fixture(scope="session")
def tracks():
    return track


@pytest.fixture(scope="session")
def same_tracks():
    return assert_same_tracks
