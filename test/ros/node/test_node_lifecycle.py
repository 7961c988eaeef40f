"""The managed lifecycle and the diagnostics, on the real node driven through lifecycle_msgs services.

The node starts with autostart false and a model that cannot load, so it waits unconfigured. Each
test walks it from wherever the previous one left it to the state it needs (cleanup and configure
give a new engine, with no tracks), so the tests run alone and in any order: a failed configure
(ERROR diagnostics, node up), a configure after fixing the parameter, activate, deactivate (images
ignored, prompts and tracks kept), a camera stall (WARN) and its recovery (OK), cleanup (model
freed, prompts kept) and configure again (ids continue). A lifecycle shutdown ends the process, so
it has a node of its own: test_node_lifecycle_shutdown.py.
"""

from __future__ import annotations

import pytest
from diagnostic_msgs.msg import DiagnosticArray, DiagnosticStatus
from lifecycle_msgs.msg import Transition
from rclpy.duration import Duration
from rclpy.parameter import Parameter
from rclpy.qos import QoSProfile
from rclpy.time import Time
from sam3_ros.srv import SetPrompts

BROKEN_MODEL = "/nonexistent/sam3-weights"
STALL_TIMEOUT_S = 1.0
NODE_PARAMETERS = {"autostart": False, "model": BROKEN_MODEL, "stall_timeout": STALL_TIMEOUT_S}
PROMPTS = ["person", "bicycle"]

DIAGNOSTIC_TIMEOUT_S = 10.0  # reports come once a second
GONE_TIMEOUT_S = 10.0
OK, WARN, ERROR = DiagnosticStatus.OK, DiagnosticStatus.WARN, DiagnosticStatus.ERROR
CONFIGURE, ACTIVATE = Transition.TRANSITION_CONFIGURE, Transition.TRANSITION_ACTIVATE
DEACTIVATE, CLEANUP = Transition.TRANSITION_DEACTIVATE, Transition.TRANSITION_CLEANUP


def values(status) -> dict[str, str]:
    return {kv.key: kv.value for kv in status.values}


def texts(prompts) -> list[str]:
    return [p.text for p in prompts]


def track_ids(result) -> dict[str, int]:
    return {i.prompt_text: i.id for i in result.instances}


# -- the node's state at start and its diagnostics ---------------------------------------------------


@pytest.fixture(scope="module", autouse=True)
def state_at_start(client) -> str:
    """The node's lifecycle state before any test of this module drove it (autouse: taken first)."""
    return client.lifecycle_state()


@pytest.fixture(scope="module")
def reports(client):
    """(stamp, status) of every report of the sam3 node, in arrival order: the stamp says when the node made it."""
    received = []

    def store(array: DiagnosticArray) -> None:
        stamp = Time.from_msg(array.header.stamp)
        received.extend((stamp, status) for status in array.status if status.name.startswith("sam3:"))

    subscription = client.node.create_subscription(DiagnosticArray, "/diagnostics", store, QoSProfile(depth=100))
    client.spin_until(lambda: subscription.get_publisher_count() > 0, client.NODE_START_TIMEOUT_S, "a publisher on /diagnostics")
    yield received
    client.node.destroy_subscription(subscription)


def wait_for_report(client, reports, condition, what: str, timeout: float = DIAGNOSTIC_TIMEOUT_S):
    """The first status the node reports from now on for which condition(status) holds."""
    now = client.node.get_clock().now()
    return client.spin_until(lambda: next((s for t, s in reports if t >= now and condition(s)), None), timeout, what)


# -- walking the lifecycle -------------------------------------------------------------------------


def transition(client, transition_id: int, state: str) -> None:
    assert client.change_state(transition_id) is True, f"transition {transition_id} failed"
    assert client.lifecycle_state() == state


def set_parameters(client, **parameters) -> None:
    for name, value in parameters.items():
        result = client.set_parameter(Parameter(name, value=value))
        assert result.successful, result.reason


def wait_until_unserved(client) -> None:
    """Until the configured node's services and topics are gone (after a cleanup), so that being
    connected again means connected to the next configure's."""
    client.spin_until(
        lambda: (
            not client.prompt_service_ready()
            and client.image_pub.get_subscription_count() == 0
            and client.instances_sub.get_publisher_count() == 0
        ),
        GONE_TIMEOUT_S,
        "the prompt services and the topics to go with cleanup",
    )


def to_unconfigured(client) -> None:
    """Deactivate and clean up as far as needed, from whatever state the previous test left."""
    state = client.lifecycle_state()
    if state == "active":
        transition(client, DEACTIVATE, "inactive")
    if state in ("active", "inactive"):
        transition(client, CLEANUP, "unconfigured")
    else:
        assert state == "unconfigured", state
    wait_until_unserved(client)


def to_inactive(client, prompts=PROMPTS) -> None:
    """A node configured now (a new engine: no tracks, no frame) on the tiny model with `prompts`, connected."""
    to_unconfigured(client)
    set_parameters(client, model="tiny-random", prompts=list(prompts))
    transition(client, CONFIGURE, "inactive")
    client.wait_until_connected()


def to_active_with_tracks(client, footage):
    """Active with person and bicycle tracked on new tracks; the result of the frame that confirmed them."""
    if client.lifecycle_state() == "active":
        client.reset_to_start()  # the start prompts (person, bicycle) again, with new tracks
    else:
        to_inactive(client)
        transition(client, ACTIVATE, "active")
    for frame in footage[: client.CONFIRM_FRAMES]:
        _, result = client.process(frame)
    assert sorted(track_ids(result)) == ["bicycle", "person"], result.instances
    return result


def send_while_inactive(client, reports, frames) -> list:
    """Publish `frames` to the inactive node; return their stamps once its diagnostics show that the
    last one arrived (an image is ignored, or taken, the moment it arrives)."""
    *first, last = frames
    stamps = [client.publish_frame(frame).header.stamp for frame in first]
    sent = client.node.get_clock().now()
    stamps.append(client.publish_frame(last).header.stamp)

    def last_image_at(made_at, status):  # when the node last received an image, by this report
        since = values(status)["seconds since last image"]
        return None if since == "n/a" else made_at - Duration(seconds=float(since))

    def arrived() -> bool:
        return any(
            values(s)["lifecycle state"] == "inactive" and (at := last_image_at(t, s)) is not None and at >= sent for t, s in reports
        )

    client.spin_until(arrived, DIAGNOSTIC_TIMEOUT_S, "a report that the node received the frames sent while inactive")
    return stamps


def assert_not_processed(client, stamps) -> None:
    """Call once a later frame's result arrived: results come in the order of their frames."""
    assert all(client.result_for(stamp) is None for stamp in stamps), "an image was processed while the node was not active"


# -- the tests ---------------------------------------------------------------------------------------


def test_starts_unconfigured_without_prompt_services(client, reports, state_at_start):
    assert state_at_start == "unconfigured", "autostart false: the node waits for a lifecycle manager"

    # Unconfigured, the node serves no prompts: ~/set_prompts comes with configure and goes with cleanup.
    to_unconfigured(client)
    set_parameters(client, model="tiny-random")
    transition(client, CONFIGURE, "inactive")
    client.spin_until(client.prompt_service_ready, GONE_TIMEOUT_S, "the prompt services to come with configure")
    transition(client, CLEANUP, "unconfigured")
    client.spin_until(lambda: not client.prompt_service_ready(), GONE_TIMEOUT_S, "the prompt services to go with cleanup")

    status = wait_for_report(client, reports, lambda s: True, "a diagnostics report")
    assert status.level == OK and values(status)["lifecycle state"] == "unconfigured", status


def test_failed_configure_keeps_the_node_up_and_reports_an_error(client, reports, sam3_node):
    to_unconfigured(client)
    set_parameters(client, model=BROKEN_MODEL)
    log = client.new_log()

    assert client.change_state(CONFIGURE) is False
    assert client.lifecycle_state() == "unconfigured"
    assert f"configure failed: could not load SAM 3 from '{BROKEN_MODEL}'" in log.text(), log.text()
    assert "configure again" in log.text()
    status = wait_for_report(client, reports, lambda s: s.level == ERROR, "an ERROR report")
    assert "configure failed" in status.message and BROKEN_MODEL in status.message, status
    assert sam3_node.alive()

    # The same configure with a model that loads succeeds.
    set_parameters(client, model="tiny-random")
    transition(client, CONFIGURE, "inactive")


def test_a_threshold_between_the_model_own_and_zero_fails_configure_with_the_reason(client, sam3_node):
    to_unconfigured(client)
    # Within the declared range [-1, 1], but only -1 means "the model's own".
    set_parameters(client, model="tiny-random", detection_threshold=-0.5)
    log = client.new_log()

    assert client.change_state(CONFIGURE) is False
    assert "detection_threshold must be in [0, 1], or -1 for the model's own, got -0.5" in log.text(), log.text()
    assert sam3_node.alive()

    set_parameters(client, detection_threshold=-1.0)
    transition(client, CONFIGURE, "inactive")


def test_configure_after_fixing_the_parameters(client, reports, footage):
    to_unconfigured(client)
    set_parameters(client, model=BROKEN_MODEL)
    assert client.change_state(CONFIGURE) is False

    # While unconfigured every parameter can change; prompts are applied at configure.
    set_parameters(client, model="tiny-random", prompts=["person"])
    transition(client, CONFIGURE, "inactive")
    status = wait_for_report(client, reports, lambda s: True, "a report after configure")
    assert status.level == OK and values(status)["lifecycle state"] == "inactive", status
    assert values(status)["model"] == "tiny-random" and values(status)["device"] == "cpu"

    # Prompts can be set from configure on, and are kept for activate; inactive, images are ignored.
    client.wait_until_connected()
    response = client.set_prompts(SetPrompts.Request.ADD, ["bicycle"])
    assert response.success, response.message
    assert texts(client.get_prompts()) == PROMPTS
    ignored = send_while_inactive(client, reports, footage[:2])

    transition(client, ACTIVATE, "active")
    _, result = client.process(footage[2])
    assert texts(result.prompts) == PROMPTS
    assert_not_processed(client, ignored)


def test_activate_starts_processing(client, reports, footage):
    to_inactive(client)
    ignored = send_while_inactive(client, reports, footage[:2])

    transition(client, ACTIVATE, "active")
    results = [client.process(frame)[1] for frame in footage[: client.CONFIRM_FRAMES]]

    # Tracks start with activation: the frames sent while inactive were not run through the model.
    assert_not_processed(client, ignored)
    assert not any(r.instances for r in results[:-1]), "tracks were confirmed early: inactive frames were processed"
    assert sorted(track_ids(results[-1])) == ["bicycle", "person"], results[-1].instances


def test_deactivate_ignores_images_and_keeps_prompts_and_tracks(client, reports, footage):
    tracked = to_active_with_tracks(client, footage)
    prompt_ids = {p.text: p.id for p in client.get_prompts()}
    frames_tracked = {i.id: i.frames_tracked for i in tracked.instances}

    transition(client, DEACTIVATE, "inactive")
    ignored = send_while_inactive(client, reports, footage[3:6])
    assert {p.text: p.id for p in client.get_prompts()} == prompt_ids

    transition(client, ACTIVATE, "active")
    _, result = client.process(footage[6])
    assert_not_processed(client, ignored)
    assert track_ids(result) == track_ids(tracked), "the tracks did not survive deactivate"
    # One frame later, not four: the three frames sent while inactive never reached the model.
    assert {i.id: i.frames_tracked for i in result.instances} == {k: v + 1 for k, v in frames_tracked.items()}


def test_diagnostics_report_a_stalled_camera_and_its_recovery(client, reports, footage):
    to_active_with_tracks(client, footage)

    # No frame for longer than stall_timeout while active: WARN.
    status = wait_for_report(client, reports, lambda s: s.level == WARN, "a stall WARN")
    assert "camera stalled" in status.message, status
    assert float(values(status)["seconds since last image"]) >= STALL_TIMEOUT_S

    # Frames again, stamped with the current time so that the latency is meaningful: back to OK.
    # (The earlier frames' stamps are synthetic, days ago: the report must be of a window after them,
    # so the first report made after the first current frame does not count.)
    flowing_since = client.node.get_clock().now()

    def frame_and_ok_report():
        stamp = client.node.get_clock().now().to_msg()
        client.wait_for_result(client.publish_frame(footage[7], stamp=stamp).header.stamp)
        after = [s for t, s in reports if t >= flowing_since]
        return next((s for s in after[1:] if s.level == OK), None)

    status = client.spin_until(frame_and_ok_report, DIAGNOSTIC_TIMEOUT_S * 3, "an OK report while frames flow")
    report = values(status)
    assert status.message == "active" and report["lifecycle state"] == "active", status
    assert float(report["processed rate (Hz)"]) > 0 and float(report["input rate (Hz)"]) > 0, report
    assert 0.0 <= float(report["latency mean (s)"]) <= float(report["latency max (s)"]) < 30.0, report
    assert report["active prompts"] == "2" and report["instances"] == "2", report
    assert report["device memory in use (MiB)"] == "n/a", report  # CPU


def test_cleanup_frees_the_model_and_keeps_the_prompts(client, footage):
    tracked = to_active_with_tracks(client, footage)
    prompt_ids = {p.text: p.id for p in client.get_prompts()}
    log = client.new_log()

    transition(client, DEACTIVATE, "inactive")
    transition(client, CLEANUP, "unconfigured")
    assert "cleaned up: model freed" in log.text()
    assert client.get_parameters(["prompts"])["prompts"] == PROMPTS
    wait_until_unserved(client)

    # Configure and activate again: the same prompts, from the parameter; ids never reused.
    transition(client, CONFIGURE, "inactive")
    transition(client, ACTIVATE, "active")
    client.wait_until_connected()
    prompts = client.get_prompts()
    assert texts(prompts) == PROMPTS
    assert min(p.id for p in prompts) > max(prompt_ids.values()), "a prompt id was reused after cleanup"
    for frame in footage[8 : 8 + client.CONFIRM_FRAMES]:
        _, result = client.process(frame)
    assert sorted(track_ids(result)) == ["bicycle", "person"]
    assert min(track_ids(result).values()) > max(track_ids(tracked).values()), "a track id was reused after cleanup"
