"""RViz markers for the instances with a 3D position: a box and a "concept #id" label per track.

Marker ids are the track ids (modulo 2^31, Marker.id is int32), in two namespaces, so a track keeps
its markers from frame to frame, and RViz replaces them in place. A track that is no longer
published with a position (it ended, was occluded, or lost its depth) gets DELETE markers once.
"""

from __future__ import annotations

from geometry_msgs.msg import Point, Vector3
from std_msgs.msg import ColorRGBA
from visualization_msgs.msg import Marker, MarkerArray

from sam3_ros.outputs.debug_overlay import track_colour

BOX_NAMESPACE = "sam3_boxes"
LABEL_NAMESPACE = "sam3_labels"
BOX_ALPHA = 0.5
MIN_BOX_SIZE_M = 0.01  # a flat or one-pixel box still shows in RViz
LABEL_HEIGHT_M = 0.08  # text height
LABEL_GAP_M = 0.05  # label above the box (optical frame: y points down, so "above" is smaller y)
_ID_RANGE = 2**31


def marker_id(track_id: int) -> int:
    return int(track_id) % _ID_RANGE


def _marker(header, namespace: str, track_id: int, action: int) -> Marker:
    marker = Marker()
    marker.header = header
    marker.ns = namespace
    marker.id = marker_id(track_id)
    marker.action = action
    marker.pose.orientation.w = 1.0
    return marker


def _box(header, instance) -> Marker:
    low, high = instance.box_min, instance.box_max
    marker = _marker(header, BOX_NAMESPACE, instance.id, Marker.ADD)
    marker.type = Marker.CUBE
    marker.pose.position = Point(x=(low.x + high.x) / 2, y=(low.y + high.y) / 2, z=(low.z + high.z) / 2)
    marker.scale = Vector3(
        x=max(high.x - low.x, MIN_BOX_SIZE_M), y=max(high.y - low.y, MIN_BOX_SIZE_M), z=max(high.z - low.z, MIN_BOX_SIZE_M)
    )
    red, green, blue = (channel / 255.0 for channel in track_colour(instance.id))  # the debug overlay's colour
    marker.color = ColorRGBA(r=red, g=green, b=blue, a=BOX_ALPHA)
    return marker


def _label(header, instance) -> Marker:
    marker = _marker(header, LABEL_NAMESPACE, instance.id, Marker.ADD)
    marker.type = Marker.TEXT_VIEW_FACING
    marker.pose.position = Point(x=instance.position.x, y=instance.box_min.y - LABEL_GAP_M, z=instance.position.z)
    marker.scale.z = LABEL_HEIGHT_M
    marker.color = ColorRGBA(r=1.0, g=1.0, b=1.0, a=1.0)
    marker.text = f"{instance.prompt_text} #{instance.id}"
    return marker


def markers_for_instances(instance_array, shown: set[int]) -> tuple[MarkerArray, set[int]]:
    """Markers for one InstanceArray, given the track ids whose markers are shown; returns the new set.

    Positions are in the depth image's frame (InstanceArray.depth_header), so the markers are too.
    """
    header = instance_array.depth_header
    markers = MarkerArray()
    now_shown = set()
    for instance in instance_array.instances:
        if instance.has_position:
            markers.markers += [_box(header, instance), _label(header, instance)]
            now_shown.add(instance.id)
    for track_id in sorted(shown - now_shown):
        markers.markers += [_marker(header, namespace, track_id, Marker.DELETE) for namespace in (BOX_NAMESPACE, LABEL_NAMESPACE)]
    return markers, now_shown


def delete_all_markers(header) -> MarkerArray:
    """Clears every marker of this node (when it is deactivated or cleaned up)."""
    return MarkerArray(markers=[_marker(header, namespace, 0, Marker.DELETEALL) for namespace in (BOX_NAMESPACE, LABEL_NAMESPACE)])
