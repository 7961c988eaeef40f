"""The managed lifecycle and the diagnostics, on the real node driven through lifecycle_msgs services.

The node starts with autostart false and a model that cannot load, so it waits unconfigured; the
tests then walk it, in file order: a failed configure (ERROR diagnostics, node up), a configure
after fixing the parameter, activate, deactivate (images ignored, prompts and tracks kept),
activate, a camera stall (WARN) and its recovery (OK), deactivate and cleanup (model freed,
prompts kept), configure and activate again (ids continue), and a lifecycle shutdown that ends the
process cleanly.
"""

from __future__ import annotations

from diagnostic_msgs.msg import DiagnosticStatus
from lifecycle_msgs.msg import Transition
from rclpy.parameter import Parameter
from sam3_ros.srv import SetPrompts

BROKEN_MODEL = "/nonexistent/sam3-weights"
STALL_TIMEOUT_S = 1.0
NODE_PARAMETERS = {"autostart": False, "model": BROKEN_MODEL, "stall_timeout": STALL_TIMEOUT_S}

DIAGNOSTIC_TIMEOUT_S = 10.0  # reports come once a second
NO_RESULT_WAIT_S = 2.0
EXIT_TIMEOUT_S = 20.0
OK, WARN, ERROR = DiagnosticStatus.OK, DiagnosticStatus.WARN, DiagnosticStatus.ERROR


def values(status) -> dict[str, str]:
    return {kv.key: kv.value for kv in status.values}


def texts(prompts) -> list[str]:
    return [p.text for p in prompts]


def track_ids(result) -> dict[str, int]:
    return {i.prompt_text: i.id for i in result.instances}


def publish_without_result(client, frames) -> None:
    """Frames that the node must ignore: none of them gets an InstanceArray."""
    stamps = [client.publish_frame(frame).header.stamp for frame in frames]
    client.spin_for(NO_RESULT_WAIT_S)
    assert all(client.result_for(stamp) is None for stamp in stamps), "an image was processed while the node was not active"


class Walk:
    """What the tests of this module hand on to the next ones."""

    ids: dict[str, int] = {}
    prompt_ids: dict[str, int] = {}
    frames_tracked: dict[int, int] = {}


def test_starts_unconfigured_without_prompt_services(client):
    client.subscribe_diagnostics()
    assert client.lifecycle_state() == "unconfigured"
    client.spin_for(1.0)  # discovery time, so that a served ~/set_prompts would show
    assert not client.prompt_service_ready(), "the prompt services come with configure"
    status = client.wait_for_diagnostic(lambda s: True, DIAGNOSTIC_TIMEOUT_S, "a diagnostics report")
    assert status.level == OK and values(status)["lifecycle state"] == "unconfigured", status


def test_failed_configure_keeps_the_node_up_and_reports_an_error(client, sam3_node):
    assert client.change_state(Transition.TRANSITION_CONFIGURE) is False
    assert client.lifecycle_state() == "unconfigured"
    log = sam3_node.log_text()
    assert f"configure failed: could not load SAM 3 from '{BROKEN_MODEL}'" in log, log
    assert "configure again" in log
    status = client.wait_for_diagnostic(lambda s: s.level == ERROR, DIAGNOSTIC_TIMEOUT_S, "an ERROR report")
    assert "configure failed" in status.message and BROKEN_MODEL in status.message, status
    assert sam3_node.alive()


def test_configure_after_fixing_the_parameters(client, footage):
    # While unconfigured every parameter can change; prompts are applied at configure.
    for parameter in (Parameter("model", value="tiny-random"), Parameter("prompts", value=["person"])):
        result = client.set_parameter(parameter)
        assert result.successful, result.reason
    assert client.change_state(Transition.TRANSITION_CONFIGURE) is True
    assert client.lifecycle_state() == "inactive"
    status = client.wait_for_diagnostic(lambda s: True, DIAGNOSTIC_TIMEOUT_S, "a report after configure")
    assert status.level == OK and values(status)["lifecycle state"] == "inactive", status
    assert values(status)["model"] == "tiny-random" and values(status)["device"] == "cpu"

    # Prompts can be set from configure on, and are kept for activate.
    client.wait_until_connected()
    response = client.set_prompts(SetPrompts.Request.ADD, ["bicycle"])
    assert response.success, response.message
    assert texts(client.get_prompts()) == ["person", "bicycle"]
    publish_without_result(client, footage[:2])


def test_activate_starts_processing(client, footage):
    assert client.change_state(Transition.TRANSITION_ACTIVATE) is True
    assert client.lifecycle_state() == "active"
    results = [client.process(frame)[1] for frame in footage[: client.CONFIRM_FRAMES]]
    # Tracks start with activation: the frames sent while inactive were not run through the model.
    assert not any(r.instances for r in results[:-1]), "tracks were confirmed early: inactive frames were processed"
    Walk.ids = track_ids(results[-1])
    assert sorted(Walk.ids) == ["bicycle", "person"], results[-1].instances
    Walk.prompt_ids = {p.text: p.id for p in client.get_prompts()}
    Walk.frames_tracked = {i.id: i.frames_tracked for i in results[-1].instances}


def test_deactivate_ignores_images_and_keeps_prompts_and_tracks(client, footage):
    assert client.change_state(Transition.TRANSITION_DEACTIVATE) is True
    assert client.lifecycle_state() == "inactive"
    publish_without_result(client, footage[3:6])
    assert {p.text: p.id for p in client.get_prompts()} == Walk.prompt_ids

    assert client.change_state(Transition.TRANSITION_ACTIVATE) is True
    _, result = client.process(footage[6])
    assert track_ids(result) == Walk.ids, "the tracks did not survive deactivate"
    # One frame later, not four: the three frames sent while inactive never reached the model.
    assert {i.id: i.frames_tracked for i in result.instances} == {k: v + 1 for k, v in Walk.frames_tracked.items()}


def test_diagnostics_report_a_stalled_camera_and_its_recovery(client, footage):
    # No frame for longer than stall_timeout while active: WARN.
    status = client.wait_for_diagnostic(lambda s: s.level == WARN, DIAGNOSTIC_TIMEOUT_S, "a stall WARN")
    assert "camera stalled" in status.message, status
    assert float(values(status)["seconds since last image"]) >= STALL_TIMEOUT_S

    # Frames again, stamped with the current time so that the latency is meaningful: back to OK.
    # (The earlier frames' stamps are synthetic, days ago: wait for a report of a window after them.)
    recovered = []

    def frame_and_ok_report():
        stamp = client.node.get_clock().now().to_msg()
        client.wait_for_result(client.publish_frame(footage[7], stamp=stamp).header.stamp)
        if not recovered:
            recovered.append(len(client.diagnostics))
        return next((s for _, s in client.diagnostics[recovered[0] + 1 :] if s.level == OK), None)

    status = client.spin_until(frame_and_ok_report, DIAGNOSTIC_TIMEOUT_S * 3, "an OK report while frames flow")
    report = values(status)
    assert status.message == "active" and report["lifecycle state"] == "active", status
    assert float(report["processed rate (Hz)"]) > 0 and float(report["input rate (Hz)"]) > 0, report
    assert 0.0 <= float(report["latency mean (s)"]) <= float(report["latency max (s)"]) < 30.0, report
    assert report["active prompts"] == "2" and report["instances"] == "2", report
    assert report["device memory in use (MiB)"] == "n/a", report  # CPU


def test_cleanup_frees_the_model_and_keeps_the_prompts(client, sam3_node, footage):
    assert client.change_state(Transition.TRANSITION_DEACTIVATE) is True
    assert client.change_state(Transition.TRANSITION_CLEANUP) is True
    assert client.lifecycle_state() == "unconfigured"
    assert "cleaned up: model freed" in sam3_node.log_text()
    assert client.get_parameters(["prompts"])["prompts"] == ["person", "bicycle"]
    client.spin_until(lambda: not client.prompt_service_ready(), 10.0, "the prompt services to go with cleanup")

    # Configure and activate again: the same prompts, from the parameter; ids never reused.
    assert client.change_state(Transition.TRANSITION_CONFIGURE) is True
    assert client.change_state(Transition.TRANSITION_ACTIVATE) is True
    client.wait_until_connected()
    prompts = client.get_prompts()
    assert texts(prompts) == ["person", "bicycle"]
    assert min(p.id for p in prompts) > max(Walk.prompt_ids.values()), "a prompt id was reused after cleanup"
    for frame in footage[8 : 8 + client.CONFIRM_FRAMES]:
        _, result = client.process(frame)
    assert sorted(track_ids(result)) == ["bicycle", "person"]
    assert min(track_ids(result).values()) > max(Walk.ids.values()), "a track id was reused after cleanup"


def test_lifecycle_shutdown_ends_the_process_cleanly(client, sam3_node):
    sam3_node.exit_expected = True
    assert client.change_state(Transition.TRANSITION_ACTIVE_SHUTDOWN) is True
    sam3_node.process.wait(timeout=EXIT_TIMEOUT_S)
    assert sam3_node.process.returncode == 0, sam3_node.describe()
    assert "shut down" in sam3_node.log_text()
