"""Limits at the service boundary on the running node: the request rate limit, exemplar boxes
checked against the size of the last processed frame, and the points of a visual prompt."""

from __future__ import annotations

import time

from geometry_msgs.msg import Point32
from sam3_ros.msg import ConceptPrompt
from sam3_ros.srv import RefineObject, RemoveObject, SetPrompts, TrackObject
from sensor_msgs.msg import RegionOfInterest

ADD, REMOVE = SetPrompts.Request.ADD, SetPrompts.Request.REMOVE
RATE = 2.0
NODE_PARAMETERS = {"max_prompt_requests_per_second": RATE}
BURST = 6
BUCKET_S = max(1.0, RATE) / RATE  # an empty bucket is full again after this long: RATE tokens at RATE a second
REFILL_TIMEOUT_S = 30.0


def texts(prompts) -> list[str]:
    return [p.text for p in prompts]


class Limiter:
    """What this module's calls did to the node's rate limiter: when one last took a token."""

    last_token_taken: float | None = None  # monotonic time of the response; None: the bucket is still full


def set_prompts(client, mode, texts=(), prompts=None):
    """client.set_prompts, noting when the call took a token (every call that is not refused for the rate)."""
    response = client.set_prompts(mode, texts, prompts=prompts)
    if not refused_for_the_rate(response):
        Limiter.last_token_taken = time.monotonic()
    return response


def refused_for_the_rate(response) -> bool:
    if response.success or "rate limit" not in response.message:
        return False
    assert "max_prompt_requests_per_second" in response.message and "nothing changed" in response.message, response.message
    return True


def set_prompts_once_let_through(client, mode, texts=(), prompts=None):
    """set_prompts again and again (no faster than the client spins) until the rate limit lets it
    through, as its tokens refill with time; its response. A call refused for the rate takes no token
    and changes nothing, as the refusal says."""

    def let_through():
        response = set_prompts(client, mode, texts, prompts)
        return None if refused_for_the_rate(response) else response

    return client.spin_until(let_through, REFILL_TIMEOUT_S, "a ~/set_prompts call let through by the rate limit")


def wait_for_a_full_bucket(client) -> None:
    """Until the limiter's bucket holds RATE tokens again: BUCKET_S after a call of ours last took a token.

    A wait in time, as the tokens come with time, and no call can look at the bucket without taking
    a token out of it once it holds one. The node holds a full bucket from its configure on.
    """
    if Limiter.last_token_taken is not None:
        full_at = Limiter.last_token_taken + BUCKET_S
        client.spin_until(lambda: time.monotonic() >= full_at, BUCKET_S + 1.0, "a full bucket")


def test_requests_beyond_the_rate_are_refused_and_change_nothing(client, sam3_node):
    before = texts(client.get_prompts())
    assert before == list(client.START_PROMPTS)
    wait_for_a_full_bucket(client)
    responses = [set_prompts(client, ADD, [f"thing {i}"]) for i in range(BURST)]
    accepted = [r for r in responses if r.success]
    refused = [r for r in responses if not r.success]
    # The calls take some ms each, so at most one extra token drips in during the burst.
    assert int(RATE) <= len(accepted) <= int(RATE) + 1, [r.message for r in responses]
    assert refused and all("rate limit" in r.message and "max_prompt_requests_per_second" in r.message for r in refused)
    assert texts(client.get_prompts()) == [*before, *(f"thing {i}" for i in range(len(accepted)))]

    # A token again, with time: the next call that gets through works.
    response = set_prompts_once_let_through(client, REMOVE, [f"thing {i}" for i in range(len(accepted))])
    assert response.success, response.message
    assert texts(response.active_prompts) == before
    assert sam3_node.alive()


def _with_box(x, y, width, height) -> ConceptPrompt:
    return ConceptPrompt(text="cup", exemplar_boxes=[RegionOfInterest(x_offset=x, y_offset=y, width=width, height=height)])


def test_exemplar_boxes_outside_the_last_frame_are_refused(client, footage):
    client.process(footage[0])  # the node now knows the camera's size
    before = texts(client.get_prompts())
    w, h = client.FRAME_WIDTH, client.FRAME_HEIGHT
    for box in ((w - 10, 0, 11, 5), (0, h - 1, 5, 2), (2**31, 2**31, 2**31, 2**31)):
        response = set_prompts_once_let_through(client, ADD, prompts=[_with_box(*box)])
        assert response.success is False
        assert "outside the image" in response.message and f"{w}x{h}" in response.message, response.message
        assert texts(response.active_prompts) == before
    # A box inside the frame passes this check (it may still be refused for another reason, e.g. no torchvision).
    response = set_prompts_once_let_through(client, ADD, prompts=[_with_box(0, 0, w, h)])
    assert "outside the image" not in response.message, response.message
    if response.success:  # the module's other tests start from the set before
        removed = set_prompts_once_let_through(client, REMOVE, ["cup"])
        assert removed.success and texts(removed.active_prompts) == before, removed.message


def _grid_points(count: int) -> list[Point32]:
    """`count` distinct clicks inside the 160x68 test frames, 10 px apart."""
    return [Point32(x=float(10 + (i % 14) * 10), y=float(5 + (i // 14) * 10)) for i in range(count)]


def test_a_visual_prompt_of_more_than_max_points_per_request_is_refused_and_changes_nothing(client, footage):
    limit = int(client.CONFIG["max_points_per_request"])
    track_service, refine_service = f"{client.NODE_NAME}/track_object", f"{client.NODE_NAME}/refine_object"
    client.process(footage[0])  # a frame to click on
    prompts_before = texts(client.get_prompts())

    refused = client.call(TrackObject, track_service, TrackObject.Request(points=_grid_points(limit + 1), label="too many"))
    assert refused.success is False
    assert f"{limit + 1} points" in refused.message and f"more than max_points_per_request {limit}" in refused.message, refused.message
    assert "parameter max_points_per_request" in refused.message, refused.message
    assert refused.track_id == 0 and list(refused.visual_objects) == []
    assert texts(client.get_prompts()) == prompts_before
    _, result = client.process(footage[1])
    assert "too many" not in [instance.prompt_text for instance in result.instances]

    # The same request at the limit is accepted: only the count was refused.
    accepted = client.call(TrackObject, track_service, TrackObject.Request(points=_grid_points(limit), label="at the limit"))
    assert accepted.success, accepted.message
    assert [(o.track_id, o.label) for o in accepted.visual_objects] == [(accepted.track_id, "at the limit")]

    # A refinement of that object is held to the same limit.
    refused = client.call(RefineObject, refine_service, RefineObject.Request(track_id=accepted.track_id, points=_grid_points(limit + 1)))
    assert refused.success is False and f"{limit + 1} points" in refused.message and "max_points_per_request" in refused.message, (
        refused.message
    )
    assert [o.track_id for o in refused.visual_objects] == [accepted.track_id]
    refined = client.call(RefineObject, refine_service, RefineObject.Request(track_id=accepted.track_id, points=_grid_points(limit)))
    assert refined.success, refined.message

    removed = client.call(RemoveObject, f"{client.NODE_NAME}/remove_object", RemoveObject.Request(track_id=accepted.track_id))
    assert removed.success and list(removed.visual_objects) == [], removed.message
    assert texts(client.get_prompts()) == prompts_before
