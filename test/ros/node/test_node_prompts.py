"""~/set_prompts and ~/get_prompts on the running node: ADD, REMOVE (by text and by id), REPLACE, refusals
that leave the active set alone, and the `prompts` parameter kept in sync.

The tests share one node; each starts from the start set (the `fresh` fixture: the start prompts,
new tracks), so they run alone and in any order. Each refusal is followed by the same request
without its fault, which must be accepted.
"""

from __future__ import annotations

import pytest
from lifecycle_msgs.msg import Transition
from rclpy.parameter import Parameter
from sam3_ros.msg import ConceptPrompt
from sam3_ros.srv import SetPrompts
from sensor_msgs.msg import RegionOfInterest

from sam3_ros.engine.stream.prompts import EXEMPLARS_SUPPORTED

REPLACE, ADD, REMOVE = SetPrompts.Request.REPLACE, SetPrompts.Request.ADD, SetPrompts.Request.REMOVE
# Each refusal, its fix and the reset before the next test come faster than from a person: no rate
# limit on this module's node (test_node_request_limits.py tests it).
NODE_PARAMETERS = {"max_prompt_requests_per_second": 0.0}
SERVICE_GONE_TIMEOUT_S = 10.0
pytestmark = pytest.mark.usefixtures("fresh")


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


def _box(labels) -> list[ConceptPrompt]:
    return [ConceptPrompt(text="car", exemplar_boxes=[RegionOfInterest(x_offset=1, y_offset=1, width=5, height=5)], exemplar_labels=labels)]


KNOWN = "the id of an active prompt"  # in prompt_ids: filled in when the test runs
MAX_PROMPTS, MAX_PROMPT_LENGTH = 16, 120  # config/sam3.yaml

# (id, (mode, prompts, prompt_ids) refused, a phrase its refusal must contain, the same request without the fault)
INVALID_REQUESTS = [
    ("empty text", (ADD, _texts(""), []), "prompt text is empty", (ADD, _texts("car"), [])),
    ("whitespace text", (ADD, _texts(" \t\n "), []), "prompt text is empty", (ADD, _texts(" car "), [])),
    (
        "10 kB text",
        (ADD, _texts("x" * 10_240), []),
        f"prompt text is 10240 characters, longer than the limit of {MAX_PROMPT_LENGTH} (parameter max_prompt_length)",
        (ADD, _texts("x" * MAX_PROMPT_LENGTH), []),
    ),
    ("control character", (ADD, _texts("red\x07cup"), []), "prompt text contains control characters", (ADD, _texts("red cup"), [])),
    ("valid and empty together", (ADD, _texts("car", ""), []), "prompt text is empty", (ADD, _texts("car"), [])),
    ("unknown mode 7", (7, _texts("car"), []), "unknown mode 7: use REPLACE=0, ADD=1 or REMOVE=2", (ADD, _texts("car"), [])),
    ("remove unknown id", (REMOVE, [], [987_654]), "no active prompt has id 987654", (REMOVE, [], [KNOWN])),
    ("remove known and unknown id", (REMOVE, [], [KNOWN, 987_654]), "no active prompt has id 987654", (REMOVE, [], [KNOWN])),
    ("remove unknown text", (REMOVE, _texts("giraffe"), []), "no active prompt has the text 'giraffe'", (REMOVE, _texts("bicycle"), [])),
    (
        "add 20 prompts",
        (ADD, _texts(*(f"thing {i}" for i in range(20))), []),
        f"2 active + 20 new exceeds the limit of {MAX_PROMPTS} (parameter max_prompts)",
        (ADD, _texts(*(f"thing {i}" for i in range(MAX_PROMPTS - 2))), []),
    ),
    (
        "replace with 20 prompts",
        (REPLACE, _texts(*(f"thing {i}" for i in range(20))), []),
        f"20 prompts exceed the limit of {MAX_PROMPTS} (parameter max_prompts)",
        (REPLACE, _texts(*(f"thing {i}" for i in range(MAX_PROMPTS))), []),
    ),
    ("replace with an empty text", (REPLACE, _texts("person", ""), []), "prompt text is empty", (REPLACE, _texts("person"), [])),
    (
        "exemplar labels do not match boxes",
        (ADD, _box([True, False]), []),
        "prompt 'car' has 1 exemplar boxes but 2 labels",
        (ADD, _box([True]), []),
    ),
]


def _request(client, mode, prompts, prompt_ids, known: int):
    return client.set_prompts(mode, prompts=prompts, prompt_ids=[known if i is KNOWN else i for i in prompt_ids])


@pytest.mark.parametrize(
    "refused_request, reason, fixed_request", [case[1:] for case in INVALID_REQUESTS], ids=[case[0] for case in INVALID_REQUESTS]
)
def test_invalid_request_is_refused_and_changes_nothing(client, sam3_node, refused_request, reason, fixed_request):
    before = active(client.get_prompts())
    known = before[-1][0]

    response = _request(client, *refused_request, known)

    assert response.success is False
    assert reason in response.message, response.message
    assert active(response.active_prompts) == before
    assert active(client.get_prompts()) == before
    assert_prompt_parameter(client, [text for _, text in before])
    assert sam3_node.alive()

    fixed = _request(client, *fixed_request, known)
    if fixed_request[1] and fixed_request[1][0].exemplar_boxes and not EXEMPLARS_SUPPORTED:
        # Without torchvision the box itself is refused next: the labels are no longer the reason.
        assert not fixed.success and "need torchvision" in fixed.message and reason not in fixed.message, fixed.message
    else:
        assert fixed.success, f"the request without its fault was refused too: {fixed.message}"
        assert active(fixed.active_prompts) != before


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
    """`ros2 param set /sam3 prompts [...]` is a REPLACE, refused (changing nothing) beyond max_prompts."""
    response = client.set_prompts(REPLACE, ["person"])
    assert response.success, response.message
    before = {p.text: p.id for p in response.active_prompts}

    result = client.set_parameter(Parameter("prompts", Parameter.Type.STRING_ARRAY, ["person", "traffic light"]))
    assert result.successful, result.reason
    after = {p.text: p.id for p in client.get_prompts()}
    assert after["person"] == before["person"] and set(after) == {"person", "traffic light"}

    too_many = client.set_parameter(Parameter("prompts", Parameter.Type.STRING_ARRAY, [f"thing {i}" for i in range(20)]))
    assert not too_many.successful
    assert f"20 prompts exceed the limit of {MAX_PROMPTS} (parameter max_prompts)" in too_many.reason, too_many.reason
    assert {p.text: p.id for p in client.get_prompts()} == after
    assert_prompt_parameter(client, ["person", "traffic light"])

    most = [f"thing {i}" for i in range(MAX_PROMPTS)]
    result = client.set_parameter(Parameter("prompts", Parameter.Type.STRING_ARRAY, most))
    assert result.successful, result.reason
    assert [p.text for p in client.get_prompts()] == most


def _walk_to_active(client, confirm_frames: int) -> None:
    """From any state: deactivate and clean up as far as needed, set confirm_frames, configure and
    activate; returns connected to the new topics and services."""
    state = client.lifecycle_state()
    if state == "active":
        assert client.change_state(Transition.TRANSITION_DEACTIVATE)
        state = "inactive"
    if state == "inactive":
        assert client.change_state(Transition.TRANSITION_CLEANUP)
    # The old topics and services gone first, so that being connected means connected to the new ones.
    client.spin_until(
        lambda: (
            not client.prompt_service_ready()
            and client.image_pub.get_subscription_count() == 0
            and client.instances_sub.get_publisher_count() == 0
        ),
        SERVICE_GONE_TIMEOUT_S,
        "the prompt services and the topics to go with cleanup",
    )
    result = client.set_parameter(Parameter("confirm_frames", Parameter.Type.INTEGER, confirm_frames))
    assert result.successful, result.reason
    assert client.change_state(Transition.TRANSITION_CONFIGURE) and client.change_state(Transition.TRANSITION_ACTIVATE)
    client.wait_until_connected()


def test_a_parameter_read_at_configure_is_refused_until_cleanup(client):
    """Other parameters than `prompts` change only between cleanup and configure."""
    refused = client.set_parameter(Parameter("confirm_frames", Parameter.Type.INTEGER, 7))
    assert not refused.successful
    assert "confirm_frames is read at configure: deactivate and clean up the node" in refused.reason, refused.reason
    assert client.get_parameters(["confirm_frames"])["confirm_frames"] == client.CONFIRM_FRAMES

    # The same change after deactivate and cleanup is taken (and undone, for the other tests).
    try:
        assert client.change_state(Transition.TRANSITION_DEACTIVATE) and client.change_state(Transition.TRANSITION_CLEANUP)
        accepted = client.set_parameter(Parameter("confirm_frames", Parameter.Type.INTEGER, 7))
        assert accepted.successful, accepted.reason
        assert client.get_parameters(["confirm_frames"])["confirm_frames"] == 7
    finally:
        _walk_to_active(client, client.CONFIRM_FRAMES)
    assert client.lifecycle_state() == "active"
