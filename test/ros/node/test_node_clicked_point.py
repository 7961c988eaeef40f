"""RViz's "Publish Point" with depth: a clicked 3D point in the depth optical frame starts a visual object;
points in other frames are refused with a reason in the log.

The tests share one node; each starts from the start set (`fresh`) and sends its own frames with
depth first, so they run alone and in any order. Points before any depth image need a node that has
never had one: test_node_before_any_frame.py.
"""

from __future__ import annotations

import cv2
import numpy as np
import pytest
from geometry_msgs.msg import PointStamped

NODE_PARAMETERS = {"use_depth": True}
COLOUR_SIZE, DEPTH_SIZE = (160, 120), (80, 60)  # width, height
K_DEPTH = np.array([[70.0, 0.0, 39.5], [0.0, 70.0, 29.5], [0.0, 0.0, 1.0]])
LOG_TIMEOUT_S = 10.0


@pytest.fixture(scope="module")
def clicks(client):
    """A publisher on /clicked_point, where RViz's "Publish Point" tool publishes, matched with the node."""
    publisher = client.node.create_publisher(PointStamped, "/clicked_point", 10)
    client.spin_until(lambda: publisher.get_subscription_count() > 0, client.NODE_START_TIMEOUT_S, "a subscriber on /clicked_point")
    client.wait_until_node_discovered_us()  # the node's side of the match too: a first point is not lost
    yield publisher
    client.node.destroy_publisher(publisher)


def process_with_depth(client, frame):
    colour = cv2.resize(frame, COLOUR_SIZE, interpolation=cv2.INTER_AREA)
    msg, _ = client.publish_with_depth(colour, np.full(DEPTH_SIZE[::-1], 2.0), "32FC1", K_DEPTH)
    return client.wait_for_result(msg.header.stamp)


def click(client, clicks, frame_id: str, x: float, y: float, z: float, wait_for: str) -> str:
    """Publish a clicked point; returns the node's log from the click on, once it holds `wait_for`."""
    log = client.new_log()
    point = PointStamped()
    point.header.frame_id = frame_id
    point.point.x, point.point.y, point.point.z = x, y, z
    clicks.publish(point)
    client.spin_until(lambda: wait_for in log.text(), LOG_TIMEOUT_S, f"'{wait_for}' in the node's log")
    return log.text()


def visual_ids(result) -> list[int]:
    return [i.id for i in result.instances if i.prompt_id == 0]


def test_a_point_in_another_frame_is_refused_with_the_reason(fresh, clicks, footage):
    process_with_depth(fresh, footage[0])

    refusal = click(fresh, clicks, "map", 0.0, 0.0, 2.0, wait_for="clicked point ignored")
    after_refusal = fresh.visual_object_ids()
    result = process_with_depth(fresh, footage[1])
    # The same point in the depth camera's optical frame is taken.
    click(fresh, clicks, fresh.FRAME_ID, 0.0, 0.0, 2.0, wait_for="tracking visual object")

    assert f"it is in frame 'map', but only the depth camera's optical frame '{fresh.FRAME_ID}' is accepted" in refusal, refusal
    assert after_refusal == [] and visual_ids(result) == []
    assert len(fresh.visual_object_ids()) == 1


def test_a_clicked_point_in_the_depth_frame_starts_a_visual_object(fresh, clicks, footage):
    process_with_depth(fresh, footage[2])

    log = click(fresh, clicks, fresh.FRAME_ID, 0.0, 0.0, 2.0, wait_for="tracking visual object")  # on the optical axis: the image centre
    (track_id,) = fresh.visual_object_ids()
    result = process_with_depth(fresh, footage[3])

    assert f"tracking visual object {track_id} ('object {track_id}')" in log, log
    assert visual_ids(result) == [track_id]
