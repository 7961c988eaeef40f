"""Hostile input, property-based (hypothesis): random images and random prompt requests against ONE
running node, then a check that valid frames still give correct output with stable ids.

Each property runs a bounded number of examples (deadline off: a frame of the tiny model takes
0.2-3 s on a loaded CPU), so the module stays within CI's time. After every example the node
process must be alive and answer ~/get_prompts; a refused request must say why and change nothing.
Each random image is sent once the node has dealt with the previous one, so none is replaced unseen.
"""

from __future__ import annotations

import time

import numpy as np
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from sam3_ros.msg import ConceptPrompt
from sam3_ros.srv import SetPrompts
from sensor_msgs.msg import Image, RegionOfInterest

from sam3_ros.node.image_conversion import SUPPORTED_ENCODINGS, ImageConversionError, rgb_from_image_msg

REPLACE, ADD, REMOVE = SetPrompts.Request.REPLACE, SetPrompts.Request.ADD, SetPrompts.Request.REMOVE
# The rate limit has its own test; here every request must reach the validation.
NODE_PARAMETERS = {"max_prompt_requests_per_second": 0.0}
MAX_PROMPT_LENGTH = 120  # config/sam3.yaml
NODE_EXAMPLES = 30
PURE_EXAMPLES = 300
# Every image the node takes is processed (an InstanceArray) or counted in its diagnostics.
HANDLED_COUNTERS = ("rejected images (total)", "inference errors (total)")
CONSISTENT_BYTES = 64 * 64 * 4  # consistent images stay this small; inconsistent ones may claim any size
UINT32 = 2**32 - 1

NODE_SETTINGS = settings(
    max_examples=NODE_EXAMPLES,
    deadline=None,
    derandomize=True,  # the same examples on every CI run: a failure is reproducible
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)

# -- strategies ------------------------------------------------------------------------------------

ENCODINGS = st.one_of(
    st.sampled_from(SUPPORTED_ENCODINGS + ("RGB8", "Mono8", "16UC1", "32FC1", "bayer_rggb8", "yuv422", "16UC3", "64FC4", "")),
    st.text(max_size=24),
)
SIDES = st.one_of(st.integers(0, 64), st.integers(0, 5000))


def _bytes(count: int) -> bytes:
    return (bytes(range(256)) * (count // 256 + 1))[:count]


@st.composite
def images(draw) -> Image:
    """An Image whose fields may contradict each other; its data is never more than a few kB."""
    msg = Image()
    msg.encoding = draw(ENCODINGS)
    msg.width, msg.height = draw(SIDES), draw(SIDES)
    msg.is_bigendian = draw(st.integers(0, 1))
    channels = draw(st.integers(1, 4))
    consistent_step = msg.width * channels + draw(st.sampled_from([0, 0, 3]))
    msg.step = draw(st.one_of(st.just(consistent_step), st.integers(0, UINT32)))
    wanted = msg.step * msg.height
    if wanted <= CONSISTENT_BYTES and draw(st.booleans()):
        msg.data = _bytes(wanted)
    else:
        msg.data = _bytes(draw(st.integers(0, CONSISTENT_BYTES)))
    return msg


TEXTS = st.one_of(
    st.sampled_from(["", " ", " \t\n ", "\x00", "red\x07cup", "person", "bicycle", "Ⅻ", "🚲 bike", "x" * 100_000, "y" * 121]),
    st.text(max_size=40),
    st.text(alphabet=st.characters(codec="utf-8"), min_size=100, max_size=200),
)
BOXES = st.builds(
    RegionOfInterest,
    x_offset=st.one_of(st.integers(0, 200), st.integers(0, UINT32)),
    y_offset=st.one_of(st.integers(0, 100), st.integers(0, UINT32)),
    width=st.one_of(st.integers(0, 200), st.integers(0, UINT32)),
    height=st.one_of(st.integers(0, 100), st.integers(0, UINT32)),
)
CONCEPTS = st.builds(
    ConceptPrompt,
    text=TEXTS,
    exemplar_boxes=st.lists(BOXES, max_size=10),
    exemplar_labels=st.lists(st.booleans(), max_size=10),
)
MANY_CONCEPTS = st.integers(1000, 5000).map(lambda n: [ConceptPrompt(text=f"thing {i}") for i in range(n)])


@st.composite
def prompt_requests(draw) -> SetPrompts.Request:
    request = SetPrompts.Request()
    request.mode = draw(st.one_of(st.sampled_from([REPLACE, ADD, REMOVE]), st.integers(0, 255)))
    request.prompts = draw(st.one_of(st.lists(CONCEPTS, max_size=20), MANY_CONCEPTS))
    request.prompt_ids = draw(st.lists(st.one_of(st.integers(0, 10), st.integers(0, UINT32)), max_size=5))
    return request


# -- the converter alone ---------------------------------------------------------------------------


@settings(max_examples=PURE_EXAMPLES, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.data_too_large])
@given(images())
def test_image_conversion_raises_only_its_own_error(msg):
    try:
        rgb = rgb_from_image_msg(msg)
    except ImageConversionError as error:
        assert str(error)
        return
    assert rgb.shape == (msg.height, msg.width, 3) and rgb.dtype == np.uint8


# -- the node --------------------------------------------------------------------------------------


def active(prompts) -> list[tuple[int, str]]:
    return [(p.id, p.text) for p in prompts]


def assert_node_answers(client, sam3_node):
    assert sam3_node.alive(), sam3_node.describe()
    return active(client.get_prompts())  # fails the test if it does not answer


def assert_valid_frames_tracked(client, sam3_node, footage):
    """Correct InstanceArrays for real footage, and track ids that hold frame to frame."""
    assert [p.text for p in client.get_prompts()] == list(client.START_PROMPTS)
    ids = []
    for frame in footage[: client.CONFIRM_FRAMES + 3]:
        msg, result = client.process(frame)
        assert (result.width, result.height) == (client.FRAME_WIDTH, client.FRAME_HEIGHT)
        assert result.header.frame_id == msg.header.frame_id
        assert {p.text for p in result.prompts} == set(client.START_PROMPTS)
        ids.append({i.prompt_text: i.id for i in result.instances})
    assert set(ids[-1]) == set(client.START_PROMPTS), ids
    assert ids[-1] == ids[-2] == ids[-3], f"track ids changed between consecutive valid frames: {ids}"
    assert "Traceback" not in sam3_node.log_text()


def handled_count(client, status) -> int:
    values = client.report_values(status)
    return sum(int(values[name]) for name in HANDLED_COUNTERS)


@pytest.fixture(scope="module")
def handled(client):
    """A list holding the node's handled count (HANDLED_COUNTERS) by its latest report, diagnostics subscribed."""
    client.subscribe_diagnostics()
    report = client.wait_for_diagnostic(lambda s: True, client.REPORT_TIMEOUT_S, "a diagnostics report")
    return [handled_count(client, report)]


@NODE_SETTINGS
@given(msg=images())
def test_random_images_never_stop_the_node(client, sam3_node, handled, msg):
    msg.header.stamp = client.next_stamp()
    msg.header.frame_id = client.FRAME_ID
    published_at = time.monotonic()
    client.publish(msg)

    # Dealt with: an InstanceArray for it, or a report since counting it (rejected, or failed).
    def dealt_with():
        if client.result_for(msg.header.stamp) is not None:
            return True
        counts = [handled_count(client, status) for t, status in client.diagnostics if t >= published_at]
        if counts and max(counts) > handled[0]:
            handled[0] = max(counts)
            return True
        return False

    client.spin_until(dealt_with, client.RESULT_TIMEOUT_S, "the node to process the image or count it in its diagnostics")
    assert_node_answers(client, sam3_node)


def test_valid_frames_tracked_after_random_images(client, sam3_node, footage):
    assert_valid_frames_tracked(client, sam3_node, footage)


def _request(mode: int, prompts, prompt_ids=()) -> SetPrompts.Request:
    return SetPrompts.Request(mode=mode, prompts=list(prompts), prompt_ids=list(prompt_ids))


# Known nasties, always tried on top of the random examples.
@NODE_SETTINGS
@example(request=_request(ADD, [ConceptPrompt(text="red\x07cup")]))
@example(request=_request(REPLACE, [ConceptPrompt(text="x" * 100_000)]))
@example(request=_request(REPLACE, [ConceptPrompt(text=f"thing {i}") for i in range(5000)]))
@example(request=_request(7, [ConceptPrompt(text="car")]))
@example(request=_request(REMOVE, [], [UINT32]))
@example(
    request=_request(ADD, [ConceptPrompt(text="car", exemplar_boxes=[RegionOfInterest(width=5, height=5)], exemplar_labels=[True, False])])
)
@example(
    request=_request(
        ADD, [ConceptPrompt(text="car", exemplar_boxes=[RegionOfInterest(x_offset=UINT32, y_offset=UINT32, width=UINT32, height=UINT32)])]
    )
)
@given(request=prompt_requests())
def test_random_prompt_requests_are_answered_and_refusals_change_nothing(client, sam3_node, request):
    before = assert_node_answers(client, sam3_node)
    response = client.call(SetPrompts, f"{client.NODE_NAME}/set_prompts", request)
    after = assert_node_answers(client, sam3_node)
    assert active(response.active_prompts) == after
    if not response.success:
        assert response.message.strip(), "a refusal must say why"
        assert after == before, f"refused ({response.message}) but the set changed"
        return
    # Accepted: whatever it became obeys the limits; then back to the start set for the next example.
    assert len(after) <= client.MAX_PROMPTS
    assert all(text and len(text) <= MAX_PROMPT_LENGTH and text.isprintable() for _, text in after), after
    restore = client.set_prompts(REPLACE, client.START_PROMPTS)
    assert restore.success, restore.message


def test_valid_frames_tracked_after_random_requests(client, sam3_node, footage):
    assert_valid_frames_tracked(client, sam3_node, footage)
