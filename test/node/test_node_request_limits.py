"""Limits at the prompt service boundary on the running node: the request rate limit, and exemplar
boxes checked against the size of the last processed frame."""

from __future__ import annotations

from sam3_ros.msg import ConceptPrompt
from sam3_ros.srv import SetPrompts
from sensor_msgs.msg import RegionOfInterest

ADD, REMOVE = SetPrompts.Request.ADD, SetPrompts.Request.REMOVE
RATE = 2.0
NODE_PARAMETERS = {"max_prompt_requests_per_second": RATE}
BURST = 6


def texts(prompts) -> list[str]:
    return [p.text for p in prompts]


def test_requests_beyond_the_rate_are_refused_and_change_nothing(client, sam3_node):
    client.spin_for(1.0 / RATE * 2)  # a full bucket
    responses = [client.set_prompts(ADD, [f"thing {i}"]) for i in range(BURST)]
    accepted = [r for r in responses if r.success]
    refused = [r for r in responses if not r.success]
    # The calls take some ms each, so at most one extra token drips in during the burst.
    assert int(RATE) <= len(accepted) <= int(RATE) + 1, [r.message for r in responses]
    assert refused and all("rate limit" in r.message and "max_prompt_requests_per_second" in r.message for r in refused)
    assert texts(client.get_prompts()) == [*client.START_PROMPTS, *(f"thing {i}" for i in range(len(accepted)))]

    client.spin_for(1.0 / RATE * 1.5)  # a token again
    response = client.set_prompts(REMOVE, [f"thing {i}" for i in range(len(accepted))])
    assert response.success, response.message
    assert texts(response.active_prompts) == list(client.START_PROMPTS)
    assert sam3_node.alive()


def _with_box(x, y, width, height) -> ConceptPrompt:
    return ConceptPrompt(text="cup", exemplar_boxes=[RegionOfInterest(x_offset=x, y_offset=y, width=width, height=height)])


def test_exemplar_boxes_outside_the_last_frame_are_refused(client, footage):
    client.spin_for(1.0 / RATE * 2)
    client.process(footage[0])  # the node now knows the camera's size
    w, h = client.FRAME_WIDTH, client.FRAME_HEIGHT
    for box in ((w - 10, 0, 11, 5), (0, h - 1, 5, 2), (2**31, 2**31, 2**31, 2**31)):
        response = client.set_prompts(ADD, prompts=[_with_box(*box)])
        assert response.success is False
        assert "outside the image" in response.message and f"{w}x{h}" in response.message, response.message
        assert texts(response.active_prompts) == list(client.START_PROMPTS)
        client.spin_for(1.0 / RATE)
    # A box inside the frame passes this check (it may still be refused for another reason, e.g. no torchvision).
    response = client.set_prompts(ADD, prompts=[_with_box(0, 0, w, h)])
    assert "outside the image" not in response.message, response.message
