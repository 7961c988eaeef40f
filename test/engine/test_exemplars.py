"""Exemplar boxes: the detector of their prompt sees them on the next frame only, as Meta's SAM 3 video
predictor uses boxes on the frame they were drawn on; the objects found then are tracked onwards.

Refused without torchvision (SAM 3 pools box features with its roi_align); CI has it.
"""

import os
from typing import NamedTuple

import cv2
import pytest
import torch

from sam3_ros.engine.prompt_registry import ExemplarBox, Prompt, PromptError, PromptRequest
from sam3_ros.engine.stream import prompts as stream_prompts
from sam3_ros.engine.stream.prompts import EXEMPLARS_SUPPORTED

needs_torchvision = pytest.mark.skipif(not EXEMPLARS_SUPPORTED, reason="exemplar boxes need torchvision's roi_align")

WIDTH, HEIGHT = 160, 68  # the bikes frames of conftest
CUP = ExemplarBox(10, 20, 50, 60)
CUP_NORMALISED = [30 / WIDTH, 40 / HEIGHT, 40 / WIDTH, 40 / HEIGHT]  # cx, cy, w, h


class DetectorCall(NamedTuple):
    boxes: torch.Tensor | None  # (1, N, 4) normalised cx, cy, w, h; None for text only
    labels: torch.Tensor | None  # (1, N): 1 positive, 0 negative
    prompts: int  # how many prompts the call detected at once
    output: object


class DetectorCalls(list):
    """Every detector call of the model, in order."""

    def record(self, module, args, kwargs, output):
        prompts = kwargs["attention_mask"].shape[0]
        self.append(DetectorCall(kwargs.get("input_boxes"), kwargs.get("input_boxes_labels"), prompts, output))

    def during(self, process, frame) -> list[DetectorCall]:
        """The calls made while `process(frame)` ran."""
        start = len(self)
        process(frame)
        return self[start:]


@pytest.fixture
def detector_calls(tiny_sam3, hooks) -> DetectorCalls:
    calls = DetectorCalls()
    model, _ = tiny_sam3
    # Registered after the engine's own pre-hook, so the recorded kwargs are what the detector ran with.
    hooks.append(model.detector_model.register_forward_hook(calls.record, with_kwargs=True))
    return calls


def assert_detection_differs(a, b) -> None:
    # The detector is deterministic: boxes it never saw would leave its output bit for bit the same.
    assert not torch.equal(a.pred_masks, b.pred_masks), "the boxes did not change the detector's masks"


def assert_same_detection(a, b, atol=0.0) -> None:
    for name in ("pred_logits", "pred_boxes", "pred_masks", "presence_logits"):
        torch.testing.assert_close(
            getattr(a, name), getattr(b, name), atol=atol, rtol=atol, msg=lambda detail, name=name: f"{name}: {detail}"
        )


def test_the_full_torch_set_runs_the_exemplar_tests():
    """scripts/test.sh (so CI) installs torch with torchvision: the tests below run there, none is skipped."""
    if os.environ.get("SAM3_TORCH") != "full":
        pytest.skip("not the full torch set (scripts/test.sh exports SAM3_TORCH=full)")
    assert EXEMPLARS_SUPPORTED, "the full torch set is installed but transformers finds no torchvision"


@pytest.mark.parametrize("operation", ["add_prompts", "replace_prompts"])
def test_exemplars_without_torchvision_are_refused_and_change_nothing(make_tracker, operation, monkeypatch):
    """What the demo's light torch set (no torchvision) answers; run everywhere as if torchvision were missing."""
    monkeypatch.setattr(stream_prompts, "EXEMPLARS_SUPPORTED", False)
    tracker = make_tracker("person")
    before = tracker.active_prompts()

    with pytest.raises(PromptError, match="torchvision"):
        getattr(tracker, operation)([PromptRequest("cup", (CUP,))])

    assert tracker.active_prompts() == before


@needs_torchvision
def test_a_positive_exemplar_reaches_its_prompts_detector_on_the_next_frame_only(make_tracker, detector_calls, bikes_frames):
    tracker = make_tracker()
    tracker.add_prompts([PromptRequest("person"), PromptRequest("cup", (CUP,))])

    first, second = (detector_calls.during(tracker.process, bikes_frames[0]) for _ in range(2))

    (boxed,) = [call for call in first if call.boxes is not None]
    assert boxed.prompts == 1, "another prompt's detection saw the boxes"
    torch.testing.assert_close(boxed.boxes, torch.tensor([[CUP_NORMALISED]]))
    assert boxed.labels.tolist() == [[1]]
    assert all(call.boxes is None for call in second), "exemplars are spent after one frame"
    assert {p.text: p.exemplars for p in tracker.active_prompts()} == {"person": (), "cup": ()}


@needs_torchvision
def test_a_box_changes_its_frames_detection_and_leaves_nothing_behind(make_tracker, detector_calls, bikes_frames):
    tracker = make_tracker()
    tracker.add_prompts([PromptRequest("cup", (CUP,))])

    (with_box,), (text_only,), (text_only_again,) = (detector_calls.during(tracker.process, bikes_frames[0]) for _ in range(3))

    assert_detection_differs(with_box.output, text_only.output)
    assert_same_detection(text_only.output, text_only_again.output)  # same frame, same text


@needs_torchvision
def test_a_negative_exemplar_reaches_the_detector_as_negative(make_tracker, detector_calls, bikes_frames):
    frame = bikes_frames[0]
    for box in (CUP, ExemplarBox(CUP.x_min, CUP.y_min, CUP.x_max, CUP.y_max, positive=False)):
        tracker = make_tracker()
        tracker.add_prompts([PromptRequest("cup", (box,))])
        tracker.process(frame)
        tracker.process(frame)
    positive, text_only, negative, _ = detector_calls

    assert positive.labels.tolist() == [[1]] and negative.labels.tolist() == [[0]]
    assert_detection_differs(negative.output, positive.output)
    assert_detection_differs(negative.output, text_only.output)


@needs_torchvision
def test_text_with_exemplars_equals_transformers_sam3_image_path(make_tracker, detector_calls, tiny_sam3, bikes_frames):
    """The detector output of the engine's frame equals transformers' Sam3Model + Sam3Processor on that image."""
    from transformers import Sam3Model, Sam3Processor
    from transformers.models.sam3.image_processing_sam3 import Sam3ImageProcessor

    model, tokenizer = tiny_sam3
    size = model.config.image_size
    # At the model's own size, the processor's resize and the engine's are both the identity.
    frame = cv2.resize(bikes_frames[0], (size, size), interpolation=cv2.INTER_AREA)
    xyxy = [[20.0, 30.0, 70.0, 100.0], [0.0, 0.0, float(size), float(size)]]
    labels = [1, 0]
    tracker = make_tracker()
    tracker.add_prompts([PromptRequest("red cup", tuple(ExemplarBox(*box, positive=bool(label)) for box, label in zip(xyxy, labels)))])
    tracker.process(frame)
    engine_output = detector_calls[0].output

    image_model = Sam3Model(model.config.detector_config).eval()
    image_model.load_state_dict(model.detector_model.state_dict())
    processor = Sam3Processor(Sam3ImageProcessor(size={"height": size, "width": size}), tokenizer)
    inputs = processor(images=frame, text="red cup", input_boxes=[xyxy], input_boxes_labels=[labels], return_tensors="pt")
    with torch.inference_mode():
        reference = image_model(**{k: v for k, v in inputs.items() if k != "original_sizes"})

    assert_same_detection(engine_output, reference, atol=1e-6)  # float rounding: 2e-8 seen


@needs_torchvision
def test_exemplars_added_to_an_active_prompt_keep_its_id_and_tracks(make_tracker, detector_calls, bikes_frames):
    tracker = make_tracker("cup")
    (cup,) = tracker.active_prompts()
    for frame in bikes_frames[:4]:
        before = tracker.process(frame)
    (track,) = [i.track_id for i in before.instances]

    assert tracker.add_prompts([PromptRequest("Cup", (CUP,))]) == [], "no new prompt"
    assert tracker.active_prompts() == [Prompt(cup.id, "cup", (CUP,))]
    with_boxes = tracker.process(bikes_frames[4])
    after = tracker.process(bikes_frames[5])

    assert detector_calls[4].boxes is not None and detector_calls[5].boxes is None
    assert track in [i.track_id for i in with_boxes.instances]
    assert track in [i.track_id for i in after.instances]


@needs_torchvision
@pytest.mark.parametrize(
    "box, normalised",
    [
        (ExemplarBox(0, 0, WIDTH, HEIGHT), [0.5, 0.5, 1.0, 1.0]),
        (ExemplarBox(WIDTH - 1, HEIGHT - 1, WIDTH, HEIGHT), [(WIDTH - 0.5) / WIDTH, (HEIGHT - 0.5) / HEIGHT, 1 / WIDTH, 1 / HEIGHT]),
        (ExemplarBox(0, 30, 1, 40), [0.5 / WIDTH, 35 / HEIGHT, 1 / WIDTH, 10 / HEIGHT]),
    ],
    ids=["whole frame", "bottom-right pixel", "left edge"],
)
def test_boxes_at_the_image_border_reach_the_detector(make_tracker, detector_calls, bikes_frames, box, normalised):
    tracker = make_tracker()
    tracker.add_prompts([PromptRequest("cup", (box,))])

    result = tracker.process(bikes_frames[0])

    (call,) = detector_calls
    torch.testing.assert_close(call.boxes, torch.tensor([[normalised]]))
    assert torch.isfinite(call.output.pred_masks).all() and result.prompts[0].text == "cup"


@pytest.mark.parametrize(
    "box, reason",
    [
        (ExemplarBox(10, 10, 10, 20), "zero area"),
        (ExemplarBox(10, 10, 20, 10), "zero area"),
        (ExemplarBox(20, 10, 10, 20), "inverted"),
        (ExemplarBox(10, 20, 20, 10), "inverted"),
    ],
)
@pytest.mark.parametrize("operation", ["add_prompts", "replace_prompts"])
def test_zero_area_and_inverted_boxes_are_refused_with_a_reason(make_tracker, operation, box, reason):
    tracker = make_tracker("person")
    before = tracker.active_prompts()

    with pytest.raises(PromptError, match=f"exemplar box .* of prompt 'cup' .*{reason}"):
        getattr(tracker, operation)([PromptRequest("person"), PromptRequest("cup", (CUP, box))])

    assert tracker.active_prompts() == before
