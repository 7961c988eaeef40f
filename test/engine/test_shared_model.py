"""Several streams on one model: two trackers share one loaded SAM 3, frames of two footages
interleaved, and each computes exactly what it computes alone on its own copy of the model.

The two streams differ in everything that once lived on the model: caps (one object per prompt
against three), thresholds, exemplar boxes, a clicked and refined object (held from the detector),
frame sizes. A value left on the shared model would leak from one stream into the other.
"""

import pytest

from sam3_ros.engine.concept_tracker import ConceptTracker, TrackerSettings
from sam3_ros.engine.prompt_registry import ExemplarBox, PromptRequest
from sam3_ros.engine.stream.prompts import EXEMPLARS_SUPPORTED
from sam3_ros.engine.tiny_model import build_tiny_sam3
from sam3_ros.engine.track_ids import TrackIdAllocator
from sam3_ros.engine.visual_prompts import Click, VisualPrompt

FRAMES = 10
BIKES = dict(
    settings=TrackerSettings(confirm_frames=1, max_objects_per_prompt=1, max_objects_total=3),
    prompts=[PromptRequest("person", (ExemplarBox(50, 5, 110, 60),) if EXEMPLARS_SUPPORTED else ()), PromptRequest("bicycle")],
)
CARPHONE = dict(
    settings=TrackerSettings(confirm_frames=2, detection_threshold=0.3, new_track_threshold=0.4, refinement_hold_frames=3),
    prompts=[PromptRequest("face"), PromptRequest("car"), PromptRequest("window")],
    click=VisualPrompt(clicks=(Click(88, 60),), box=(40.0, 20.0, 140.0, 130.0)),  # on frame 2
    refinement=VisualPrompt(clicks=(Click(90, 40), Click(20, 120, positive=False))),  # on frame 4
)


def build_model():
    """Three confident detections per prompt and frame, so that the caps decide which become tracks."""
    return build_tiny_sam3(num_queries=3)


class Run:
    """One stream: its tracker, its footage and every frame's outcome."""

    def __init__(self, model, tokenizer, frames, settings, prompts, click=None, refinement=None, track_ids=None):
        self.tracker = ConceptTracker(model, tokenizer, settings, track_ids=track_ids)
        self.tracker.add_prompts(prompts)
        self.frames, self.click, self.refinement = frames, click, refinement
        self.outcomes = []
        self.clicked = None

    def step(self, index: int) -> None:
        if self.click is not None and index == 2:
            self.clicked = self.tracker.track_object(self.click, "driver")
        if self.refinement is not None and index == 4:
            self.tracker.refine_object(self.clicked, self.refinement)
        result = self.tracker.process(self.frames[index])
        self.outcomes.append([_outcome(instance) for instance in result.instances] + [_summary(s) for s in result.prompts])


def _outcome(instance):
    return ("instance", instance.track_id, instance.prompt_id, instance.prompt_text, instance.score, instance.box, instance.mask.tobytes())


def _summary(summary):
    return ("prompt", summary.prompt_id, summary.text, summary.presence_score, summary.instance_count)


def alone(frames, stream) -> Run:
    model, tokenizer = build_model()
    run = Run(model, tokenizer, frames, **stream)
    for index in range(FRAMES):
        run.step(index)
    return run


def interleaved(bikes_frames, carphone_frames, track_ids=(None, None)) -> tuple[Run, Run]:
    model, tokenizer = build_model()
    bikes = Run(model, tokenizer, bikes_frames, **BIKES, track_ids=track_ids[0])
    carphone = Run(model, tokenizer, carphone_frames, **CARPHONE, track_ids=track_ids[1])
    for index in range(FRAMES):
        bikes.step(index)
        carphone.step(index)
    return bikes, carphone


@pytest.fixture(scope="module")
def alone_runs(bikes_frames, carphone_frames):
    return alone(bikes_frames, BIKES), alone(carphone_frames, CARPHONE)


def test_each_tracker_on_a_shared_model_computes_what_it_computes_alone(bikes_frames, carphone_frames, alone_runs):
    assert bikes_frames[0].shape != carphone_frames[0].shape
    shared = interleaved(bikes_frames, carphone_frames)

    for together, by_itself in zip(shared, alone_runs):
        assert together.outcomes == by_itself.outcomes
    bikes, carphone = alone_runs
    assert all(len([o for o in frame if o[0] == "instance" and o[2] == 1]) <= 1 for frame in bikes.outcomes), "bikes' cap of one"
    assert max(len([o for o in frame if o[0] == "instance" and o[2] == 1]) for frame in carphone.outcomes) > 1, "carphone's own cap"
    assert any(o[0] == "instance" and o[3] == "driver" for frame in carphone.outcomes for o in frame), "the clicked object is tracked"


def test_trackers_sharing_an_id_counter_never_report_the_same_track_id(bikes_frames, carphone_frames, alone_runs):
    allocator = TrackIdAllocator()
    shared = interleaved(bikes_frames, carphone_frames, (allocator, allocator))

    ids = [{o[1] for frame in run.outcomes for o in frame if o[0] == "instance"} for run in shared]
    assert ids[0] and ids[1] and not ids[0] & ids[1]
    assert allocator.next_id == max(ids[0] | ids[1]) + 1
    for together, by_itself in zip(shared, alone_runs):
        renamed = _renumbered(together.outcomes, _id_map(together.outcomes, by_itself.outcomes))
        assert renamed == by_itself.outcomes, "apart from their track ids, the outcomes are a lone tracker's"


def _id_map(outcomes, reference) -> dict[int, int]:
    pairs = {(o[1], r[1]) for frame, expected in zip(outcomes, reference) for o, r in zip(frame, expected) if o[0] == r[0] == "instance"}
    mapping = dict(pairs)
    assert len(mapping) == len(pairs) == len(set(mapping.values())), "track ids must pair one to one"
    return mapping


def _renumbered(outcomes, mapping):
    return [[(o[0], mapping[o[1]], *o[2:]) if o[0] == "instance" else o for o in frame] for frame in outcomes]
