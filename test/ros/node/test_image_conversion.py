"""sam3_ros.node.image_conversion on real sensor_msgs messages (no ROS graph needed)."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
from sensor_msgs.msg import CameraInfo, CompressedImage, Image
from std_msgs.msg import Header

from sam3_ros.node.image_conversion import (
    SUPPORTED_ENCODINGS,
    ImageConversionError,
    depth_from_image_msg,
    image_msg_from_array,
    intrinsics_from_camera_info,
    rgb_from_compressed_msg,
    rgb_from_image_msg,
)
from sam3_ros.outputs.depth_projection import PinholeIntrinsics

# A 2x3 RGB image with distinct colours in every pixel and channel.
RGB = np.array(
    [
        [[255, 0, 0], [0, 255, 0], [0, 0, 255]],
        [[10, 20, 30], [200, 100, 50], [1, 2, 3]],
    ],
    dtype=np.uint8,
)
GRAY = np.array([[0, 128, 255], [7, 64, 200]], dtype=np.uint8)
ALPHA = np.array([[0, 9, 99], [255, 1, 77]], dtype=np.uint8)  # must be ignored


def image(pixels: np.ndarray, encoding: str, padding: int = 0, step: int | None = None, data: bytes | None = None) -> Image:
    pixels = pixels if pixels.ndim == 3 else pixels[:, :, None]
    height, width, channels = pixels.shape
    rows = pixels.reshape(height, width * channels)
    if padding:
        rows = np.concatenate([rows, np.full((height, padding), 0xEE, dtype=np.uint8)], axis=1)
    msg = Image(header=Header(frame_id="cam"), height=height, width=width, encoding=encoding, is_bigendian=0)
    msg.step = rows.shape[1] if step is None else step
    msg.data = rows.tobytes() if data is None else data
    return msg


# encoding -> the message's pixel layout for RGB (GRAY for the one-channel ones)
LAYOUTS = {
    "rgb8": RGB,
    "bgr8": RGB[:, :, ::-1],
    "8UC3": RGB[:, :, ::-1],  # OpenCV's BGR order
    "rgba8": np.dstack([RGB, ALPHA]),
    "bgra8": np.dstack([RGB[:, :, ::-1], ALPHA]),
    "mono8": GRAY,
    "8UC1": GRAY,
}


def expected_rgb(encoding: str) -> np.ndarray:
    return np.repeat(GRAY[:, :, None], 3, axis=2) if encoding in ("mono8", "8UC1") else RGB


def test_every_supported_encoding_is_covered():
    assert sorted(e.lower() for e in LAYOUTS) == sorted(SUPPORTED_ENCODINGS)


@pytest.mark.parametrize("encoding", sorted(LAYOUTS))
@pytest.mark.parametrize("padding", [0, 5], ids=["packed", "padded rows"])
def test_supported_encoding_converts_to_rgb(encoding, padding):
    rgb = rgb_from_image_msg(image(np.ascontiguousarray(LAYOUTS[encoding]), encoding, padding=padding))
    assert rgb.dtype == np.uint8 and rgb.shape == (2, 3, 3)
    assert rgb.flags.c_contiguous
    np.testing.assert_array_equal(rgb, expected_rgb(encoding))


def test_encoding_names_are_case_insensitive():
    np.testing.assert_array_equal(rgb_from_image_msg(image(RGB[:, :, ::-1].copy(), "BGR8")), RGB)


def test_result_does_not_alias_the_message():
    msg = image(RGB, "rgb8", padding=3)
    rgb = rgb_from_image_msg(msg)
    msg.data = bytes(len(msg.data))
    np.testing.assert_array_equal(rgb, RGB)


@pytest.mark.parametrize("encoding", ["32FC1", "yuv422", "16UC1", "bayer_rggb8", ""])
def test_unsupported_encoding(encoding):
    msg = image(RGB, "rgb8")
    msg.encoding = encoding
    with pytest.raises(ImageConversionError) as error:
        rgb_from_image_msg(msg)
    assert f"unsupported image encoding '{encoding}'" in str(error.value)
    assert "rgb8" in str(error.value) and "mono8" in str(error.value), "the message lists the supported encodings"


@pytest.mark.parametrize("width, height", [(0, 0), (3, 0), (0, 2)])
def test_zero_size(width, height):
    msg = Image(height=height, width=width, encoding="rgb8", step=width * 3, data=b"")
    with pytest.raises(ImageConversionError, match=f"image is {width}x{height}: nothing to process"):
        rgb_from_image_msg(msg)


@pytest.mark.parametrize("encoding, channels", [("rgb8", 3), ("bgra8", 4), ("mono8", 1)])
def test_step_smaller_than_a_row(encoding, channels):
    step = 3 * channels - 1
    msg = image(np.zeros((2, 3, channels), np.uint8), encoding, step=step, data=bytes(step * 2))
    with pytest.raises(ImageConversionError) as error:
        rgb_from_image_msg(msg)
    assert f"step {step} is smaller than width*channels = {3 * channels} for {encoding}" in str(error.value)


@pytest.mark.parametrize("delta", [-1, +1, -9], ids=["one short", "one extra", "a row short"])
def test_data_length_does_not_match_step_times_height(delta):
    msg = image(RGB, "rgb8")
    msg.data = bytes(9 * 2 + delta)
    with pytest.raises(ImageConversionError) as error:
        rgb_from_image_msg(msg)
    assert f"data has {18 + delta} bytes but step*height = 9*2 = 18" in str(error.value)


def test_conversion_error_is_a_value_error():
    assert issubclass(ImageConversionError, ValueError)


@pytest.mark.parametrize("extension", [".png", ".bmp"])
def test_compressed_lossless_round_trip(extension):
    ok, encoded = cv2.imencode(extension, cv2.cvtColor(RGB, cv2.COLOR_RGB2BGR))
    assert ok
    msg = CompressedImage(format=extension[1:], data=encoded.tobytes())
    np.testing.assert_array_equal(rgb_from_compressed_msg(msg), RGB)


def test_compressed_jpeg_decodes_to_rgb():
    big = np.zeros((16, 16, 3), np.uint8)
    big[..., 0] = 250  # red
    ok, encoded = cv2.imencode(".jpg", cv2.cvtColor(big, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, 95])
    rgb = rgb_from_compressed_msg(CompressedImage(format="jpeg", data=encoded.tobytes()))
    assert rgb.shape == (16, 16, 3)
    assert rgb[..., 0].mean() > 240 and rgb[..., 1:].mean() < 10, "channels swapped"


@pytest.mark.parametrize("data", [b"", b"not an image at all"], ids=["empty", "garbage"])
def test_compressed_undecodable(data):
    with pytest.raises(ImageConversionError, match=f"compressed image \\(format 'jpeg', {len(data)} bytes\\) could not be decoded"):
        rgb_from_compressed_msg(CompressedImage(format="jpeg", data=data))


def test_image_msg_from_array_rgb8_round_trip():
    header = Header(frame_id="cam")
    header.stamp.sec, header.stamp.nanosec = 12, 34
    msg = image_msg_from_array(RGB, "rgb8", header)
    assert (msg.height, msg.width, msg.step, msg.encoding, msg.is_bigendian) == (2, 3, 9, "rgb8", 0)
    assert msg.header == header
    np.testing.assert_array_equal(rgb_from_image_msg(msg), RGB)


def test_image_msg_from_array_16uc1_is_little_endian():
    labels = np.array([[0, 1, 258], [65535, 7, 0]], dtype=np.uint16)
    msg = image_msg_from_array(labels, "16UC1", Header())
    assert (msg.height, msg.width, msg.step, msg.encoding, msg.is_bigendian) == (2, 3, 6, "16UC1", 0)
    assert bytes(msg.data)[4:6] == b"\x02\x01"  # 258, little-endian
    np.testing.assert_array_equal(np.frombuffer(bytes(msg.data), dtype="<u2").reshape(2, 3), labels)


def test_image_msg_from_array_copies_a_non_contiguous_view():
    view = np.dstack([RGB, RGB])[:, :, ::2]  # strided, not C-contiguous
    msg = image_msg_from_array(view, "rgb8", Header())
    assert msg.step == view.shape[1] * 3 and len(msg.data) == msg.step * msg.height


# -- depth ------------------------------------------------------------------------------------------

DEPTH_MM = np.array([[0, 1, 1200], [2000, 65535, 999]], dtype=np.uint16)
DEPTH_M = np.array([[0.0, 0.001, 1.2], [2.0, 65.535, 0.999]])


def depth_image(values: np.ndarray, encoding: str, dtype: str, padding: int = 0) -> Image:
    """A depth Image of `values` stored as `dtype` ('<u2', '>f4', ...), rows padded by `padding` bytes."""
    raw = np.ascontiguousarray(values.astype(dtype))
    msg = image(raw.view(np.uint8).reshape(*values.shape, raw.itemsize), encoding, padding=padding)
    msg.is_bigendian = int(np.dtype(dtype).byteorder == ">")
    return msg


@pytest.mark.parametrize("dtype", ["<u2", ">u2"], ids=["little-endian", "big-endian"])
@pytest.mark.parametrize("padding", [0, 4], ids=["packed", "padded rows"])
def test_depth_16uc1_millimetres_to_metres(dtype, padding):
    depth = depth_from_image_msg(depth_image(DEPTH_MM, "16UC1", dtype, padding))
    assert depth.dtype == np.float32 and depth.shape == (2, 3)
    assert np.isnan(depth[0, 0]), "0 mm is no measurement"
    np.testing.assert_allclose(depth[~np.isnan(depth)], DEPTH_M[DEPTH_MM > 0], rtol=1e-6)
    assert depth[1, 0] == 2.0, "2000 mm is exactly 2 m"


@pytest.mark.parametrize("dtype", ["<f4", ">f4"], ids=["little-endian", "big-endian"])
def test_depth_32fc1_metres(dtype):
    values = np.array([[np.nan, 0.0, 1.25], [-1.0, np.inf, 3.5]])
    depth = depth_from_image_msg(depth_image(values, "32FC1", dtype, padding=4))
    assert depth[0, 2] == 1.25 and depth[1, 2] == 3.5
    assert np.isnan(depth[[0, 0, 1, 1], [0, 1, 0, 1]]).all(), "NaN, 0, negative and infinite are no measurement"


@pytest.mark.parametrize("encoding", ["rgb8", "mono16", "16SC1", "64FC1"])
def test_unsupported_depth_encoding(encoding):
    msg = depth_image(DEPTH_MM, "16UC1", "<u2")
    msg.encoding = encoding
    with pytest.raises(ImageConversionError, match=f"unsupported depth encoding '{encoding}'; supported: 16UC1, 32FC1"):
        depth_from_image_msg(msg)


def test_depth_step_and_length_are_checked():
    msg = depth_image(DEPTH_MM, "16UC1", "<u2")
    msg.step = 5
    with pytest.raises(ImageConversionError, match="step 5 is smaller than width\\*bytes per pixel = 6 for 16UC1"):
        depth_from_image_msg(msg)
    msg = depth_image(DEPTH_MM, "16UC1", "<u2")
    msg.data = bytes(msg.data)[:-1]
    with pytest.raises(ImageConversionError, match="data has 11 bytes but step\\*height = 6\\*2 = 12"):
        depth_from_image_msg(msg)


K = [70.0, 0.0, 39.5, 0.0, 71.0, 29.5, 0.0, 0.0, 1.0]


@pytest.mark.parametrize("size", [(80, 60), (0, 0)], ids=["matching", "unset"])
def test_intrinsics_from_camera_info(size):
    info = CameraInfo(width=size[0], height=size[1], k=K)
    assert intrinsics_from_camera_info(info, 80, 60) == PinholeIntrinsics(fx=70.0, fy=71.0, cx=39.5, cy=29.5)


def test_camera_info_of_another_image_size_is_refused():
    with pytest.raises(ImageConversionError, match="camera_info is for 160x120 images but the depth image is 80x60"):
        intrinsics_from_camera_info(CameraInfo(width=160, height=120, k=K), 80, 60)


def test_camera_info_without_intrinsics_is_refused():
    with pytest.raises(ImageConversionError, match="depth camera_info: camera intrinsics need fx, fy > 0"):
        intrinsics_from_camera_info(CameraInfo(width=80, height=60), 80, 60)
