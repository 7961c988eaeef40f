"""ConceptTracker.snapshot/restore, which the annotation tool's checkpoints are made of."""

import io

import pytest
import torch

from sam3_ros.engine.concept_tracker import ConceptTracker, TrackerSettings
from sam3_ros.engine.prompt_registry import PromptRequest
from sam3_ros.engine.tiny_model import build_tiny_sam3


def _outcome(result):
    return [(i.track_id, i.prompt_id, i.score, i.box, i.frames_tracked, i.mask.tobytes()) for i in result.instances]


def test_a_restored_tracker_continues_exactly_like_the_original(small_bikes_frames):
    frames = small_bikes_frames
    model, tokenizer = build_tiny_sam3()
    original = ConceptTracker(model, tokenizer)
    original.replace_prompts([PromptRequest("person"), PromptRequest("bicycle")])
    for frame in frames[:6]:
        original.process(frame)
    snapshot = original.snapshot()
    continued = [_outcome(original.process(frame)) for frame in frames[6:]]

    # A fresh tracker, with other prompts even, becomes the original as it was at the snapshot;
    # processing more frames on the original afterwards did not change the snapshot.
    restored = ConceptTracker(model, tokenizer)
    restored.replace_prompts([PromptRequest("car")])
    restored.restore(snapshot)
    assert [p.text for p in restored.active_prompts()] == ["person", "bicycle"]
    assert [_outcome(restored.process(frame)) for frame in frames[6:]] == continued
    assert any(continued), "tracks must be reported after the snapshot for the comparison to mean anything"


def test_restore_refuses_a_snapshot_of_other_settings():
    model, tokenizer = build_tiny_sam3()
    snapshot = ConceptTracker(model, tokenizer, TrackerSettings(confirm_frames=2)).snapshot()
    with pytest.raises(ValueError, match="snapshot"):
        ConceptTracker(model, tokenizer, TrackerSettings(confirm_frames=3)).restore(snapshot)


def test_restore_refuses_a_snapshot_of_an_earlier_version_with_the_reason():
    model, tokenizer = build_tiny_sam3()
    settings = TrackerSettings()
    earlier = io.BytesIO()  # the layout of 0.2.0's snapshots: the session's fields at the top level
    torch.save({"settings": settings, "session": None, "frames_seen": 3, "prompts": []}, earlier)
    with pytest.raises(ValueError, match="earlier sam3_ros version"):
        ConceptTracker(model, tokenizer, settings).restore(earlier.getvalue())
