"""sensor_msgs/Image, CompressedImage and CameraInfo <-> numpy, without cv_bridge.

cv_bridge is not on PyPI (the `cv-bridge` there is a ROS 1 port that fails on current numpy),
and the node needs only a few encodings, so conversion is done here with numpy and OpenCV. It is
the one code path for ROS-distro and pip installs alike, and it checks every field a camera
driver can get wrong before touching the data.
"""

from __future__ import annotations

import cv2
import numpy as np
from sensor_msgs.msg import Image

from sam3_ros.outputs.depth_projection import PinholeIntrinsics

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
        raise ImageConversionError(f"unsupported image encoding '{msg.encoding}'; supported: {', '.join(SUPPORTED_ENCODINGS)}")
    channels, to_rgb = _COLOUR_ENCODINGS[encoding]
    pixels = _pixel_rows(msg, channels, "channels").reshape(msg.height, msg.width, channels)
    if to_rgb is None:
        return np.ascontiguousarray(pixels)
    return cv2.cvtColor(pixels, to_rgb)


def _pixel_rows(msg: Image, bytes_per_pixel: int, unit: str) -> np.ndarray:
    """The Hx(W*bytes_per_pixel) uint8 pixel bytes of `msg` without row padding, after checking its fields.

    `unit` names bytes_per_pixel in the error message ("channels", "bytes per pixel").
    """
    height, width, step = msg.height, msg.width, msg.step
    if height == 0 or width == 0:
        raise ImageConversionError(f"image is {width}x{height}: nothing to process")
    if step < width * bytes_per_pixel:
        raise ImageConversionError(f"step {step} is smaller than width*{unit} = {width * bytes_per_pixel} for {msg.encoding}")
    if len(msg.data) != step * height:
        raise ImageConversionError(f"data has {len(msg.data)} bytes but step*height = {step}*{height} = {step * height}")
    rows = np.frombuffer(msg.data, dtype=np.uint8).reshape(height, step)
    return rows[:, : width * bytes_per_pixel]


# Depth encodings (REP 118): encoding -> (numpy type, units per metre); 0 or NaN = no measurement.
_DEPTH_ENCODINGS = {"16uc1": ("u2", 1000.0), "32fc1": ("f4", 1.0)}
DEPTH_ENCODINGS = ("16UC1", "32FC1")


def depth_from_image_msg(msg: Image) -> np.ndarray:
    """HxW float32 depth in metres from a 16UC1 (millimetres) or 32FC1 (metres) Image; NaN = no measurement."""
    encoding = msg.encoding.lower()
    if encoding not in _DEPTH_ENCODINGS:
        raise ImageConversionError(f"unsupported depth encoding '{msg.encoding}'; supported: {', '.join(DEPTH_ENCODINGS)}")
    kind, units_per_metre = _DEPTH_ENCODINGS[encoding]
    dtype = np.dtype(kind).newbyteorder(">" if msg.is_bigendian else "<")
    rows = np.ascontiguousarray(_pixel_rows(msg, dtype.itemsize, "bytes per pixel"))
    depth = rows.view(dtype).reshape(msg.height, msg.width).astype(np.float32)
    if units_per_metre != 1.0:
        depth /= np.float32(units_per_metre)  # a division, so that 2000 mm is exactly 2.0 m
    depth[~((depth > 0) & np.isfinite(depth))] = np.nan
    return depth


def intrinsics_from_camera_info(info, depth_width: int, depth_height: int) -> PinholeIntrinsics:
    """The pinhole intrinsics (K) of a depth image's CameraInfo, refusing one made for another image size."""
    if (info.width, info.height) != (0, 0) and (info.width, info.height) != (depth_width, depth_height):
        raise ImageConversionError(
            f"depth camera_info is for {info.width}x{info.height} images but the depth image is "
            f"{depth_width}x{depth_height}; its K does not describe this image"
        )
    try:
        return PinholeIntrinsics.from_k(info.k)
    except ValueError as error:
        raise ImageConversionError(f"depth camera_info: {error}") from error


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
