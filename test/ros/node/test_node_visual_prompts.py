"""~/track_object, ~/refine_object and ~/remove_object on the running node: click to track, refine,
remove, and every refusal (with its reason, the same request without the fault accepted, the node
running on).

The tests share one node; each starts from the start set (the `fresh` fixture) and clicks its own
rider, so they run alone and in any order. A click before any frame needs a node that has never
seen one: test_node_before_any_frame.py.
"""

from __future__ import annotations

import pytest
from geometry_msgs.msg import Point32
from sam3_ros.srv import RefineObject, RemoveObject, TrackObject
from sensor_msgs.msg import RegionOfInterest

NODE_PARAMETERS = {"max_objects_total": 8, "max_prompt_length": 20}
RIDER_BOX = RegionOfInterest(x_offset=50, y_offset=5, width=60, height=55)


def track(client, points=(), positive=(), box=None, label=""):
    request = TrackObject.Request(points=[Point32(x=float(x), y=float(y)) for x, y in points], positive=list(positive), label=label)
    if box is not None:
        request.box = box
    return client.call(TrackObject, f"{client.NODE_NAME}/track_object", request)


def refine(client, track_id, points=(), positive=(), box=None):
    request = RefineObject.Request(track_id=track_id, points=[Point32(x=float(x), y=float(y)) for x, y in points], positive=list(positive))
    if box is not None:
        request.box = box
    return client.call(RefineObject, f"{client.NODE_NAME}/refine_object", request)


def remove(client, track_id):
    return client.call(RemoveObject, f"{client.NODE_NAME}/remove_object", RemoveObject.Request(track_id=track_id))


def object_ids(response) -> list[int]:
    return [o.track_id for o in response.visual_objects]


def click_rider(client):
    response = track(client, points=[(70, 30)], box=RIDER_BOX, label="rider")
    assert response.success, response.message
    return response.track_id


@pytest.fixture
def rider(fresh, footage):
    """The track id of a visual object clicked on the first frame the reset node processed."""
    fresh.process(footage[0])
    return click_rider(fresh)


@pytest.fixture
def rider_among_concepts(fresh, footage):
    """A rider clicked once the reset node publishes its concepts' tracks: its track id and the next frame's result."""
    for frame in footage[: fresh.CONFIRM_FRAMES]:
        fresh.process(frame)
    track_id = click_rider(fresh)
    _, result = fresh.process(footage[fresh.CONFIRM_FRAMES])
    return track_id, result


def test_click_to_track(client, rider_among_concepts):
    track_id, result = rider_among_concepts

    visual = [(i.id, i.prompt_id, i.prompt_text) for i in result.instances if i.prompt_id == 0]
    assert visual == [(track_id, 0, "rider")]
    assert {i.prompt_text for i in result.instances} >= {"rider", *client.START_PROMPTS}


def test_refine_a_visual_and_a_concept_object(client, rider_among_concepts, footage):
    track_id, result = rider_among_concepts
    concept = next(i for i in result.instances if i.prompt_id != 0)

    responses = [refine(client, target, points=[(60, 20), (100, 50)], positive=[True, False]) for target in (track_id, concept.id)]
    client.process(footage[client.CONFIRM_FRAMES + 1])  # the tiny model's corrected masks are arbitrary: it only has to go on

    assert all(response.success for response in responses), [response.message for response in responses]
    assert [(o.track_id, o.label) for o in responses[-1].visual_objects] == [(track_id, "rider")]


# (id, the refused request, its reason, the same request without the fault)
BAD_CLICKS = [
    ("nothing", {}, "the request has neither points nor a box", {"points": [(10, 10)]}),
    ("point outside", {"points": [(160, 10)]}, "point (160.0, 10.0) is outside the 160x68 image", {"points": [(159, 10)]}),
    (
        "a flag short",
        {"points": [(10, 10), (20, 20)], "positive": [True]},
        "1 'positive' flags for 2 points: send one per point",
        {"points": [(10, 10), (20, 20)], "positive": [True, True]},
    ),
    (
        "box outside",
        {"box": RegionOfInterest(x_offset=150, y_offset=0, width=40, height=10)},
        "box (150.0, 0.0, 190.0, 10.0) reaches outside the 160x68 image",
        {"box": RegionOfInterest(x_offset=150, y_offset=0, width=10, height=10)},
    ),
    (
        "only negative points",
        {"points": [(10, 10)], "positive": [False]},
        "all points are negative",
        {"points": [(10, 10)], "positive": [False], "box": RegionOfInterest(x_offset=0, y_offset=0, width=30, height=30)},
    ),
]


@pytest.mark.parametrize("request_kwargs, reason, fixed_kwargs", [case[1:] for case in BAD_CLICKS], ids=[case[0] for case in BAD_CLICKS])
def test_bad_clicks_are_refused_with_a_reason(client, rider, request_kwargs, reason, fixed_kwargs):
    refused = track(client, **request_kwargs)
    accepted = track(client, **fixed_kwargs)

    assert not refused.success and reason in refused.message, refused.message
    assert refused.track_id == 0 and object_ids(refused) == [rider]
    assert accepted.success, accepted.message
    assert object_ids(accepted) == [rider, accepted.track_id]


def test_a_label_longer_than_max_prompt_length_is_refused(client, rider):
    limit = client.parameters["max_prompt_length"]

    refused = track(client, box=RIDER_BOX, label="x" * (limit + 1))
    accepted = track(client, box=RIDER_BOX, label="x" * limit)

    assert not refused.success and f"label has {limit + 1} characters, more than max_prompt_length {limit}" in refused.message
    assert object_ids(refused) == [rider]
    assert accepted.success, accepted.message
    assert [(o.track_id, o.label) for o in accepted.visual_objects] == [(rider, "rider"), (accepted.track_id, "x" * limit)]


def test_a_refinement_outside_the_image_is_refused(client, rider):
    refused = refine(client, rider, points=[(70, 30), (80, 68)])
    accepted = refine(client, rider, points=[(70, 30), (80, 67)])

    assert not refused.success and "point (80.0, 68.0) is outside the 160x68 image" in refused.message
    assert object_ids(refused) == [rider]
    assert accepted.success, accepted.message
    assert object_ids(accepted) == [rider]


def test_unknown_track_ids_and_concept_removal_are_refused(client, rider_among_concepts):
    track_id, result = rider_among_concepts
    concept = next(i for i in result.instances if i.prompt_id != 0)

    unknown = refine(client, 99999, points=[(10, 10)])
    known = refine(client, track_id, points=[(10, 10)])
    concept_removal = remove(client, concept.id)
    visual_removal = remove(client, track_id)

    assert not unknown.success and "no live track has id 99999: it ended, or it was never reported" in unknown.message
    assert known.success, known.message
    assert not concept_removal.success, concept_removal.message
    assert f"track {concept.id} is an instance of prompt '{concept.prompt_text}'" in concept_removal.message
    assert "remove the prompt, or refine the object instead" in concept_removal.message
    assert object_ids(concept_removal) == [track_id]
    assert visual_removal.success and object_ids(visual_removal) == [], visual_removal.message


def test_too_many_objects_are_refused(client, rider):
    limit = client.parameters["max_objects_total"]

    accepted = []
    for _ in range(limit):  # the rider and the concepts' objects count too: the limit comes within `limit` more
        response = track(client, box=RIDER_BOX)
        if not response.success:
            break
        accepted.append(response.track_id)
    freed = remove(client, accepted[-1]) if accepted else None
    again = track(client, box=RIDER_BOX)

    assert not response.success, "max_objects_total was never reached"
    assert f"already tracking {limit} objects, the limit (parameter max_objects_total)" in response.message, response.message
    assert accepted, "there was room for one more object at first"
    assert object_ids(response) == [rider, *accepted]
    assert freed.success, freed.message
    assert again.success, again.message
    assert object_ids(again) == [rider, *accepted[:-1], again.track_id]


def test_remove_ends_the_object_and_its_id(client, rider, footage):
    _, before = client.process(footage[1])
    refined_before = refine(client, rider, points=[(70, 30)])

    response = remove(client, rider)
    _, after = client.process(footage[2])
    removed_again = remove(client, rider)
    refined = refine(client, rider, points=[(70, 30)])

    assert rider in [i.id for i in before.instances]
    assert refined_before.success, refined_before.message
    assert response.success and list(response.visual_objects) == []
    assert rider not in [i.id for i in after.instances]
    for refused in (removed_again, refined):
        assert not refused.success and f"no live track has id {rider}: it ended" in refused.message
