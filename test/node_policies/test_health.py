"""sam3_ros.node.health: diagnostics levels, messages and values from counters (pure unit tests)."""

from __future__ import annotations

import pytest

from sam3_ros.node.health import ERROR_STREAK, HealthMonitor, Level, device_memory_mib

STALL_S = 2.0


def active_monitor(use_depth: bool = False, now: float = 0.0) -> HealthMonitor:
    monitor = HealthMonitor(now)
    monitor.configured("tiny-random", "cpu", "float32", use_depth, STALL_S)
    monitor.activated(now)
    return monitor


def values(report) -> dict[str, str]:
    return dict(report.values)


def test_unconfigured_is_ok_until_a_configure_fails():
    monitor = HealthMonitor(0.0)
    report = monitor.report(1.0, 0, "n/a")
    assert (report.level, report.message) == (Level.OK, "unconfigured")
    assert values(report)["lifecycle state"] == "unconfigured" and values(report)["model"] == "n/a"

    monitor.configure_failed("could not load SAM 3 from 'x'")
    report = monitor.report(2.0, 0, "n/a")
    assert report.level == Level.ERROR and report.message == "configure failed: could not load SAM 3 from 'x'"
    assert monitor.report(100.0, 0, "n/a").level == Level.ERROR, "no stall check while unconfigured"

    monitor.configured("tiny-random", "cpu", "float32", False, STALL_S)
    report = monitor.report(3.0, 0, "n/a")
    assert (report.level, report.message) == (Level.OK, "inactive")
    assert (values(report)["model"], values(report)["device"], values(report)["dtype"]) == ("tiny-random", "cpu", "float32")


def test_rates_drops_latency_and_counts_over_the_window():
    monitor = active_monitor()
    for step in range(10):
        monitor.image_received(0.1 * step)
    for _ in range(4):
        monitor.frame_dropped()
    for latency in (0.1, 0.3, 0.2):
        monitor.frame_processed(latency, instances=2, positioned=0)
    report = values(monitor.report(2.0, 3, "512.0"))
    assert report["input rate (Hz)"] == "5.00" and report["processed rate (Hz)"] == "1.50"
    assert report["dropped frames"] == "4" and report["dropped frames (total)"] == "4"
    assert report["latency mean (s)"] == "0.200" and report["latency max (s)"] == "0.300"
    assert report["active prompts"] == "3" and report["instances"] == "2"
    assert report["device memory in use (MiB)"] == "512.0"
    assert report["seconds since last image"] == "1.100"
    assert "instances with 3D position" not in report, "depth values only with use_depth"

    # A new window: nothing happened in it, totals stay.
    monitor.image_received(2.5)
    report = values(monitor.report(3.0, 3, "512.0"))
    assert report["input rate (Hz)"] == "1.00" and report["processed rate (Hz)"] == "0.00"
    assert report["dropped frames"] == "0" and report["dropped frames (total)"] == "4"
    assert report["latency mean (s)"] == "n/a" and report["latency max (s)"] == "n/a"


def test_stalled_camera_warns_and_recovers():
    monitor = active_monitor(now=10.0)
    assert monitor.report(11.0, 1, "n/a").level == Level.OK, "the camera gets stall_timeout from activation"
    report = monitor.report(12.5, 1, "n/a")
    assert report.level == Level.WARN
    assert report.message == "camera stalled: no image for 2.5 s (stall_timeout 2 s)"

    monitor.image_received(13.0)
    monitor.frame_processed(0.1, 1, 0)
    report = monitor.report(13.5, 1, "n/a")
    assert (report.level, report.message) == (Level.OK, "active")
    assert monitor.report(15.0, 1, "n/a").level == Level.WARN, "2 s after the last image"


def test_no_stall_while_inactive_and_reactivation_restarts_the_clock():
    monitor = active_monitor()
    monitor.deactivated()
    report = monitor.report(100.0, 1, "n/a")
    assert (report.level, report.message) == (Level.OK, "inactive")
    monitor.activated(100.0)
    assert monitor.report(101.0, 1, "n/a").level == Level.OK
    assert monitor.report(102.0, 1, "n/a").level == Level.WARN


def test_inference_errors_warn_and_a_streak_is_an_error():
    monitor = active_monitor()
    monitor.image_received(0.5)
    monitor.inference_failed("RuntimeError('CUDA out of memory')")
    report = monitor.report(1.0, 1, "n/a")
    assert report.level == Level.WARN and "inference failed on 1 frame(s): RuntimeError('CUDA out of memory')" in report.message

    for _ in range(ERROR_STREAK - 1):
        monitor.inference_failed("RuntimeError('CUDA out of memory')")
    monitor.image_received(1.5)
    report = monitor.report(1.6, 1, "n/a")
    assert report.level == Level.ERROR and f"inference failed on {ERROR_STREAK} frames in a row" in report.message
    assert values(report)["inference errors (total)"] == str(ERROR_STREAK)

    monitor.frame_processed(0.1, 1, 0)  # a good frame ends the streak
    monitor.image_received(1.8)
    report = monitor.report(2.0, 1, "n/a")
    assert (report.level, report.message) == (Level.OK, "active")


def test_several_problems_are_all_reported_at_the_worst_level():
    monitor = active_monitor()
    for _ in range(ERROR_STREAK):
        monitor.inference_failed("boom")
    report = monitor.report(5.0, 1, "n/a")
    assert report.level == Level.ERROR
    assert "inference failed" in report.message and "camera stalled" in report.message


def test_every_image_rejected_warns():
    monitor = active_monitor()
    monitor.image_received(0.5)
    monitor.image_rejected("unsupported image encoding '32FC1'")
    report = monitor.report(1.0, 1, "n/a")
    assert report.level == Level.WARN and report.message == "every image was rejected: unsupported image encoding '32FC1'"
    assert values(report)["rejected images (total)"] == "1"
    monitor.image_received(1.2)
    monitor.image_rejected("unsupported image encoding '32FC1'")
    monitor.frame_processed(0.1, 0, 0)
    assert monitor.report(1.5, 1, "n/a").level == Level.OK, "some images were processed"


def test_depth_that_never_matches_warns():
    monitor = active_monitor(use_depth=True)
    monitor.image_received(1.0)
    monitor.inputs_synchronised(1.0)
    monitor.frame_processed(0.1, 3, 2)
    report = monitor.report(1.5, 2, "n/a")
    assert report.level == Level.OK
    assert values(report)["instances with 3D position"] == "2" and values(report)["synchronised depth rate (Hz)"] == "0.67"

    monitor.image_received(3.4)  # colour keeps coming, depth does not
    report = monitor.report(3.5, 2, "n/a")
    assert report.level == Level.WARN and report.message.startswith("no depth image and camera_info matched a colour image for 2.5 s")


def test_cleanup_forgets_the_device():
    monitor = active_monitor()
    monitor.deactivated()
    monitor.cleaned_up()
    report = monitor.report(1.0, 1, "n/a")
    assert (report.level, values(report)["lifecycle state"], values(report)["device"]) == (Level.OK, "unconfigured", "n/a")


def test_stall_timeout_must_be_positive():
    with pytest.raises(ValueError, match="stall_timeout"):
        HealthMonitor(0.0).configured("m", "cpu", "float32", False, 0.0)


def test_device_memory_is_na_off_cuda():
    assert device_memory_mib("cpu") == "n/a" and device_memory_mib(None) == "n/a"


def test_each_named_camera_reports_its_own_rates_and_its_own_stall():
    monitor = HealthMonitor(0.0)
    monitor.configured("tiny-random", "cpu", "float32", False, STALL_S, cameras=("front", "rear"))
    monitor.activated(0.0)
    for step in range(10):
        monitor.image_received(0.1 * step, "front")
        monitor.frame_processed(0.05, 2, 0, "front")
    monitor.image_received(0.5, "rear")
    monitor.frame_dropped("rear")

    report = monitor.report(1.0, 1, "n/a")
    cameras = dict(report.cameras)
    assert list(cameras) == ["front", "rear"]
    assert (values(report)["input rate (Hz)"], values(report)["dropped frames"]) == ("11.00", "1"), "the node's figures sum the cameras'"
    front, rear = values(cameras["front"]), values(cameras["rear"])
    assert (front["input rate (Hz)"], front["processed rate (Hz)"], front["instances"], front["dropped frames"]) == (
        "10.00",
        "10.00",
        "2",
        "0",
    )
    assert (rear["input rate (Hz)"], rear["processed rate (Hz)"], rear["dropped frames"]) == ("1.00", "0.00", "1")
    assert report.level == cameras["front"].level == cameras["rear"].level == Level.OK

    for step in range(10, 40):  # the front camera goes on, the rear one falls silent
        monitor.image_received(0.1 * step, "front")
    report = monitor.report(4.0, 1, "n/a")
    cameras = dict(report.cameras)
    assert cameras["front"].level == Level.OK and values(cameras["front"])["input rate (Hz)"] == "10.00"
    assert (cameras["rear"].level, cameras["rear"].message) == (Level.WARN, "camera 'rear' stalled: no image for 3.5 s (stall_timeout 2 s)")
    assert report.level == Level.WARN and report.message == "camera 'rear' stalled: no image for 3.5 s (stall_timeout 2 s)"


def test_the_one_unnamed_camera_has_no_report_of_its_own():
    monitor = active_monitor()
    monitor.image_received(0.5)
    assert monitor.report(1.0, 0, "n/a").cameras == ()
