"""A frame that fails halfway leaves the engine exactly as before it (sam3_ros.engine.stream.rollback).

The failure is a real exception raised inside SAM 3's tracker while it adds new objects, the most
likely place for a real out-of-memory error: adding objects is where memory grows.
"""

import weakref

import numpy as np
import pytest
import torch

from sam3_ros.engine.concept_tracker import ConceptTracker, TrackerSettings
from sam3_ros.engine.prompt_registry import PromptRequest
from sam3_ros.engine.tiny_model import build_tiny_sam3
from sam3_ros.node.out_of_memory import FrameFailure


class OutOfMemoryWhileAddingObjects:
    """A pre-hook on the tracker's memory encoder that, once armed, raises while new objects are added.

    New objects are added with their detection masks as mask inputs on the current frame; the
    memory encoder then encodes their first memory. That call is where this one fails.
    """

    def __init__(self, tracker: ConceptTracker):
        self.tracker = tracker
        self.armed = False
        self.fired_for: list[int] = []  # the object indices being added when it fired

    def __call__(self, module, args):
        session = self.tracker.session
        frame_idx = max(session.processed_frames)
        adding = [obj_idx for obj_idx, inputs in session.mask_inputs_per_obj.items() if frame_idx in inputs]
        if self.armed and adding:
            self.armed, self.fired_for = False, adding
            self.failed_frame_pixels = weakref.ref(session.processed_frames[frame_idx])
            raise torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB (injected by the test)")


def run(frames, fail: bool):
    """person on frames 0-2; bicycle added before frame 3, which fails (fail=True) or is left out."""
    model, tokenizer = build_tiny_sam3()
    tracker = ConceptTracker(model, tokenizer, TrackerSettings(confirm_frames=1))
    injected = OutOfMemoryWhileAddingObjects(tracker)
    hook = model.tracker_model.memory_encoder.register_forward_pre_hook(injected)
    tracker.add_prompts([PromptRequest("person")])
    results = [tracker.process(frame) for frame in frames[:3]]
    tracker.add_prompts([PromptRequest("bicycle")])
    if fail:
        injected.armed = True
        with pytest.raises(torch.OutOfMemoryError):
            tracker.process(frames[3])
        assert injected.fired_for, "the injected error did not fire"
    results += [tracker.process(frame) for frame in frames[4:8]]
    hook.remove()
    return tracker, results


def test_a_frame_that_runs_out_of_memory_changes_nothing(bikes_frames):
    failed_tracker, with_failure = run(bikes_frames, fail=True)
    _, without_frame = run(bikes_frames, fail=False)

    for failed, clean in zip(with_failure, without_frame):
        assert [(i.track_id, i.prompt_text, i.frames_tracked) for i in failed.instances] == [
            (i.track_id, i.prompt_text, i.frames_tracked) for i in clean.instances
        ]
        for a, b in zip(failed.instances, clean.instances):
            assert np.array_equal(a.mask, b.mask) and a.score == b.score and a.box == b.box
    session = failed_tracker.session
    assert session.max_obj_id == max(session.obj_ids)
    assert [i.track_id for i in with_failure[-1].instances] == [1, 2]  # both concepts tracked on, no id lost


def test_nothing_of_a_failed_frame_outlives_the_report_of_its_failure(bikes_frames):
    """The node empties the CUDA cache after an out-of-memory frame: only what is unreferenced goes back."""
    model, tokenizer = build_tiny_sam3()
    tracker = ConceptTracker(model, tokenizer)
    injected = OutOfMemoryWhileAddingObjects(tracker)
    model.tracker_model.memory_encoder.register_forward_pre_hook(injected)
    tracker.add_prompts([PromptRequest("person")])
    injected.armed = True
    try:
        tracker.process(bikes_frames[0])
    except Exception as error:  # noqa: BLE001 - as the node's inference thread catches it
        failure = FrameFailure.from_error(error)

    assert failure.out_of_memory and "injected by the test" in failure.description
    assert injected.failed_frame_pixels() is None, "the failed frame's pixels are still referenced"
