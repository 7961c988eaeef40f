"""~/set_prompts and ~/get_prompts on the running node: ADD, REMOVE (by text and by id), REPLACE, refusals
that leave the active set alone, and the `prompts` parameter kept in sync.

The tests of this module share one node and run in file order: the refusals first (they must not
change anything), then one scenario that changes the prompt set step by step while frames flow.
"""

from __future__ import annotations

import pytest
from rclpy.parameter import Parameter
from sam3_ros.msg import ConceptPrompt
from sam3_ros.srv import SetPrompts
from sensor_msgs.msg import RegionOfInterest

REPLACE, ADD, REMOVE = SetPrompts.Request.REPLACE, SetPrompts.Request.ADD, SetPrompts.Request.REMOVE


def active(prompts) -> list[tuple[int, str]]:
    return [(p.id, p.text) for p in prompts]


def assert_prompt_parameter(client, texts) -> None:
    assert client.get_parameters(["prompts"])["prompts"] == list(texts)


class Frames:
    """Feeds the footage to the node one frame at a time, looping."""

    def __init__(self, client, footage):
        self.client, self.footage, self.index = client, footage, 0

    def next(self):
        frame = self.footage[self.index % len(self.footage)]
        self.index += 1
        _, result = self.client.process(frame)
        return result


def tracks(result) -> dict[str, int]:
    """prompt text -> track id of its (single, with the tiny model) instance."""
    found = {}
    for instance in result.instances:
        assert instance.prompt_text not in found, f"two instances of '{instance.prompt_text}': {result.instances}"
        found[instance.prompt_text] = instance.id
    return found


def test_get_prompts_returns_the_start_up_set(client):
    prompts = client.get_prompts()
    assert [p.text for p in prompts] == list(client.START_PROMPTS)
    assert len({p.id for p in prompts}) == len(prompts) and all(p.id > 0 for p in prompts)
    assert all(p.exemplar_count == 0 for p in prompts)
    assert_prompt_parameter(client, client.START_PROMPTS)


def _texts(*texts):
    return [ConceptPrompt(text=text) for text in texts]


# (id, mode, prompts, prompt_ids, a phrase the refusal must contain); max_prompts is 16 in config/sam3.yaml
INVALID_REQUESTS = [
    ("empty text", ADD, _texts(""), [], "empty"),
    ("whitespace text", ADD, _texts(" \t\n "), [], "empty"),
    ("10 kB text", ADD, _texts("x" * 10_240), [], "10240 characters"),
    ("control character", ADD, _texts("red\x07cup"), [], "control characters"),
    ("valid and empty together", ADD, _texts("car", ""), [], "empty"),
    ("unknown mode 7", 7, _texts("car"), [], "unknown mode 7"),
    ("remove unknown id", REMOVE, [], [987_654], "987654"),
    ("remove known and unknown id", REMOVE, [], [1, 987_654], "987654"),
    ("remove unknown text", REMOVE, _texts("giraffe"), [], "giraffe"),
    ("add 20 prompts", ADD, _texts(*(f"thing {i}" for i in range(20))), [], "max_prompts"),
    ("replace with 20 prompts", REPLACE, _texts(*(f"thing {i}" for i in range(20))), [], "max_prompts"),
    ("replace with an empty text", REPLACE, _texts("person", ""), [], "empty"),
    (
        "exemplar labels do not match boxes",
        ADD,
        [ConceptPrompt(text="car", exemplar_boxes=[RegionOfInterest(x_offset=1, y_offset=1, width=5, height=5)], exemplar_labels=[True, False])],
        [],
        "1 exemplar boxes but 2 labels",
    ),
]


@pytest.mark.parametrize(
    "mode, prompts, prompt_ids, phrase", [case[1:] for case in INVALID_REQUESTS], ids=[case[0] for case in INVALID_REQUESTS]
)
def test_invalid_request_is_refused_and_changes_nothing(client, sam3_node, mode, prompts, prompt_ids, phrase):
    before = active(client.get_prompts())
    response = client.set_prompts(mode, prompts=prompts, prompt_ids=prompt_ids)
    assert response.success is False
    assert response.message.strip(), "a refusal must say why"
    assert phrase in response.message, response.message
    assert active(response.active_prompts) == before
    assert active(client.get_prompts()) == before
    assert_prompt_parameter(client, [text for _, text in before])
    assert sam3_node.alive()


def test_prompt_changes_keep_other_tracks(client, footage):
    frames = Frames(client, footage)
    confirm = client.CONFIRM_FRAMES

    # Start: both start-up prompts tracked.
    start = {p.text: p.id for p in client.get_prompts()}
    for _ in range(confirm):
        result = frames.next()
    ids = tracks(result)
    assert set(ids) == set(client.START_PROMPTS), result.instances

    # ADD "car": a new prompt id; its track is confirmed after confirm_frames frames; others keep theirs.
    response = client.set_prompts(ADD, ["Car"])
    assert response.success, response.message
    after_add = {p.text: p.id for p in response.active_prompts}
    assert after_add == {**start, "car": after_add["car"]}
    assert after_add["car"] > max(start.values()), "prompt ids only increase"
    assert {p.text: p.id for p in client.get_prompts()} == after_add
    assert_prompt_parameter(client, [*client.START_PROMPTS, "car"])
    for frame_number in range(1, confirm + 1):
        result = frames.next()
        assert [p.text for p in result.prompts] == [*client.START_PROMPTS, "car"]
        now = tracks(result)
        assert {t: now[t] for t in client.START_PROMPTS} == ids, "an ADD changed another prompt's track id"
        assert ("car" in now) == (frame_number == confirm), f"car track on frame {frame_number}: {result.instances}"
    car_instance = next(i for i in result.instances if i.prompt_text == "car")
    assert car_instance.prompt_id == after_add["car"]
    ids = now
    assert len(set(ids.values())) == 3

    # ADD a text that is already active (any case/spacing): accepted, nothing changes.
    response = client.set_prompts(ADD, ["  PERSON "])
    assert response.success, response.message
    assert {p.text: p.id for p in response.active_prompts} == after_add

    # REMOVE by text: bicycle and its instance vanish, the others keep their ids.
    response = client.set_prompts(REMOVE, ["bicycle"])
    assert response.success, response.message
    assert [p.text for p in response.active_prompts] == ["person", "car"]
    assert_prompt_parameter(client, ["person", "car"])
    result = frames.next()
    assert [p.text for p in result.prompts] == ["person", "car"]
    assert tracks(result) == {"person": ids["person"], "car": ids["car"]}

    # REPLACE with an overlapping set: person keeps its prompt id and track id, car goes, dog comes.
    response = client.set_prompts(REPLACE, ["dog", "person"])
    assert response.success, response.message
    after_replace = {p.text: p.id for p in response.active_prompts}
    assert set(after_replace) == {"person", "dog"}
    assert after_replace["person"] == start["person"]
    assert after_replace["dog"] > after_add["car"], "a new prompt must not reuse an old id"
    assert sorted(client.get_parameters(["prompts"])["prompts"]) == ["dog", "person"]
    for frame_number in range(1, confirm + 1):
        result = frames.next()
        now = tracks(result)
        assert now.get("person") == ids["person"], "REPLACE changed the overlapping prompt's track id"
        assert "car" not in now and "bicycle" not in now
        assert ("dog" in now) == (frame_number == confirm), f"dog track on frame {frame_number}: {result.instances}"
    assert now["dog"] not in ids.values(), "track ids are never reused"

    # REMOVE by id: dog goes, person stays.
    response = client.set_prompts(REMOVE, prompt_ids=[after_replace["dog"]])
    assert response.success, response.message
    assert active(response.active_prompts) == [(start["person"], "person")]
    assert_prompt_parameter(client, ["person"])
    result = frames.next()
    assert [p.text for p in result.prompts] == ["person"]
    assert tracks(result) == {"person": ids["person"]}

    # REMOVE the last prompt: frames still get an (empty) InstanceArray.
    response = client.set_prompts(REMOVE, ["person"])
    assert response.success, response.message
    assert list(response.active_prompts) == []
    assert_prompt_parameter(client, [])
    result = frames.next()
    assert list(result.instances) == [] and list(result.prompts) == []

    # ...and prompts can come back: a new id and a new track id.
    response = client.set_prompts(ADD, ["person"])
    assert response.success, response.message
    (person,) = response.active_prompts
    assert person.id > after_replace["dog"]
    for _ in range(confirm):
        result = frames.next()
    assert [i.prompt_id for i in result.instances] == [person.id]
    assert result.instances[0].id > max(now.values())


def test_prompts_parameter_replaces_the_prompt_set(client):
    """`ros2 param set /sam3 prompts [...]` is a REPLACE; other parameters are read at configure only."""
    response = client.set_prompts(REPLACE, ["person"])
    assert response.success, response.message
    before = {p.text: p.id for p in response.active_prompts}

    result = client.set_parameter(Parameter("prompts", Parameter.Type.STRING_ARRAY, ["person", "traffic light"]))
    assert result.successful, result.reason
    after = {p.text: p.id for p in client.get_prompts()}
    assert after["person"] == before["person"] and set(after) == {"person", "traffic light"}

    result = client.set_parameter(Parameter("prompts", Parameter.Type.STRING_ARRAY, [f"thing {i}" for i in range(20)]))
    assert not result.successful and "max_prompts" in result.reason
    assert {p.text: p.id for p in client.get_prompts()} == after
    assert_prompt_parameter(client, ["person", "traffic light"])

    result = client.set_parameter(Parameter("confirm_frames", Parameter.Type.INTEGER, 7))
    assert not result.successful and "read at configure" in result.reason and "cleanup" in result.reason, result.reason
    assert client.get_parameters(["confirm_frames"])["confirm_frames"] == client.CONFIRM_FRAMES
