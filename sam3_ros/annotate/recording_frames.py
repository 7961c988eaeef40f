"""Every frame of a video file or of a recording's image topic, in order, as RGB arrays.

Videos are read with OpenCV; rosbag2 recordings (a folder with metadata.yaml, or a single .mcap or
.db3 file) with the `rosbags` library, whose AnyReader decodes CDR from the definitions stored in
the recording. Frames can start at any index, so an interrupted run resumes without decoding the
frames it already has: the video seeks, the recording skips messages without deserialising them.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
from rosbags.highlevel import AnyReader, AnyReaderError
from rosbags.typesys import Stores, get_typestore

from sam3_ros.node.image_conversion import ImageConversionError, rgb_from_compressed_msg, rgb_from_image_msg

IMAGE_TYPES = {
    "sensor_msgs/msg/Image": rgb_from_image_msg,
    "sensor_msgs/msg/CompressedImage": rgb_from_compressed_msg,
}
BAG_SUFFIXES = (".mcap", ".db3")
_NANOSECONDS = 1_000_000_000


class RecordingError(ValueError):
    """The input cannot be annotated; the message says why in one line."""


@dataclass(frozen=True)
class SourceFrame:
    index: int  # position in the video or on the topic, from 0
    stamp_ns: int  # header stamp of the image message; index / fps for a video
    frame_id: str
    rgb: np.ndarray  # HxWx3 uint8


def open_recording(path: Path, topic: str | None = None) -> VideoFrames | BagFrames:
    """A frame source for `path`; raises RecordingError if it does not exist or cannot be read."""
    path = Path(path)
    if not path.exists():
        raise RecordingError(f"input '{path}' does not exist")
    if path.is_dir() or path.suffix.lower() in BAG_SUFFIXES:
        return BagFrames(path, topic)
    if topic is not None:
        raise RecordingError(f"--topic is for rosbag2/MCAP recordings, but '{path}' is read as a video file")
    return VideoFrames(path)


class VideoFrames:
    """A video file OpenCV can read; frame i is stamped i / fps seconds."""

    topic = None

    def __init__(self, path: Path):
        self.path = path
        capture = self._open()
        try:
            self.fps = capture.get(cv2.CAP_PROP_FPS) or 25.0
            self.frame_count = int(capture.get(cv2.CAP_PROP_FRAME_COUNT)) or None  # a container's estimate
            if not capture.read()[0]:
                raise RecordingError(f"cannot read '{path}': OpenCV opens it but finds no frame")
        finally:
            capture.release()

    def _open(self) -> cv2.VideoCapture:
        capture = cv2.VideoCapture(str(self.path))
        if not capture.isOpened():
            raise RecordingError(
                f"cannot read '{self.path}': not a video OpenCV can open, nor a rosbag2 recording "
                f"(a folder with metadata.yaml, or a {' or '.join(BAG_SUFFIXES)} file)"
            )
        return capture

    def frames(self, start: int = 0) -> Iterator[SourceFrame]:
        capture = self._open()
        try:
            if start and not capture.set(cv2.CAP_PROP_POS_FRAMES, start):
                raise RecordingError(f"cannot seek to frame {start} of '{self.path}'")
            index = start
            while True:
                ok, bgr = capture.read()
                if not ok:
                    return
                stamp_ns = round(index * _NANOSECONDS / self.fps)
                yield SourceFrame(index, stamp_ns, "", cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB))
                index += 1
        finally:
            capture.release()


class BagFrames:
    """The sensor_msgs/Image or CompressedImage messages of one topic of a rosbag2 recording."""

    def __init__(self, path: Path, topic: str | None):
        self.path = path
        if path.is_dir() and not (path / "metadata.yaml").is_file():
            raise RecordingError(f"cannot read '{path}': a folder, but not a rosbag2 recording (no metadata.yaml)")
        try:
            with self._reader() as reader:
                image_topics = {name: info for name, info in reader.topics.items() if info.msgtype in IMAGE_TYPES}
                all_topics = {name: info.msgtype for name, info in reader.topics.items()}
                duration_s = reader.duration / _NANOSECONDS
        except (AnyReaderError, OSError, ValueError, KeyError) as error:
            raise RecordingError(f"cannot read recording '{path}': {error}") from error
        listing = ", ".join(f"{name} ({info.msgtype})" for name, info in sorted(image_topics.items())) or "none"
        if topic is None:
            if len(image_topics) != 1:
                raise RecordingError(f"'{path}' has {len(image_topics)} image topics, choose one with --topic: {listing}")
            topic = next(iter(image_topics))
        elif topic not in all_topics:
            raise RecordingError(f"topic '{topic}' is not in '{path}'; its image topics: {listing}")
        elif topic not in image_topics:
            raise RecordingError(
                f"topic '{topic}' carries {all_topics[topic]}, not an image type ({', '.join(IMAGE_TYPES)}); image topics: {listing}"
            )
        self.topic = topic
        self.msgtype = image_topics[topic].msgtype
        self.frame_count = image_topics[topic].msgcount or None
        # The quick-look video plays at the topic's average rate over the recording.
        rate = (self.frame_count - 1) / duration_s if self.frame_count and duration_s > 0 else 0.0
        self.fps = rate if rate > 0 else 10.0

    def _reader(self) -> AnyReader:
        # Recordings without stored definitions (old .db3 files) are decoded with Kilted's types.
        return AnyReader([self.path], default_typestore=get_typestore(Stores.ROS2_KILTED))

    def frames(self, start: int = 0) -> Iterator[SourceFrame]:
        to_rgb = IMAGE_TYPES[self.msgtype]
        with self._reader() as reader:
            connections = [c for c in reader.connections if c.topic == self.topic]
            for index, (connection, _, raw) in enumerate(reader.messages(connections=connections)):
                if index < start:
                    continue  # resuming: these frames are done, skip them undecoded
                msg = reader.deserialize(raw, connection.msgtype)
                try:
                    rgb = to_rgb(msg)
                except ImageConversionError as error:
                    raise RecordingError(f"cannot use frame {index} of {self.topic} in '{self.path}': {error}") from error
                stamp = msg.header.stamp
                yield SourceFrame(index, stamp.sec * _NANOSECONDS + stamp.nanosec, msg.header.frame_id, rgb)
