"""ConceptTracker as the ROS node uses it: prompts in, frames in, tracked instances out.

The tiny model finds exactly one object per prompt on every frame, so each prompt's track id
must stay put for as long as the prompt is active.
"""

import cv2
import numpy as np

from sam3_ros.engine.prompt_registry import PromptRequest


def track_ids_by_prompt(result) -> dict[int, int]:
    ids = {instance.prompt_id: instance.track_id for instance in result.instances}
    assert len(ids) == len(result.instances), "the tiny model should yield one object per prompt"
    return ids


def stream(tracker, frames):
    return [tracker.process(frame) for frame in frames]


def test_track_ids_are_stable_over_real_footage(make_tracker, bikes_frames):
    tracker = make_tracker("person", "bicycle", confirm_frames=1)

    per_frame = [track_ids_by_prompt(result) for result in stream(tracker, bikes_frames[:20])]

    first = per_frame[0]
    assert sorted(first) == [p.id for p in tracker.active_prompts()]
    assert len(set(first.values())) == 2, "the two prompts' objects need distinct track ids"
    assert all(ids == first for ids in per_frame)


def test_no_instance_is_reported_before_confirm_frames(make_tracker, bikes_frames):
    tracker = make_tracker("person", confirm_frames=3)

    results = stream(tracker, bikes_frames[:4])

    assert [len(r.instances) for r in results] == [0, 0, 1, 1]
    assert [r.prompts[0].instance_count for r in results] == [0, 0, 1, 1]
    # The track existed (unpublished) since the first frame.
    assert results[2].instances[0].frames_tracked == 2


def test_removing_a_prompt_leaves_the_other_prompts_tracks_alone(make_tracker, bikes_frames):
    tracker = make_tracker("person", "bicycle", confirm_frames=1)
    person, bicycle = tracker.active_prompts()
    before = stream(tracker, bikes_frames[:5])
    bicycle_track = track_ids_by_prompt(before[-1])[bicycle.id]

    removed = tracker.remove_prompts(texts=["person"])
    after = stream(tracker, bikes_frames[5:10])

    assert removed == [person]
    assert tracker.active_prompts() == [bicycle]
    for result in after:
        assert track_ids_by_prompt(result) == {bicycle.id: bicycle_track}
        assert [summary.prompt_id for summary in result.prompts] == [bicycle.id]
    # Same track, not a new one that happens to get the old id: its age keeps counting.
    ages = [result.instances[0].frames_tracked for result in before + after]
    assert ages == list(range(10))


def test_replacing_prompts_keeps_overlapping_prompt_and_its_track(make_tracker, bikes_frames):
    tracker = make_tracker("person", "bicycle", confirm_frames=1)
    person, bicycle = tracker.active_prompts()
    old_tracks = track_ids_by_prompt(stream(tracker, bikes_frames[:3])[-1])

    active = tracker.replace_prompts([PromptRequest("bicycle"), PromptRequest("car")])
    new_tracks = track_ids_by_prompt(tracker.process(bikes_frames[3]))

    assert [p.text for p in active] == ["bicycle", "car"]
    car = active[1]
    assert active[0] == bicycle
    assert car.id not in (person.id, bicycle.id)
    assert new_tracks[bicycle.id] == old_tracks[bicycle.id]
    assert person.id not in new_tracks
    assert new_tracks[car.id] not in old_tracks.values()


def test_track_ids_are_not_reused_after_a_prompt_is_removed_and_added_again(make_tracker, bikes_frames):
    tracker = make_tracker("person", "bicycle", confirm_frames=1)
    old_person, bicycle = tracker.active_prompts()
    old_tracks = track_ids_by_prompt(tracker.process(bikes_frames[0]))

    tracker.remove_prompts(prompt_ids=[old_person.id])
    (new_person,) = tracker.add_prompts([PromptRequest("person")])
    new_tracks = track_ids_by_prompt(tracker.process(bikes_frames[1]))

    assert new_person.id > max(old_person.id, bicycle.id)
    assert new_tracks[new_person.id] > max(old_tracks.values())
    assert new_tracks[bicycle.id] == old_tracks[bicycle.id]


def test_track_ids_are_not_reused_after_reset(make_tracker, bikes_frames):
    tracker = make_tracker("person", "bicycle", confirm_frames=1)
    prompts = tracker.active_prompts()
    old_tracks = track_ids_by_prompt(tracker.process(bikes_frames[0]))

    tracker.reset()
    result = tracker.process(bikes_frames[1])
    new_tracks = track_ids_by_prompt(result)

    assert tracker.active_prompts() == prompts, "reset forgets tracks, not prompts"
    assert sorted(new_tracks) == sorted(old_tracks)
    assert min(new_tracks.values()) > max(old_tracks.values())
    assert [instance.frames_tracked for instance in result.instances] == [0, 0]


def test_same_text_in_another_case_or_spacing_is_one_prompt(make_tracker):
    tracker = make_tracker()

    added = tracker.add_prompts([PromptRequest("Red  Cup"), PromptRequest(" red cup ")])
    added_again = tracker.add_prompts([PromptRequest("RED\tCUP")])

    assert [p.text for p in added] == ["red cup"]
    assert added_again == []
    assert tracker.active_prompts() == added


def test_frames_without_prompts_give_an_empty_result_without_running_the_model(make_tracker, tiny_sam3, hooks, bikes_frames):
    model, _ = tiny_sam3
    model_calls = []
    hooks.append(model.register_forward_hook(lambda *_: model_calls.append(1)))
    tracker = make_tracker()

    empty = tracker.process(bikes_frames[0], stamp=7)
    tracker.add_prompts([PromptRequest("person")])
    tracker.process(bikes_frames[1])
    tracker.remove_prompts(texts=["person"])
    empty_again = tracker.process(bikes_frames[2])

    assert (empty.instances, empty.prompts, empty.stamp) == ((), (), 7)
    assert (empty_again.instances, empty_again.prompts) == ((), ())
    assert len(model_calls) == 1, "only the frame with a prompt may run the model"


def test_result_describes_the_frame_and_each_instance_at_source_size(make_tracker, bikes_frames):
    tracker = make_tracker("person", "bicycle", confirm_frames=1)
    frame = bikes_frames[0]
    height, width = frame.shape[:2]
    stamp = object()

    result = tracker.process(frame, stamp=stamp)

    assert result.stamp is stamp
    assert (result.width, result.height) == (width, height)
    assert len(result.instances) == 2
    for instance in result.instances:
        assert instance.mask.dtype == bool and instance.mask.shape == (height, width)
        rows, cols = np.nonzero(instance.mask)
        # Tight bounds, max exclusive, which also keeps the box inside the image.
        assert instance.box == (cols.min(), rows.min(), cols.max() + 1, rows.max() + 1)
        assert 0 <= instance.box[0] < instance.box[2] <= width and 0 <= instance.box[1] < instance.box[3] <= height
        assert 0.0 <= instance.score <= 1.0


def test_resolution_change_mid_stream_keeps_track_ids(make_tracker, bikes_frames):
    tracker = make_tracker("person", "bicycle", confirm_frames=1)
    # Same footage, other sizes and aspect ratios, as when a camera driver is reconfigured.
    sizes = [(160, 68), (96, 96), (64, 48), (200, 90), (160, 68)]
    frames = [cv2.resize(frame, size, interpolation=cv2.INTER_AREA) for frame, size in zip(bikes_frames, sizes)]

    results = stream(tracker, frames)

    assert len(results[0].instances) == 2
    assert all(track_ids_by_prompt(r) == track_ids_by_prompt(results[0]) for r in results)
    for result, (width, height) in zip(results, sizes):
        assert (result.width, result.height) == (width, height)
        assert all(instance.mask.shape == (height, width) for instance in result.instances)


def test_prompt_summaries_give_presence_and_instance_count(make_tracker, bikes_frames):
    tracker = make_tracker("person", "bicycle", confirm_frames=2)

    for result in stream(tracker, bikes_frames[:3]):
        assert [s.prompt_id for s in result.prompts] == [p.id for p in tracker.active_prompts()]
        for summary in result.prompts:
            assert 0.0 <= summary.presence_score <= 1.0
            assert summary.instance_count == sum(1 for i in result.instances if i.prompt_id == summary.prompt_id)
