"""Visual prompts: objects tracked from clicks and boxes next to the concept tracks, refined by clicks."""

import numpy as np
import pytest
import torch
from transformers import Sam3TrackerVideoProcessor
from transformers.models.sam3_tracker_video.modeling_sam3_tracker_video import Sam3TrackerVideoInferenceSession

from sam3_ros.engine.concept_tracker import ConceptTracker, TrackerSettings
from sam3_ros.engine.prompt_registry import PromptRequest
from sam3_ros.engine.tiny_model import build_tiny_sam3
from sam3_ros.engine.track_ids import TrackIdBook
from sam3_ros.engine.visual_prompts import VISUAL_PROMPT_ID, Click, VisualPrompt, VisualPromptError

BOX_ON_A_RIDER = VisualPrompt(clicks=(Click(70, 30), Click(20, 60, positive=False)), box=(50.0, 5.0, 110.0, 60.0))
# Logits of the same maths on the same features; float summation order (the batched tracker) only.
LOGIT_TOLERANCE = 1e-5


def _object_index(tracker, track_id):
    return tracker.session.obj_id_to_idx(tracker._stream.ids.object_of(track_id))


def test_a_clicked_object_is_what_transformers_tracker_computes_for_the_same_clicks(make_tracker, bikes_frames):
    """The click frame and the next one, against Sam3TrackerVideoModel.forward with Sam3TrackerVideoProcessor's inputs."""
    tracker = make_tracker("person")
    tracker.process(bikes_frames[0])

    track_id = tracker.track_object(BOX_ON_A_RIDER, "rider")
    reference = _ReferenceTracker(tracker)
    reference.click(0, BOX_ON_A_RIDER)
    engine_click = _outputs(tracker, track_id)["cond_frame_outputs"][0]
    reference_click = reference.outputs["cond_frame_outputs"][0]

    _assert_same_logits("click frame", engine_click, reference_click)
    assert torch.allclose(engine_click["maskmem_features"], reference_click["maskmem_features"], atol=LOGIT_TOLERANCE)

    tracker.process(bikes_frames[1])
    reference.propagate(1)
    _assert_same_logits(
        "next frame", _outputs(tracker, track_id)["non_cond_frame_outputs"][1], reference.outputs["non_cond_frame_outputs"][1]
    )


def test_a_refined_object_is_what_transformers_tracker_computes_for_the_same_clicks(make_tracker, bikes_frames):
    """Extra clicks on a tracked object on the most recent frame, then the next frame, against
    Sam3TrackerVideoModel.forward given the same clicks on the same frame.

    Upstream's forward keeps a correction on an already tracked frame as an ordinary frame; the
    engine keeps it as a conditioning frame (visual_prompts.condition_on_clicks), so the reference's
    output is moved there, the one deliberate difference, before the next frame.
    """
    tracker = make_tracker()
    tracker.process(bikes_frames[0])
    track_id = tracker.track_object(BOX_ON_A_RIDER, "rider")
    reference = _ReferenceTracker(tracker)
    reference.click(0, BOX_ON_A_RIDER)
    tracker.process(bikes_frames[1])
    reference.propagate(1)
    correction = VisualPrompt(clicks=(Click(90, 20), Click(60, 50, positive=False), Click(100, 40, positive=False)))

    tracker.refine_object(track_id, correction)
    reference.click(1, correction)
    engine_refined = _outputs(tracker, track_id)["cond_frame_outputs"][1]
    reference_refined = reference.outputs["non_cond_frame_outputs"][1]

    assert not torch.allclose(engine_refined["pred_masks"], reference.propagated[1]["pred_masks"], atol=LOGIT_TOLERANCE)
    _assert_same_logits("refinement frame", engine_refined, reference_refined)
    assert torch.allclose(engine_refined["maskmem_features"], reference_refined["maskmem_features"], atol=LOGIT_TOLERANCE)

    reference.outputs["cond_frame_outputs"][1] = reference.outputs["non_cond_frame_outputs"].pop(1)
    tracker.process(bikes_frames[2])
    reference.propagate(2)
    _assert_same_logits(
        "next frame", _outputs(tracker, track_id)["non_cond_frame_outputs"][2], reference.outputs["non_cond_frame_outputs"][2]
    )


class _ReferenceTracker:
    """transformers' own Sam3TrackerVideoModel on the engine's model and frame features (of frames the
    engine has run), tracking one object (id 7) from clicks given through Sam3TrackerVideoProcessor."""

    def __init__(self, tracker):
        self._engine = tracker.session
        width, height = tracker._stream.frame_size
        self.session = Sam3TrackerVideoInferenceSession(video_height=height, video_width=width, inference_device="cpu", dtype=torch.float32)
        self.session.processed_frames = {}
        self._model = tracker._model.tracker_model
        self._processor = _points_only_processor(tracker._model.config.image_size)
        self.propagated = {}  # frame index -> output of propagation alone, before clicks on that frame

    @property
    def outputs(self):
        return self.session.output_dict_per_obj[0]

    def click(self, frame_idx: int, prompt: VisualPrompt) -> None:
        self._see(frame_idx)
        self._processor.add_inputs_to_inference_session(
            self.session,
            frame_idx=frame_idx,
            obj_ids=[7],
            input_points=[[[[c.x, c.y] for c in prompt.clicks]]] if prompt.clicks else None,
            input_labels=[[[int(c.positive) for c in prompt.clicks]]] if prompt.clicks else None,
            input_boxes=[[list(prompt.box)]] if prompt.box is not None else None,
        )
        with torch.inference_mode():
            self._model(inference_session=self.session, frame_idx=frame_idx)

    def propagate(self, frame_idx: int) -> None:
        self._see(frame_idx)
        with torch.inference_mode():
            self._model(inference_session=self.session, frame_idx=frame_idx, run_mem_encoder=False)
        self.propagated[frame_idx] = self.outputs["non_cond_frame_outputs"][frame_idx]

    def _see(self, frame_idx: int) -> None:
        self.session.cache.cache_vision_features(frame_idx, self._engine.cache.get_vision_features(frame_idx))
        self.session.processed_frames[frame_idx] = self._engine.processed_frames[frame_idx]


def _outputs(tracker, track_id):
    return tracker.session.output_dict_per_obj[_object_index(tracker, track_id)]


def _assert_same_logits(what: str, engine_output, reference_output) -> None:
    difference = (engine_output["pred_masks"] - reference_output["pred_masks"]).abs().max()
    print(f"{what}: largest logit difference {difference:.2e}")
    assert torch.allclose(engine_output["pred_masks"], reference_output["pred_masks"], atol=LOGIT_TOLERANCE)


def _points_only_processor(image_size: int) -> Sam3TrackerVideoProcessor:
    """transformers' processor for points and boxes; built without its image processors, which need
    torchvision and take no part in normalising points."""
    processor = Sam3TrackerVideoProcessor.__new__(Sam3TrackerVideoProcessor)
    processor.target_size, processor.point_pad_value = image_size, -10
    return processor


def test_visual_and_concept_objects_share_the_session_and_prompt_changes_leave_visual_objects_alone(make_tracker, bikes_frames):
    tracker = make_tracker("person", confirm_frames=1)
    tracker.process(bikes_frames[0])
    track_id = tracker.track_object(BOX_ON_A_RIDER, "rider")

    results = [tracker.process(frame) for frame in bikes_frames[1:4]]
    tracker.replace_prompts([PromptRequest("bicycle")])
    results += [tracker.process(frame) for frame in bikes_frames[4:8]]
    tracker.remove_prompts(texts=["bicycle"])
    results += [tracker.process(frame) for frame in bikes_frames[8:10]]

    for result in results:
        visual = [i for i in result.instances if i.prompt_id == VISUAL_PROMPT_ID]
        assert [(i.track_id, i.prompt_text) for i in visual] == [(track_id, "rider")]
    assert {i.prompt_text for i in results[2].instances} == {"rider", "person"}
    assert {i.prompt_text for i in results[5].instances} == {"rider", "bicycle"}
    assert tracker.visual_objects() == {track_id: "rider"}


def test_overlapping_visual_objects_both_keep_their_pixels(make_tracker, bikes_frames):
    """A part and its whole: each click is its own intent, so neither takes the other's pixels."""
    tracker = make_tracker()
    tracker.process(bikes_frames[0])
    whole = tracker.track_object(VisualPrompt(box=BOX_ON_A_RIDER.box), "rider")
    part = tracker.track_object(VisualPrompt(clicks=(Click(70, 30),)), "helmet")

    results = [tracker.process(frame) for frame in bikes_frames[1:6]]

    for result in results:
        masks = {i.track_id: i.mask for i in result.instances}
        assert sorted(masks) == [whole, part]
        assert (masks[whole] & masks[part]).any()
    assert all(i.prompt_id == VISUAL_PROMPT_ID for result in results for i in result.instances)


def test_the_detector_never_matches_a_visual_object(make_tracker, bikes_frames, monkeypatch):
    """The detector finds 'person' where the operator clicked a person: two objects, both kept, and the
    person's detections are never matched to the visual object (no re-conditioning, no keep-alive)."""
    tracker = make_tracker("person", confirm_frames=1)
    first = tracker.process(bikes_frames[0])
    tracker.process(bikes_frames[1])
    person = next(i for i in tracker.process(bikes_frames[2]).instances if i.prompt_id != VISUAL_PROMPT_ID)
    x0, y0, x1, y1 = person.box
    track_id = tracker.track_object(VisualPrompt(box=(x0, y0, x1, y1)))
    visual_obj_id = tracker._stream.ids.object_of(track_id)
    model, matches = tracker._model, []

    def associate_and_record(*args, **kwargs):
        result = type(model)._associate_det_trk(model, *args, **kwargs)
        matches.append(result)
        return result

    monkeypatch.setattr(model, "_associate_det_trk", associate_and_record)
    later = [tracker.process(frame) for frame in bikes_frames[3:8]]

    assert first.instances  # the concept is detected from the start
    assert all(track_id in [i.track_id for i in result.instances] for result in later)
    assert all(person.track_id in [i.track_id for i in result.instances] for result in later)
    assert len(matches) == 5 and all(det_to_matched for _, _, det_to_matched, _, _ in matches)
    for _, _, det_to_matched, high_conf, _ in matches:
        assert all(visual_obj_id not in tracks for tracks in det_to_matched.values())
        assert visual_obj_id not in high_conf


def test_refinement_reconditions_only_that_object(make_tracker, bikes_frames):
    tracker = make_tracker("person")
    tracker.process(bikes_frames[0])
    first = tracker.track_object(BOX_ON_A_RIDER)
    second = tracker.track_object(VisualPrompt(box=(5.0, 5.0, 40.0, 60.0)))
    tracker.process(bikes_frames[1])
    session = tracker.session
    before = {obj_idx: dict(outputs["cond_frame_outputs"]) for obj_idx, outputs in session.output_dict_per_obj.items()}

    tracker.refine_object(second, VisualPrompt(clicks=(Click(10, 10, positive=False), Click(30, 40))))

    changed = [obj_idx for obj_idx, outputs in session.output_dict_per_obj.items() if outputs["cond_frame_outputs"] != before[obj_idx]]
    assert changed == [_object_index(tracker, second)]
    assert 1 in session.output_dict_per_obj[_object_index(tracker, second)]["cond_frame_outputs"]
    assert 1 not in session.output_dict_per_obj[_object_index(tracker, first)]["cond_frame_outputs"]


def test_the_detector_does_not_recondition_a_refined_object_within_the_hold_window(reconditioning_sam3, make_tracker, bikes_frames, hooks):
    model = reconditioning_sam3[0]
    tracker = make_tracker("person", model=reconditioning_sam3, confirm_frames=1, refinement_hold_frames=4)
    for frame in bikes_frames[:3]:
        result = tracker.process(frame)
    person = result.instances[0]
    tracker.refine_object(person.track_id, VisualPrompt(clicks=(Click(*_centre(person.box)),)))  # on session frame 2
    obj_id = tracker._stream.ids.object_of(person.track_id)
    held = []
    hooks.append(model.register_forward_pre_hook(lambda *_: held.append(obj_id in tracker.session.recondition_held_obj_ids)))
    reconditioned = []
    for frame in bikes_frames[3:9]:  # session frames 3 to 8
        tracker.process(frame)
        reconditioned.append(obj_id in _objects_the_detector_would_recondition(model, tracker.session))

    assert held == [True] * 4 + [False] * 2
    assert reconditioned == [False] * 4 + [True] * 2


def _objects_the_detector_would_recondition(model, session) -> set[int]:
    """Upstream's choice among tracks that all match a confident detection (the engine's override filters it)."""
    count, size = len(session.obj_ids), model.low_res_mask_size
    _, obj_ids = model._prepare_recondition_masks(
        inference_session=session,
        frame_idx=0,
        det_out={"mask": torch.ones(1, size, size)},
        trk_masks=torch.ones(count, size, size),
        trk_id_to_max_iou_high_conf_det={obj_id: 0 for obj_id in session.obj_ids},
        tracker_obj_scores_global=torch.ones(count),
    )
    return obj_ids


def _centre(box):
    x0, y0, x1, y1 = box
    return (x0 + x1) / 2, (y0 + y1) / 2


def test_removed_objects_end_and_ids_are_never_reused(make_tracker, bikes_frames):
    tracker = make_tracker()
    tracker.process(bikes_frames[0])  # no prompt: the backbone runs on this frame only when clicked
    first = tracker.track_object(BOX_ON_A_RIDER)
    tracker.process(bikes_frames[1])
    tracker.remove_object(first)
    second = tracker.track_object(BOX_ON_A_RIDER)
    tracker.reset()
    tracker.process(bikes_frames[2])
    third = tracker.track_object(BOX_ON_A_RIDER)

    result = tracker.process(bikes_frames[3])

    assert len({first, second, third}) == 3
    assert [i.track_id for i in result.instances] == [third]
    with pytest.raises(VisualPromptError, match=f"no live track has id {first}"):
        tracker.refine_object(first, BOX_ON_A_RIDER)


def test_a_visual_object_is_reported_at_once_and_ends_after_its_own_max_lost_frames_invisible():
    book = TrackIdBook(confirm_frames=3, max_lost_frames=30)
    track_id = book.adopt(obj_id=5, frame_index=0, max_lost_frames=2)
    kept = book.adopt(obj_id=6, frame_index=0, max_lost_frames=-1)

    updates = [book.update(frame, {5: visible, 6: visible}) for frame, visible in enumerate([True, False, False, False], start=1)]

    assert [update.reported for update in updates[:1]] == [{5: track_id, 6: kept}]
    assert [update.retired for update in updates] == [[], [], [], [5]]
    assert book.object_of(track_id) is None
    assert book.object_of(kept) == 6  # -1: it ends only when removed


def test_a_visual_object_the_tracker_no_longer_sees_ends_after_visual_object_max_lost_frames(bikes_frames):
    """The object leaves the view: from frame 2 on, the tracker's object score says "no object" everywhere."""
    model, tokenizer = build_tiny_sam3()
    tracker = ConceptTracker(model, tokenizer, TrackerSettings(max_lost_frames=30, visual_object_max_lost_frames=3))
    tracker.process(bikes_frames[0])
    track_id = tracker.track_object(BOX_ON_A_RIDER, "rider")
    seen = [track_id in [i.track_id for i in tracker.process(bikes_frames[1]).instances]]
    with torch.no_grad():
        model.tracker_model.mask_decoder.pred_obj_score_head.proj_out.bias.fill_(-8.0)

    alive = []
    for frame in bikes_frames[2:7]:
        seen.append(track_id in [i.track_id for i in tracker.process(frame).instances])
        alive.append(track_id in tracker.visual_objects())

    assert seen == [True] + [False] * 5
    assert alive == [True, True, True, False, False]  # unseen on 3 frames, ended on the 4th
    assert tracker.session.obj_ids == []
    with pytest.raises(VisualPromptError, match=f"no live track has id {track_id}"):
        tracker.refine_object(track_id, BOX_ON_A_RIDER)


@pytest.mark.parametrize(
    "prompt, reason",
    [
        (VisualPrompt(), "neither points nor a box"),
        (VisualPrompt(clicks=(Click(160, 10),)), "outside the 160x68 image"),
        (VisualPrompt(clicks=(Click(-1, 10),)), "outside"),
        (VisualPrompt(box=(10.0, 10.0, 10.0, 20.0)), "empty"),
        (VisualPrompt(box=(10.0, 10.0, 200.0, 20.0)), "reaches outside"),
        (VisualPrompt(clicks=(Click(10, 10, positive=False),)), "all points are negative"),
    ],
)
def test_bad_clicks_are_refused_with_a_reason(make_tracker, bikes_frames, prompt, reason):
    tracker = make_tracker("person")
    tracker.process(bikes_frames[0])

    with pytest.raises(VisualPromptError, match=reason):
        tracker.track_object(prompt)
    assert tracker.visual_objects() == {}


def test_clicks_before_any_frame_and_beyond_the_object_cap_are_refused(make_tracker, bikes_frames):
    tracker = make_tracker(max_objects_total=1)
    with pytest.raises(VisualPromptError, match="no frame has been processed yet"):
        tracker.track_object(BOX_ON_A_RIDER)
    tracker.process(bikes_frames[0])
    tracker.track_object(BOX_ON_A_RIDER)

    with pytest.raises(VisualPromptError, match="max_objects_total"):
        tracker.track_object(BOX_ON_A_RIDER)


def test_concept_objects_are_refined_but_not_removed(make_tracker, bikes_frames):
    tracker = make_tracker("person", confirm_frames=1)
    person = tracker.process(bikes_frames[0]).instances[0]

    with pytest.raises(VisualPromptError, match="remove the prompt"):
        tracker.remove_object(person.track_id)
    tracker.refine_object(person.track_id, VisualPrompt(clicks=(Click(*_centre(person.box)),)))


def _stream_after_clicks(make_tracker, bikes_frames, out_of_memory_once, fail: bool):
    """A rider clicked on frame 1 and refined on frame 2; with fail=True both calls first fail once."""
    tracker = make_tracker("person", confirm_frames=1)
    failing = out_of_memory_once(tracker._model)
    tracker.process(bikes_frames[0])
    tracker.process(bikes_frames[1])
    if fail:
        failing.armed = True
        with pytest.raises(torch.OutOfMemoryError):
            tracker.track_object(BOX_ON_A_RIDER, "rider")
        assert tracker.visual_objects() == {} and tracker.session.max_obj_id == max(tracker.session.obj_ids)
    rider = tracker.track_object(BOX_ON_A_RIDER, "rider")
    results = [tracker.process(bikes_frames[2])]
    correction = VisualPrompt(clicks=(Click(90, 20), Click(60, 50, positive=False)))
    if fail:
        outputs = tracker.session.output_dict_per_obj[_object_index(tracker, rider)]
        before = {kind: dict(frames) for kind, frames in outputs.items()}
        failing.armed = True
        with pytest.raises(torch.OutOfMemoryError):
            tracker.refine_object(rider, correction)
        outputs = tracker.session.output_dict_per_obj[_object_index(tracker, rider)]
        assert {kind: dict(frames) for kind, frames in outputs.items()} == before, "the failed refinement left its output"
        assert not tracker._stream.held_until
    tracker.refine_object(rider, correction)
    results += [tracker.process(frame) for frame in bikes_frames[3:6]]
    return tracker, results


def test_a_click_or_refinement_that_fails_in_the_tracker_changes_nothing(make_tracker, bikes_frames, out_of_memory_once):
    """All or nothing, as a frame: after the failed call the stream goes on as if it had never been made."""
    _, with_failures = _stream_after_clicks(make_tracker, bikes_frames, out_of_memory_once, fail=True)
    _, clean = _stream_after_clicks(make_tracker, bikes_frames, out_of_memory_once, fail=False)

    for a, b in zip(with_failures, clean, strict=True):
        assert [(i.track_id, i.prompt_text) for i in a.instances] == [(i.track_id, i.prompt_text) for i in b.instances]
        for x, y in zip(a.instances, b.instances):
            assert np.array_equal(x.mask, y.mask) and x.score == y.score
    assert "rider" in {i.prompt_text for i in with_failures[-1].instances}
