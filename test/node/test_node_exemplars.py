"""Exemplar boxes through ~/set_prompts on the running node: the detector of their prompt sees them on
the next processed frame only, the prompt keeps its id and tracks, and empty boxes are refused.

The same frame is fed again and again: SAM 3's detector has no memory, so with unchanged prompts it
answers each copy with the very same presence score, and any change is the boxes' doing.
"""

from __future__ import annotations

import pytest
from sam3_ros.msg import ConceptPrompt
from sam3_ros.srv import SetPrompts
from sensor_msgs.msg import RegionOfInterest

from sam3_ros.engine.concept_tracker import EXEMPLARS_SUPPORTED

ADD = SetPrompts.Request.ADD
pytestmark = pytest.mark.skipif(not EXEMPLARS_SUPPORTED, reason="exemplar boxes need torchvision's roi_align")


def presence(result) -> dict[str, float]:
    return {p.text: p.presence_score for p in result.prompts}


def tracks(result) -> dict[str, int]:
    return {i.prompt_text: i.id for i in result.instances}


def person_with_box(x: int, y: int, width: int, height: int, positive: bool = True) -> ConceptPrompt:
    box = RegionOfInterest(x_offset=x, y_offset=y, width=width, height=height)
    return ConceptPrompt(text="person", exemplar_boxes=[box], exemplar_labels=[positive])


def test_boxes_change_what_is_detected_on_the_next_frame_only(client, sam3_node, footage):
    frame = footage[0]
    for _ in range(client.CONFIRM_FRAMES):
        _, result = client.process(frame)
    _, text_only = client.process(frame)
    assert presence(text_only) == presence(result), "the same frame with the same prompts must score the same"
    before = {p.text: p.id for p in client.get_prompts()}

    response = client.set_prompts(ADD, prompts=[person_with_box(20, 10, 40, 50), ConceptPrompt(text="bicycle")])
    assert response.success, response.message
    assert {p.text: p.id for p in response.active_prompts} == before, "active texts keep their ids"
    assert {p.text: p.exemplar_count for p in response.active_prompts} == {"person": 1, "bicycle": 0}
    _, with_boxes = client.process(frame)
    _, after = client.process(frame)

    assert presence(with_boxes)["person"] != presence(text_only)["person"], "the detector did not see the box"
    assert presence(with_boxes)["bicycle"] == presence(text_only)["bicycle"], "the box reached another prompt"
    assert presence(after) == presence(text_only), "the box is used on one frame only"
    assert tracks(with_boxes) == tracks(after) == tracks(text_only), "tracks stay"
    assert all(p.exemplar_count == 0 for p in client.get_prompts())
    assert sam3_node.alive()


def test_a_box_covering_the_whole_frame_is_accepted(client, footage):
    client.process(footage[0])
    response = client.set_prompts(ADD, prompts=[person_with_box(0, 0, client.FRAME_WIDTH, client.FRAME_HEIGHT, positive=False)])
    assert response.success, response.message
    _, result = client.process(footage[0])
    assert set(presence(result)) == set(client.START_PROMPTS)


@pytest.mark.parametrize("width, height", [(0, 10), (10, 0)])
def test_a_zero_area_box_is_refused_with_the_reason(client, sam3_node, width, height):
    before = [(p.id, p.text, p.exemplar_count) for p in client.get_prompts()]
    response = client.set_prompts(ADD, prompts=[person_with_box(5, 5, width, height)])
    assert response.success is False
    assert "zero area" in response.message, response.message
    assert [(p.id, p.text, p.exemplar_count) for p in response.active_prompts] == before
    assert sam3_node.alive()
