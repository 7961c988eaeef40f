"""~/track_object, ~/refine_object and ~/remove_object on the running node: click to track, refine,
remove, and every refusal (with a reason, the node running on).

The tests share one node and run in file order: the first one runs before any frame.
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


def test_a_click_before_any_frame_is_refused(client):
    response = track(client, points=[(10, 10)])

    assert not response.success and "no frame has been processed yet" in response.message
    assert response.track_id == 0 and list(response.visual_objects) == []


@pytest.fixture(scope="module")
def rider(client, footage):
    """The track id of a visual object started once the concepts are published, and the result of the next frame."""
    for frame in footage[: client.CONFIRM_FRAMES]:
        client.process(frame)
    response = track(client, points=[(70, 30)], box=RIDER_BOX, label="rider")
    assert response.success, response.message
    _, result = client.process(footage[client.CONFIRM_FRAMES])
    return response.track_id, result


def test_click_to_track(client, rider):
    track_id, result = rider

    visual = [(i.id, i.prompt_id, i.prompt_text) for i in result.instances if i.prompt_id == 0]
    assert visual == [(track_id, 0, "rider")]
    assert {i.prompt_text for i in result.instances} >= {"rider", *client.START_PROMPTS}


def test_refine_a_visual_and_a_concept_object(client, rider, footage):
    track_id, result = rider
    concept = next(i for i in result.instances if i.prompt_id != 0)

    responses = [refine(client, target, points=[(60, 20), (100, 50)], positive=[True, False]) for target in (track_id, concept.id)]
    client.process(footage[client.CONFIRM_FRAMES + 1])  # the tiny model's corrected masks are arbitrary: it only has to go on

    assert all(response.success for response in responses), [response.message for response in responses]
    assert [(o.track_id, o.label) for o in responses[-1].visual_objects] == [(track_id, "rider")]


@pytest.mark.parametrize(
    "request_kwargs, reason",
    [
        ({}, "neither points nor a box"),
        ({"points": [(160, 10)]}, "outside the 160x68 image"),
        ({"points": [(10, 10), (20, 20)], "positive": [True]}, "one per point"),
        ({"box": RegionOfInterest(x_offset=150, y_offset=0, width=40, height=10)}, "reaches outside"),
        ({"points": [(10, 10)], "positive": [False]}, "all points are negative"),
    ],
)
def test_bad_clicks_are_refused_with_a_reason(client, rider, request_kwargs, reason):
    response = track(client, **request_kwargs)

    assert not response.success and reason in response.message
    assert [o.track_id for o in response.visual_objects] == [rider[0]]


def test_a_label_longer_than_max_prompt_length_is_refused(client, rider):
    limit = client.parameters["max_prompt_length"]

    response = track(client, box=RIDER_BOX, label="x" * (limit + 1))

    assert not response.success and f"more than max_prompt_length {limit}" in response.message
    assert [o.track_id for o in response.visual_objects] == [rider[0]]


def test_a_refinement_outside_the_image_is_refused(client, rider):
    track_id, _ = rider

    response = refine(client, track_id, points=[(70, 30), (80, 68)])

    assert not response.success and "point (80.0, 68.0) is outside the 160x68 image" in response.message
    assert [o.track_id for o in response.visual_objects] == [track_id]


def test_unknown_track_ids_and_concept_removal_are_refused(client, rider):
    _, result = rider
    concept = next(i for i in result.instances if i.prompt_id != 0)

    unknown = refine(client, 99999, points=[(10, 10)])
    concept_removal = remove(client, concept.id)

    assert not unknown.success and "no live track has id 99999" in unknown.message
    assert not concept_removal.success and "remove the prompt" in concept_removal.message


def test_too_many_objects_are_refused(client, rider):
    responses = [track(client, box=RIDER_BOX) for _ in range(client.parameters["max_objects_total"])]

    refused = [r for r in responses if not r.success]
    assert refused and "max_objects_total" in refused[0].message
    for response in responses:
        if response.success:
            assert remove(client, response.track_id).success


def test_remove_ends_the_object_and_its_id(client, rider, footage):
    track_id, _ = rider

    response = remove(client, track_id)
    _, result = client.process(footage[client.CONFIRM_FRAMES + 2])
    removed_again = remove(client, track_id)
    refined = refine(client, track_id, points=[(70, 30)])

    assert response.success and list(response.visual_objects) == []
    assert track_id not in [i.id for i in result.instances]
    for refused in (removed_again, refined):
        assert not refused.success and f"no live track has id {track_id}: it ended" in refused.message
