"""The newest overlay image of each camera, and its JPEG, encoded at most once per frame.

The ROS side only keeps a reference to each message that arrives (`put`); a frame is converted,
downscaled and encoded when a browser first asks for it, and every browser that asks for the
same frame gets the same bytes. A frame no browser asks for costs nothing but its reception, and
no browser ever has more than the newest frame waiting for it.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass

import cv2

from sam3_ros.node.image_conversion import rgb_from_image_msg


def stamp_text(stamp) -> str:
    """A frame's identity as the page sees it: `sec.nanosec` of its header stamp."""
    return f"{stamp.sec}.{stamp.nanosec:09d}"


@dataclass(frozen=True)
class EncodedFrame:
    stamp: str
    jpeg: bytes
    source_width: int  # of the image the node processed: clicks are in its pixels
    source_height: int


@dataclass
class _Camera:
    newest: object = None  # sensor_msgs/Image
    encoded: EncodedFrame | None = None
    encoded_from: object = None  # the message `encoded` is of (a restarted camera may repeat a stamp)
    received: int = 0
    encodings: int = 0
    requested_at: float = float("-inf")  # time.monotonic() of a browser's last request


class NewestFrames:
    """Thread-safe: `put` runs on the ROS thread, the rest on the web server's threads."""

    def __init__(self, jpeg_quality: int, max_width: int):
        if not 1 <= jpeg_quality <= 100:
            raise ValueError(f"JPEG quality {jpeg_quality}: it is 1 (smallest) to 100 (best)")
        if max_width < 16:
            raise ValueError(f"max width {max_width}: frames need at least 16 pixels across")
        self.jpeg_quality, self.max_width = jpeg_quality, max_width
        self._cameras: dict[str, _Camera] = {}
        self._lock = threading.Lock()  # held while encoding: two browsers never encode one frame twice

    def _camera(self, name: str) -> _Camera:
        return self._cameras.setdefault(name, _Camera())

    def put(self, camera: str, msg) -> None:
        """A reference swap, without the lock: the ROS thread never waits for an encoding."""
        state = self._camera(camera)
        state.newest = msg
        state.received += 1  # written by the ROS thread only

    def newest_stamp(self, camera: str) -> str | None:
        msg = self._camera(camera).newest
        return None if msg is None else stamp_text(msg.header.stamp)

    def requested(self, camera: str) -> None:
        self._camera(camera).requested_at = time.monotonic()

    def watched_since(self, camera: str, since: float) -> bool:
        """Whether a browser asked for a frame of `camera` after `since` (time.monotonic())."""
        return self._camera(camera).requested_at > since

    def counts(self, camera: str) -> dict:
        state = self._camera(camera)
        return {"frames_received": state.received, "frames_encoded": state.encodings}

    def encoded(self, camera: str) -> EncodedFrame | None:
        """The JPEG of the newest frame of `camera` (None before the first); encodes it if no one has."""
        with self._lock:
            state = self._camera(camera)
            msg = state.newest
            if msg is None:
                return None
            if state.encoded_from is not msg:
                state.encoded = EncodedFrame(stamp_text(msg.header.stamp), self._jpeg(msg), msg.width, msg.height)
                state.encoded_from = msg
                state.encodings += 1
            return state.encoded

    def _jpeg(self, msg) -> bytes:
        rgb = rgb_from_image_msg(msg)
        height, width = rgb.shape[:2]
        if width > self.max_width:
            size = (self.max_width, max(1, round(height * self.max_width / width)))
            rgb = cv2.resize(rgb, size, interpolation=cv2.INTER_AREA)
        ok, data = cv2.imencode(".jpg", cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, self.jpeg_quality])
        if not ok:
            raise ValueError(f"OpenCV could not encode a {width}x{height} frame as JPEG")
        return data.tobytes()
