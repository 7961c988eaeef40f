"""Clicks on a node that has not processed a frame yet: ~/track_object and RViz's clicked points are
refused with the reason, and the same clicks are taken once a frame (with depth) went through.

Its own node, which no other test sends a frame: a node never returns to "before any frame" (its
last depth view outlives even a cleanup). One test, so that nothing runs before it on this node.
"""

from __future__ import annotations

import cv2
import numpy as np
from geometry_msgs.msg import Point32, PointStamped
from sam3_ros.srv import TrackObject

NODE_PARAMETERS = {"use_depth": True}
COLOUR_SIZE, DEPTH_SIZE = (160, 120), (80, 60)  # width, height
K_DEPTH = np.array([[70.0, 0.0, 39.5], [0.0, 70.0, 29.5], [0.0, 0.0, 1.0]])
LOG_TIMEOUT_S = 10.0


def track(client, points):
    request = TrackObject.Request(points=[Point32(x=float(x), y=float(y)) for x, y in points])
    return client.call(TrackObject, f"{client.NODE_NAME}/track_object", request)


def clicked_point_publisher(client):
    """What RViz's "Publish Point" tool publishes on, matched with the node's subscription."""
    publisher = client.node.create_publisher(PointStamped, "/clicked_point", 10)
    client.spin_until(lambda: publisher.get_subscription_count() > 0, client.NODE_START_TIMEOUT_S, "a subscriber on /clicked_point")
    client.wait_until_node_discovered_us()  # the node's side of the match too: a first point is not lost
    return publisher


def click_in_3d(publisher, frame_id: str, x: float, y: float, z: float) -> None:
    point = PointStamped()
    point.header.frame_id = frame_id
    point.point.x, point.point.y, point.point.z = x, y, z
    publisher.publish(point)


def wait_for_log(client, log, phrase: str) -> str:
    client.spin_until(lambda: phrase in log.text(), LOG_TIMEOUT_S, f"'{phrase}' in the node's log")
    return log.text()


def test_clicks_before_the_first_frame_are_refused_and_taken_after_it(client, footage):
    # Before any frame: a click on pixels, and a 3D point on the depth camera's optical axis.
    publisher = clicked_point_publisher(client)
    log = client.new_log()
    refused = track(client, points=[(10, 10)])
    click_in_3d(publisher, client.FRAME_ID, 0.0, 0.0, 2.0)
    refusals = wait_for_log(client, log, "clicked point ignored: no image with depth has been processed yet")

    assert not refused.success and "no frame has been processed yet: wait for the first image" in refused.message, refused.message
    assert refused.track_id == 0 and list(refused.visual_objects) == []
    assert "tracking visual object" not in refusals
    assert client.visual_object_ids() == []

    # One frame with depth later, the same click and the same point each start a visual object.
    colour = cv2.resize(footage[0], COLOUR_SIZE, interpolation=cv2.INTER_AREA)
    msg, _ = client.publish_with_depth(colour, np.full(DEPTH_SIZE[::-1], 2.0), "32FC1", K_DEPTH)
    client.wait_for_result(msg.header.stamp)
    accepted = track(client, points=[(10, 10)])
    log = client.new_log()
    click_in_3d(publisher, client.FRAME_ID, 0.0, 0.0, 2.0)
    wait_for_log(client, log, "tracking visual object")

    assert accepted.success, accepted.message
    assert [o.track_id for o in accepted.visual_objects] == [accepted.track_id]
    (clicked,) = [track_id for track_id in client.visual_object_ids() if track_id != accepted.track_id]
    assert clicked > accepted.track_id
