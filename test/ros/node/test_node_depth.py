"""3D positions from depth (use_depth) and RViz markers, on the real node in a real ROS 2 graph.

The node gets a colour frame (160x120), a registered depth image at half that resolution (80x60)
and the depth camera_info, stamped a few milliseconds apart as a real camera's are. The scene's
depth is known: a fronto-parallel plane at 2.0 m, in some cases with a box region at 1.2 m, and
columns without a measurement (0 in 16UC1, NaN in 32FC1). The tiny untrained model's masks are
arbitrary, so each expected position is computed from the published mask itself, independently of
the node's code: map the mask to depth pixels as docs/depth.md states, back-project the
known depths with the camera matrix, keep the surface that the documented reference depth (the
k-th smallest, k = floor(0.1 (n - 1))) lies on; the two surfaces are 0.8 m apart, more than the
rejection band, so the inliers are exactly that surface's pixels.

Tolerances: centroid and box corners within 1 mm (the node works on float32 depth, the test in
float64); the robust depth within 1e-5 m of the surface depth, which is exactly representable in
both encodings up to float32 rounding (2000 mm / 1000 = 2.0 m).
"""

from __future__ import annotations

import cv2
import numpy as np
import pytest
from sam3_ros.srv import SetPrompts
from visualization_msgs.msg import Marker

from sam3_ros.outputs.mask_encoding import decode_mask

MIN_DEPTH_PIXELS = 5
NODE_PARAMETERS = {"use_depth": True, "min_depth_pixels": MIN_DEPTH_PIXELS}

COLOUR_SIZE = (160, 120)  # width, height
DEPTH_SIZE = (80, 60)
K_DEPTH = np.array([[70.0, 0.0, 39.5], [0.0, 70.0, 29.5], [0.0, 0.0, 1.0]])
PLANE_M, BOX_M = 2.0, 1.2
BOX_ROWS, BOX_COLS = slice(12, 42), slice(16, 56)  # depth pixels of the near box
INVALID_COLUMNS = slice(3, None, 7)  # no measurement
DEPTH_OFFSET_NS, INFO_OFFSET_NS = 3_000_000, -4_000_000  # within the default slop of 50 ms
POSITION_TOLERANCE_M = 1e-3
DEPTH_TOLERANCE_M = 1e-5


def scene(with_box: bool) -> np.ndarray:
    depth = np.full(DEPTH_SIZE[::-1], PLANE_M)
    if with_box:
        depth[BOX_ROWS, BOX_COLS] = BOX_M
    depth[:, INVALID_COLUMNS] = np.nan
    return depth


def colour_frames(footage) -> list[np.ndarray]:
    return [cv2.resize(frame, COLOUR_SIZE, interpolation=cv2.INTER_AREA) for frame in footage]


def expected_inliers(mask: np.ndarray, depth_m: np.ndarray) -> tuple[np.ndarray, float]:
    """The 3D points (N x 3) the node must use for this mask, and their surface's depth."""
    (colour_h, colour_w), (depth_h, depth_w) = mask.shape, depth_m.shape
    rows = np.floor((np.arange(depth_h) + 0.5) * colour_h / depth_h).astype(int)
    cols = np.floor((np.arange(depth_w) + 0.5) * colour_w / depth_w).astype(int)
    covered = mask[rows][:, cols]  # depth pixel -> the colour pixel under its centre
    ii, jj = np.nonzero(covered & np.isfinite(depth_m))
    z = depth_m[ii, jj]
    if z.size == 0:
        return np.zeros((0, 3)), 0.0
    surface = float(np.sort(z)[int(np.floor(0.1 * (z.size - 1)))])
    on = z == surface
    fx, fy, cx, cy = K_DEPTH[0, 0], K_DEPTH[1, 1], K_DEPTH[0, 2], K_DEPTH[1, 2]
    points = np.stack([(jj[on] - cx) * z[on] / fx, (ii[on] - cy) * z[on] / fy, z[on]], axis=1)
    return points, surface


def as_array(point) -> np.ndarray:
    return np.array([point.x, point.y, point.z])


def process_with_depth(client, rgb, depth_m, encoding="16UC1", depth_offset_ns=DEPTH_OFFSET_NS):
    colour, depth = client.publish_with_depth(rgb, depth_m, encoding, K_DEPTH, depth_offset_ns, INFO_OFFSET_NS)
    return colour, depth, client.wait_for_result(colour.header.stamp)


def confirm_tracks(client, frames) -> None:
    """confirm_frames frames with depth: then results carry an instance per start prompt."""
    for frame in frames[: client.CONFIRM_FRAMES]:
        _, _, result = process_with_depth(client, frame, scene(with_box=False))
    assert sorted(i.prompt_text for i in result.instances) == sorted(client.START_PROMPTS), result.instances


@pytest.fixture(scope="module")
def tracking(client, footage):
    """Tracks confirmed (confirm_frames frames with depth), so that results carry instances."""
    frames = colour_frames(footage)
    confirm_tracks(client, frames)
    return frames


@pytest.fixture
def tracks_restored(client, tracking):
    """For a test that ends tracks: afterwards the start prompts are tracked again, as `tracking` left them."""
    yield tracking
    client.reset_to_start()
    confirm_tracks(client, tracking)


def test_node_subscribes_to_depth_with_the_fallback_synchroniser(client, sam3_node):
    graph = client.node
    for topic, msg_type in ((client.DEPTH_TOPIC, "sensor_msgs/msg/Image"), (client.DEPTH_INFO_TOPIC, "sensor_msgs/msg/CameraInfo")):
        subscribers = graph.get_subscriptions_info_by_topic(topic)
        assert [(s.node_name, s.topic_type) for s in subscribers] == [("sam3", msg_type)], subscribers
    with pytest.raises(ImportError):
        import message_filters  # noqa: F401 - the PyPI wheels have none: this environment runs the fallback
    assert "approximate-time sync: sam3_ros.node.approximate_sync" in sam3_node.log_text()


@pytest.mark.parametrize("encoding", ["16UC1", "32FC1"])
@pytest.mark.parametrize("with_box", [False, True], ids=["plane", "plane and box"])
def test_positions_match_the_known_geometry(client, tracking, encoding, with_box):
    depth_m = scene(with_box)
    colour, depth, result = process_with_depth(client, tracking[client.CONFIRM_FRAMES], depth_m, encoding)
    assert result.depth_header.stamp == depth.header.stamp
    assert result.depth_header.frame_id == client.FRAME_ID
    assert result.instances, "no instances to check"
    for instance in result.instances:
        mask = decode_mask(instance.mask_rle, result.height, result.width)
        points, surface = expected_inliers(mask, depth_m)
        what = f"{instance.prompt_text} #{instance.id} ({encoding})"
        assert instance.depth_pixels == len(points), what
        assert instance.has_position == (len(points) >= MIN_DEPTH_PIXELS), what
        if not instance.has_position:
            continue
        assert surface in (PLANE_M, BOX_M)
        assert instance.depth == pytest.approx(surface, abs=DEPTH_TOLERANCE_M), f"{what}: a blend of the two surfaces?"
        assert instance.position.z == pytest.approx(surface, abs=DEPTH_TOLERANCE_M), what
        np.testing.assert_allclose(as_array(instance.position), points.mean(axis=0), atol=POSITION_TOLERANCE_M, err_msg=what)
        np.testing.assert_allclose(as_array(instance.box_min), points.min(axis=0), atol=POSITION_TOLERANCE_M, err_msg=what)
        np.testing.assert_allclose(as_array(instance.box_max), points.max(axis=0), atol=POSITION_TOLERANCE_M, err_msg=what)
    assert any(i.has_position for i in result.instances), f"no instance got a position: {result.instances}"


def test_colour_without_matching_depth_is_not_processed(client, tracking):
    """A colour frame whose depth is further away in time than the slop never forms a set.

    A matched set sent right after them is processed. The node takes frames in the order they
    come and keeps only the newest: had the others formed a set, it would have been processed first
    (its result here before the matched one's) or been replaced by the matched one, which the node
    counts as a dropped frame.
    """
    client.subscribe_diagnostics()
    report = client.wait_for_diagnostic(lambda s: True, client.REPORT_TIMEOUT_S, "a diagnostics report")
    dropped = int(client.report_values(report)["dropped frames (total)"])
    far_ns = 200_000_000  # 0.2 s, more than depth_sync_slop (0.05 s)
    colour, _depth = client.publish_with_depth(tracking[0], scene(False), "16UC1", K_DEPTH, far_ns, far_ns)
    lone = client.publish_frame(tracking[1])
    _, _, result = process_with_depth(client, tracking[2], scene(False))  # and matched sets still are
    assert result.instances
    assert client.result_for(colour.header.stamp) is None and client.result_for(lone.header.stamp) is None
    report = client.wait_for_diagnostic(lambda s: True, client.REPORT_TIMEOUT_S, "a diagnostics report after the matched set")
    assert int(client.report_values(report)["dropped frames (total)"]) == dropped, "a frame was replaced unseen"


def test_unusable_depth_gives_instances_without_position(client, sam3_node, tracking):
    """A camera_info for another image size: the frame is still processed, without positions, with a warning."""
    log_start = len(sam3_node.log_text())
    stamp = client.next_stamp()
    client.depth_info_pub.publish(client.make_camera_info(K_DEPTH, DEPTH_SIZE[0] * 2, DEPTH_SIZE[1] * 2, stamp))
    client.depth_pub.publish(client.make_depth_image(scene(False), "16UC1", stamp))
    colour = client.publish_frame(tracking[4], stamp=stamp)
    result = client.wait_for_result(colour.header.stamp)
    assert result.instances and not any(i.has_position for i in result.instances), result.instances
    warning = "no 3D positions for this frame: depth camera_info is for 160x120 images but the depth image is 80x60"
    client.spin_until(lambda: warning in sam3_node.log_text()[log_start:], 10.0, "the warning about the camera_info")


def _markers_for(client, stamp):
    """The MarkerArray the node published for the frame whose depth image had this stamp."""
    return next((a for a in client.marker_arrays if a.markers and a.markers[0].header.stamp == stamp), None)


def test_markers_follow_the_tracks(client, tracks_restored):
    tracking = tracks_restored
    client.subscribe_markers()
    # The node builds markers only once it sees a subscriber: go on until a frame has some.
    for frame in tracking[5:12]:
        _, depth, result = process_with_depth(client, frame, scene(True))
        markers = client.spin_until(lambda depth=depth: _markers_for(client, depth.header.stamp), 10.0, "markers", fail=False)
        if markers:
            break
    else:
        raise AssertionError(f"no MarkerArray for 7 frames: {client.node_process.describe()}")

    positioned = {i.id: i for i in result.instances if i.has_position}
    assert positioned, "no instance with a position to show"
    boxes = {m.id: m for m in markers.markers if m.ns == "sam3_boxes"}
    labels = {m.id: m for m in markers.markers if m.ns == "sam3_labels"}
    assert set(boxes) == set(labels) == set(positioned), (boxes.keys(), labels.keys(), positioned.keys())
    for track_id, instance in positioned.items():
        box, label = boxes[track_id], labels[track_id]
        assert (box.type, box.action, label.type, label.action) == (Marker.CUBE, Marker.ADD, Marker.TEXT_VIEW_FACING, Marker.ADD)
        assert box.header.frame_id == label.header.frame_id == client.FRAME_ID
        low, high = as_array(instance.box_min), as_array(instance.box_max)
        np.testing.assert_allclose(as_array(box.pose.position), (low + high) / 2, atol=1e-9)
        np.testing.assert_allclose(as_array(box.scale), np.maximum(high - low, 0.01), atol=1e-9)
        assert label.text == f"{instance.prompt_text} #{instance.id}"

    # One prompt goes: its track ends, and its markers are deleted on the next frame.
    gone = next(iter(positioned.values()))
    response = client.set_prompts(SetPrompts.Request.REMOVE, [gone.prompt_text])
    assert response.success, response.message
    _, depth, result = process_with_depth(client, tracking[12], scene(True))
    markers = client.spin_until(lambda: _markers_for(client, depth.header.stamp), 10.0, "markers after the removal")
    deleted = {(m.ns, m.id) for m in markers.markers if m.action == Marker.DELETE}
    assert deleted == {("sam3_boxes", gone.id), ("sam3_labels", gone.id)}, markers.markers
    shown = {m.id for m in markers.markers if m.action == Marker.ADD}
    assert shown == {i.id for i in result.instances if i.has_position} and gone.id not in shown
