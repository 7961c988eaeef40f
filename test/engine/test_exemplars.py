"""Exemplar boxes: refused cleanly without torchvision; otherwise handed to the detector once."""

import pytest
import torch

from sam3_ros.engine.concept_tracker import EXEMPLARS_SUPPORTED
from sam3_ros.engine.prompt_registry import ExemplarBox, PromptError, PromptRequest

CUP_EXEMPLARS = (ExemplarBox(10, 20, 50, 60), ExemplarBox(0, 0, 160, 68, positive=False))


@pytest.mark.skipif(EXEMPLARS_SUPPORTED, reason="torchvision is installed")
@pytest.mark.parametrize("operation", ["add_prompts", "replace_prompts"])
def test_exemplars_without_torchvision_are_refused_and_change_nothing(make_tracker, operation):
    tracker = make_tracker("person")
    before = tracker.active_prompts()

    with pytest.raises(PromptError, match="torchvision"):
        getattr(tracker, operation)([PromptRequest("cup", CUP_EXEMPLARS)])

    assert tracker.active_prompts() == before


@pytest.mark.skipif(not EXEMPLARS_SUPPORTED, reason="exemplar boxes need torchvision's roi_align")
def test_exemplars_reach_the_detector_of_their_prompt_once(make_tracker, tiny_sam3, hooks, bikes_frames):
    model, _ = tiny_sam3
    detector_boxes = []  # per detector call: (input_boxes, input_boxes_labels) or None
    hooks.append(
        model.detector_model.register_forward_pre_hook(
            lambda module, args, kwargs: detector_boxes.append(
                None if kwargs.get("input_boxes") is None else (kwargs["input_boxes"], kwargs["input_boxes_labels"])
            ),
            with_kwargs=True,
        )
    )
    tracker = make_tracker()
    person, cup = tracker.add_prompts([PromptRequest("person"), PromptRequest("cup", CUP_EXEMPLARS)])
    frame = bikes_frames[0]  # 160x68, the frame the boxes were drawn on

    tracker.process(frame)
    first_frame_calls = list(detector_boxes)
    tracker.process(frame)

    # The detector runs once per prompt, in prompt order: text only for "person".
    assert len(first_frame_calls) == 2 and first_frame_calls[0] is None
    boxes, labels = first_frame_calls[1]
    expected = [[30 / 160, 40 / 68, 40 / 160, 40 / 68], [0.5, 0.5, 1.0, 1.0]]  # cx, cy, w, h normalised
    torch.testing.assert_close(boxes, torch.tensor([expected]))
    assert labels.tolist() == [[1, 0]]
    assert detector_boxes[2:] == [None, None], "exemplars are spent after one frame"
    assert {p.text: p.exemplars for p in tracker.active_prompts()} == {"person": (), "cup": ()}
