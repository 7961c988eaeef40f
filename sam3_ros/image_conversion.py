"""sensor_msgs/Image and CompressedImage <-> numpy, without cv_bridge.

cv_bridge is not on PyPI (the `cv-bridge` there is a ROS 1 port that fails on current numpy),
and the node needs only a few encodings, so conversion is done here with numpy and OpenCV. It is
the one code path for ROS-distro and pip installs alike, and it checks every field a camera
driver can get wrong before touching the data.
"""

from __future__ import annotations

import cv2
import numpy as np
from sensor_msgs.msg import Image

# encoding -> (channels, OpenCV conversion to RGB or None)
_COLOUR_ENCODINGS = {
    "rgb8": (3, None),
    "bgr8": (3, cv2.COLOR_BGR2RGB),
    "rgba8": (4, cv2.COLOR_RGBA2RGB),
    "bgra8": (4, cv2.COLOR_BGRA2RGB),
    "mono8": (1, cv2.COLOR_GRAY2RGB),
    "8uc1": (1, cv2.COLOR_GRAY2RGB),
    "8uc3": (3, cv2.COLOR_BGR2RGB),  # OpenCV's default channel order
}
SUPPORTED_ENCODINGS = tuple(_COLOUR_ENCODINGS)


class ImageConversionError(ValueError):
    """An image message the node cannot use; the message says which field is wrong."""


def rgb_from_image_msg(msg: Image) -> np.ndarray:
    """HxWx3 uint8 RGB from an 8-bit colour or mono Image message."""
    encoding = msg.encoding.lower()
    if encoding not in _COLOUR_ENCODINGS:
        raise ImageConversionError(
            f"unsupported image encoding '{msg.encoding}'; supported: {', '.join(SUPPORTED_ENCODINGS)}"
        )
    channels, to_rgb = _COLOUR_ENCODINGS[encoding]
    height, width, step = msg.height, msg.width, msg.step
    if height == 0 or width == 0:
        raise ImageConversionError(f"image is {width}x{height}: nothing to process")
    if step < width * channels:
        raise ImageConversionError(f"step {step} is smaller than width*channels = {width * channels} for {msg.encoding}")
    if len(msg.data) != step * height:
        raise ImageConversionError(f"data has {len(msg.data)} bytes but step*height = {step}*{height} = {step * height}")
    rows = np.frombuffer(msg.data, dtype=np.uint8).reshape(height, step)
    pixels = rows[:, : width * channels].reshape(height, width, channels)
    if to_rgb is None:
        return np.ascontiguousarray(pixels)
    return cv2.cvtColor(pixels, to_rgb)


def rgb_from_compressed_msg(msg) -> np.ndarray:
    """HxWx3 uint8 RGB from a sensor_msgs/CompressedImage (JPEG or PNG)."""
    buffer = np.frombuffer(msg.data, dtype=np.uint8)
    decoded = cv2.imdecode(buffer, cv2.IMREAD_COLOR) if buffer.size else None
    if decoded is None:
        raise ImageConversionError(f"compressed image (format '{msg.format}', {buffer.size} bytes) could not be decoded")
    return cv2.cvtColor(decoded, cv2.COLOR_BGR2RGB)


def image_msg_from_array(array: np.ndarray, encoding: str, header) -> Image:
    """An Image message for an HxW uint16 ('16UC1') or HxWx3 uint8 ('rgb8') array."""
    array = np.ascontiguousarray(array)
    msg = Image()
    msg.header = header
    msg.height, msg.width = array.shape[:2]
    msg.encoding = encoding
    msg.is_bigendian = 0
    msg.step = array.strides[0]
    msg.data = array.tobytes()
    return msg
