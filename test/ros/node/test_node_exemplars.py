"""Exemplar boxes through ~/set_prompts on the running node: the detector of their prompt uses them on
the next processed frame, a prompt that gets boxes keeps its id and tracks, empty boxes are refused.

With confirm_frames 1 a new object is published on the frame it is detected, so its mask is what the
detector made of that frame: the same frame with the same prompt always gives the same mask, and a
different one is the boxes' doing.

The tests share one node; each starts from the start set (the `fresh` fixture: the start prompts,
new tracks), so they run alone and in any order.
"""

from __future__ import annotations

import numpy as np
import pytest
from sam3_ros.msg import ConceptPrompt
from sam3_ros.srv import SetPrompts
from sensor_msgs.msg import RegionOfInterest

from sam3_ros.engine.stream.prompts import EXEMPLARS_SUPPORTED
from sam3_ros.outputs.mask_encoding import decode_mask

REPLACE, ADD = SetPrompts.Request.REPLACE, SetPrompts.Request.ADD
NODE_PARAMETERS = {"confirm_frames": 1}
pytestmark = [
    pytest.mark.skipif(not EXEMPLARS_SUPPORTED, reason="exemplar boxes need torchvision's roi_align"),
    pytest.mark.usefixtures("fresh"),
]


def with_box(text: str, x: int, y: int, width: int, height: int, positive: bool = True) -> ConceptPrompt:
    box = RegionOfInterest(x_offset=x, y_offset=y, width=width, height=height)
    return ConceptPrompt(text=text, exemplar_boxes=[box], exemplar_labels=[positive])


def tracks(result) -> dict[str, int]:
    return {i.prompt_text: i.id for i in result.instances}


def first_mask(client, frame, prompt: ConceptPrompt) -> np.ndarray:
    """The mask of `prompt`'s object on the frame right after it became the only prompt."""
    for prompts in ([ConceptPrompt(text="placeholder")], [prompt]):  # a new prompt, without the old one's track
        response = client.set_prompts(REPLACE, prompts=prompts)
        assert response.success, response.message
    _, result = client.process(frame)
    (instance,) = result.instances
    return decode_mask(instance.mask_rle, result.height, result.width)


def test_boxes_change_what_is_detected_on_the_next_frame(client, sam3_node, footage):
    frame = footage[0]
    client.process(frame)  # the node learns the camera's size

    text_only = first_mask(client, frame, ConceptPrompt(text="cup"))
    boxed = first_mask(client, frame, with_box("cup", 20, 10, 40, 50))
    text_only_again = first_mask(client, frame, ConceptPrompt(text="cup"))

    assert np.array_equal(text_only, text_only_again), "the same frame and prompt must give the same detection"
    assert not np.array_equal(boxed, text_only), "the box did not change the detection"
    assert sam3_node.alive()


def test_boxes_for_an_active_prompt_keep_its_id_and_track_and_are_spent_after_one_frame(client, footage):
    for frame in footage[:3]:
        _, before = client.process(frame)
    ids = {p.text: p.id for p in client.get_prompts()}

    response = client.set_prompts(ADD, prompts=[with_box("person", 20, 10, 40, 50, positive=False)])
    assert response.success, response.message
    assert {p.text: (p.id, p.exemplar_count) for p in response.active_prompts} == {
        "person": (ids["person"], 1),
        "bicycle": (ids["bicycle"], 0),
    }
    _, with_boxes = client.process(footage[3])
    _, after = client.process(footage[4])

    assert all(p.exemplar_count == 0 for p in client.get_prompts()), "boxes are used on one frame"
    assert tracks(before).items() <= tracks(with_boxes).items() and tracks(before).items() <= tracks(after).items()


def test_a_box_covering_the_whole_frame_is_accepted(client, footage):
    client.process(footage[0])
    response = client.set_prompts(ADD, prompts=[with_box("person", 0, 0, client.FRAME_WIDTH, client.FRAME_HEIGHT)])
    assert response.success, response.message
    _, result = client.process(footage[0])
    assert {p.text for p in result.prompts} == {p.text for p in response.active_prompts}


@pytest.mark.parametrize("width, height", [(0, 10), (10, 0)])
def test_a_zero_area_box_is_refused_with_the_reason(client, sam3_node, width, height):
    before = [(p.id, p.text, p.exemplar_count) for p in client.get_prompts()]

    refused = client.set_prompts(ADD, prompts=[with_box("person", 5, 5, width, height)])
    accepted = client.set_prompts(ADD, prompts=[with_box("person", 5, 5, 10, 10)])  # the same box with an area

    assert refused.success is False
    box = (5.0, 5.0, 5.0 + width, 5.0 + height)  # x_min, y_min, x_max, y_max
    assert f"exemplar box {box} of prompt 'person' has zero area" in refused.message, refused.message
    assert [(p.id, p.text, p.exemplar_count) for p in refused.active_prompts] == before
    assert accepted.success, accepted.message
    assert [(p.id, p.text, p.exemplar_count) for p in accepted.active_prompts] == [(i, t, 1 if t == "person" else n) for i, t, n in before]
    assert sam3_node.alive()
