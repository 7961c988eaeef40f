"""sam3_ros.node.rviz_markers: a box and a label per positioned instance, DELETE when a track goes (no ROS graph)."""

from __future__ import annotations

import pytest
from geometry_msgs.msg import Point
from sam3_ros.msg import Instance, InstanceArray
from std_msgs.msg import Header
from visualization_msgs.msg import Marker

from sam3_ros.node.rviz_markers import BOX_NAMESPACE, LABEL_NAMESPACE, delete_all_markers, marker_id, markers_for_instances

DEPTH_FRAME = "camera_depth_optical_frame"


def instance(track_id: int, text: str, has_position: bool = True) -> Instance:
    msg = Instance(id=track_id, prompt_text=text, has_position=has_position)
    if has_position:
        msg.box_min, msg.box_max = Point(x=-0.2, y=-0.1, z=1.0), Point(x=0.2, y=0.3, z=1.0)  # flat in z
        msg.position = Point(x=0.05, y=0.1, z=1.0)
    return msg


def array(*instances) -> InstanceArray:
    msg = InstanceArray(instances=list(instances))
    msg.header.frame_id = "camera_colour_optical_frame"
    msg.depth_header = Header(frame_id=DEPTH_FRAME)
    msg.depth_header.stamp.sec = 42
    return msg


def by_key(markers):
    return {(m.ns, m.id): m for m in markers.markers}


def test_box_and_label_per_positioned_instance():
    markers, shown = markers_for_instances(array(instance(7, "red cup"), instance(9, "person", has_position=False)), set())
    assert shown == {7}
    found = by_key(markers)
    assert set(found) == {(BOX_NAMESPACE, 7), (LABEL_NAMESPACE, 7)}
    box, label = found[(BOX_NAMESPACE, 7)], found[(LABEL_NAMESPACE, 7)]
    for marker in (box, label):
        assert marker.header.frame_id == DEPTH_FRAME and marker.header.stamp.sec == 42
        assert marker.action == Marker.ADD and marker.pose.orientation.w == 1.0
    assert box.type == Marker.CUBE
    assert (box.pose.position.x, box.pose.position.y, box.pose.position.z) == pytest.approx((0.0, 0.1, 1.0))
    assert (box.scale.x, box.scale.y, box.scale.z) == pytest.approx((0.4, 0.4, 0.01)), "a flat box keeps a visible thickness"
    assert 0.0 < box.color.a < 1.0
    assert label.type == Marker.TEXT_VIEW_FACING and label.text == "red cup #7"
    assert label.pose.position.y < -0.1, "the label sits above the box (y points down)"


def test_ended_tracks_are_deleted_once():
    _, shown = markers_for_instances(array(instance(7, "cup"), instance(8, "cup")), set())
    markers, shown = markers_for_instances(array(instance(8, "cup")), shown)
    deleted = {key for key, m in by_key(markers).items() if m.action == Marker.DELETE}
    assert deleted == {(BOX_NAMESPACE, 7), (LABEL_NAMESPACE, 7)} and shown == {8}
    markers, shown = markers_for_instances(array(instance(8, "cup")), shown)
    assert all(m.action == Marker.ADD for m in markers.markers)


def test_losing_the_position_deletes_the_markers():
    _, shown = markers_for_instances(array(instance(3, "cup")), set())
    markers, shown = markers_for_instances(array(instance(3, "cup", has_position=False)), shown)
    assert {m.action for m in markers.markers} == {Marker.DELETE} and shown == set()


def test_marker_ids_fit_int32():
    assert marker_id(5) == 5 and marker_id(2**31 + 5) == 5


def test_delete_all():
    markers = delete_all_markers(Header(frame_id=DEPTH_FRAME))
    assert {(m.ns, m.action) for m in markers.markers} == {(BOX_NAMESPACE, Marker.DELETEALL), (LABEL_NAMESPACE, Marker.DELETEALL)}
