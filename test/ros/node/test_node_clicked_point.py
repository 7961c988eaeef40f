"""RViz's "Publish Point" with depth: a clicked 3D point in the depth optical frame starts a visual object;
points before any depth image and points in other frames are refused with a reason in the log.

The tests share one node and run in file order: the first one runs before any frame."""

from __future__ import annotations

import cv2
import numpy as np
from geometry_msgs.msg import PointStamped

NODE_PARAMETERS = {"use_depth": True}
COLOUR_SIZE, DEPTH_SIZE = (160, 120), (80, 60)  # width, height
K_DEPTH = np.array([[70.0, 0.0, 39.5], [0.0, 70.0, 29.5], [0.0, 0.0, 1.0]])


def process_with_depth(client, frame):
    colour = cv2.resize(frame, COLOUR_SIZE, interpolation=cv2.INTER_AREA)
    msg, _ = client.publish_with_depth(colour, np.full(DEPTH_SIZE[::-1], 2.0), "32FC1", K_DEPTH)
    return client.wait_for_result(msg.header.stamp)


def click(client, frame_id: str, x: float, y: float, z: float) -> None:
    point = PointStamped()
    point.header.frame_id = frame_id
    point.point.x, point.point.y, point.point.z = x, y, z
    publisher = client.node.create_publisher(PointStamped, "/clicked_point", 10)
    client.spin_until(lambda: publisher.get_subscription_count() > 0, client.NODE_START_TIMEOUT_S, "a subscriber on /clicked_point")
    publisher.publish(point)
    client.spin_for(0.5)


def visual_ids(result) -> list[int]:
    return [i.id for i in result.instances if i.prompt_id == 0]


def test_a_point_before_any_depth_image_is_refused_with_the_reason(client):
    click(client, client.FRAME_ID, 0.0, 0.0, 2.0)

    client.spin_until(lambda: "no image with depth has been processed yet" in client.node_process.log_text(), 10.0, "the refusal in the log")
    assert "tracking visual object" not in client.node_process.log_text()


def test_a_point_in_another_frame_is_refused_with_the_reason(client, footage):
    process_with_depth(client, footage[0])

    click(client, "map", 0.0, 0.0, 2.0)
    result = process_with_depth(client, footage[1])

    assert visual_ids(result) == []
    client.spin_until(lambda: "only the depth camera's optical frame" in client.node_process.log_text(), 10.0, "the refusal in the log")


def test_a_clicked_point_in_the_depth_frame_starts_a_visual_object(client, footage):
    process_with_depth(client, footage[2])

    click(client, client.FRAME_ID, 0.0, 0.0, 2.0)  # on the optical axis: the image centre
    result = process_with_depth(client, footage[3])

    assert len(visual_ids(result)) == 1
    assert "tracking visual object" in client.node_process.log_text()
