"""Two cameras on one node and one model (parameter `cameras`): bikes.mp4 on one, the carphone clip
(another scene, another size) on the other, their frames interleaved. Each camera's results come
on its own topic with its own image's frame and stamp, and no track id is reported by both. A click names the camera whose image it is in; each camera has its
own diagnostics."""

import re
import subprocess
import time

from diagnostic_msgs.msg import DiagnosticStatus
from geometry_msgs.msg import Point32
from sam3_ros.srv import RemoveObject, TrackObject

from sam3_ros.node.node_process import executable_path

NODE_PARAMETERS = {"cameras": ["street", "car"]}
FRAME_IDS = {"street": "street_camera_optical_frame", "car": "car_camera_optical_frame"}


def test_each_camera_reports_in_its_own_frame_and_stamps_with_ids_unique_over_both(fresh, footage, carphone_frames):
    client = fresh
    frames = {"street": footage, "car": carphone_frames}
    stamps = {camera: [] for camera in frames}
    ids = {camera: set() for camera in frames}
    for index in range(client.CONFIRM_FRAMES + 3):
        for camera, clip in frames.items():
            msg, result = client.process_on(camera, clip[index], FRAME_IDS[camera])
            assert result.header.frame_id == FRAME_IDS[camera]
            assert (result.width, result.height) == (msg.width, msg.height)
            stamps[camera].append(msg.header.stamp)
            ids[camera] |= {instance.id for instance in result.instances}

    assert footage[0].shape != carphone_frames[0].shape
    for camera, results in client.camera_results.items():
        assert [r.header.stamp for r in results] == stamps[camera], f"{camera}'s output carries exactly its own images' stamps"
    assert ids["street"] and ids["car"], "both cameras track the prompts"
    assert not ids["street"] & ids["car"], f"a track id on both cameras: {ids}"
    assert {p.text for p in client.get_prompts()} == set(client.START_PROMPTS), "one prompt set for the node"


def _track(client, camera: str):
    request = TrackObject.Request(points=[Point32(x=70.0, y=30.0)], label="clicked", camera=camera)
    return client.call(TrackObject, f"{client.NODE_NAME}/track_object", request)


def test_a_click_names_its_camera_and_the_object_is_tracked_there_only(fresh, footage, carphone_frames):
    client = fresh
    client.process_on("street", footage[0], FRAME_IDS["street"])
    client.process_on("car", carphone_frames[0], FRAME_IDS["car"])

    unnamed = _track(client, "")
    unknown = _track(client, "rear")
    assert not unnamed.success and "this node has the cameras 'street', 'car': say in `camera`" in unnamed.message, unnamed
    assert not unknown.success and "no camera 'rear': this node's cameras are 'street', 'car'" in unknown.message, unknown

    tracked = _track(client, "car")
    assert tracked.success, tracked.message
    assert [(o.track_id, o.label, o.camera) for o in tracked.visual_objects] == [(tracked.track_id, "clicked", "car")]
    _, car = client.process_on("car", carphone_frames[1], FRAME_IDS["car"])
    _, street = client.process_on("street", footage[1], FRAME_IDS["street"])
    assert tracked.track_id in {i.id for i in car.instances}, "the clicked object is tracked on its camera"
    assert tracked.track_id not in {i.id for i in street.instances}
    removed = client.call(RemoveObject, f"{client.NODE_NAME}/remove_object", RemoveObject.Request(track_id=tracked.track_id))
    assert removed.success and not removed.visual_objects, removed


def test_sam3ctl_tracks_an_object_on_the_camera_it_names(fresh, carphone_frames):
    fresh.process_on("car", carphone_frames[0], FRAME_IDS["car"])
    command = [str(executable_path("sam3ctl")), "objects", "track", "--camera", "car", "--point", "70", "30", "--label", "clicked"]

    done = subprocess.run(command, capture_output=True, text=True, timeout=120)

    assert done.returncode == 0, done.stdout + done.stderr
    assert re.search(r"^ *\d+ +clicked  \(camera car\)$", done.stdout, re.MULTILINE), done.stdout


def test_each_camera_has_its_own_diagnostics_and_a_silent_one_is_reported_stalled(fresh, footage, carphone_frames):
    fresh.subscribe_diagnostics()
    fresh.process_on("car", carphone_frames[0], FRAME_IDS["car"])

    # The street camera goes on at camera pace (one frame after the other), the car falls silent.
    deadline, index, stalled = time.monotonic() + 60, 0, None
    while stalled is None:
        assert time.monotonic() < deadline, "the silent car camera was never reported stalled"
        fresh.process_on("street", footage[index % len(footage)], FRAME_IDS["street"])
        index += 1
        stalled = next((s for _, s in fresh.diagnostics if s.name == "sam3: camera car" and s.level == DiagnosticStatus.WARN), None)

    assert stalled.message.startswith("camera 'car' stalled: no image for"), stalled
    street = [s for _, s in fresh.diagnostics if s.name == "sam3: camera street"][-1]
    assert street.level == DiagnosticStatus.OK and fresh.report_values(street)["processed rate (Hz)"] != "0.00", street
    node = fresh.wait_for_diagnostic(lambda s: s.name == "sam3: concept tracking", 10, "the node's own status")
    assert node.level == DiagnosticStatus.WARN and "camera 'car' stalled" in node.message, node
