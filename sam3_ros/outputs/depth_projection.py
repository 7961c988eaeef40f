"""Where an instance is in 3D: its mask, a registered depth image and the depth camera's intrinsics.

Pure numpy (no rclpy); the node converts the ROS messages and calls `locate`.

Assumptions, stated exactly (docs/depth.md says the same):

* The depth image is registered to the colour image (as RGB-D drivers publish it on their
  "aligned depth to colour" topics): both images see the same field of view from the same optical
  centre, so they differ at most in resolution. A depth pixel (row i, column j) of a Hd x Wd depth
  image covers the colour pixel under its centre:
  colour row = floor((i + 0.5) * Hc / Hd), colour column = floor((j + 0.5) * Wc / Wd).
  A depth pixel belongs to an instance when that colour pixel is in the instance's mask, so each
  depth measurement counts once whatever the two resolutions are.
* The depth camera's pinhole intrinsics (K of its CameraInfo: fx, fy, cx, cy, in depth pixels)
  back-project depth pixel (i, j) with depth z to x = (j - cx) * z / fx, y = (i - cy) * z / fy:
  the camera's optical frame, x right, y down, z forward, metres. Distortion is not applied (a
  registered depth image is rectified).
* Depth is in metres here; 0, negative, NaN and infinite values mean "no measurement".

Robust depth: a mask is never exact, and its edge pixels often see the background far behind the
object (or an occluder in front). So the reference depth is a low order statistic of the valid
depths, z_near = the k-th smallest with k = floor(near_percentile / 100 * (n - 1)): an actual
measurement, robust to a few spurious near pixels, and on the object as long as the object is at
least near_percentile % of the mask. Inliers are the valid depths within
max(band_m, band_fraction * z_near) of z_near (the band grows with distance, as depth noise does).
The instance's depth is the median inlier depth; its position is the mean of the inlier 3D points
and its box spans their minimum and maximum. Fewer than `min_pixels` inliers: no position.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class PinholeIntrinsics:
    fx: float
    fy: float
    cx: float
    cy: float

    def __post_init__(self):
        if not (np.isfinite([self.fx, self.fy, self.cx, self.cy]).all() and self.fx > 0 and self.fy > 0):
            raise ValueError(f"camera intrinsics need fx, fy > 0 and finite values, got {self}")

    @classmethod
    def from_k(cls, k) -> PinholeIntrinsics:
        """From a row-major 3x3 camera matrix (CameraInfo.k): [fx 0 cx; 0 fy cy; 0 0 1]."""
        k = [float(v) for v in k]
        if len(k) != 9:
            raise ValueError(f"the camera matrix K needs 9 values, got {len(k)}")
        return cls(fx=k[0], fy=k[4], cx=k[2], cy=k[5])


@dataclass(frozen=True)
class DepthSettings:
    min_pixels: int = 20  # fewer inlier depth pixels than this: no position (parameter min_depth_pixels)
    near_percentile: float = 10.0
    band_m: float = 0.3
    band_fraction: float = 0.15

    def __post_init__(self):
        if self.min_pixels < 1:
            raise ValueError(f"min_pixels must be at least 1, got {self.min_pixels}")
        if not 0.0 <= self.near_percentile <= 100.0:
            raise ValueError(f"near_percentile must be in [0, 100], got {self.near_percentile}")
        if self.band_m < 0 or self.band_fraction < 0:
            raise ValueError("band_m and band_fraction must not be negative")


@dataclass(frozen=True)
class ObjectPosition:
    valid: bool  # enough inlier depth pixels; the fields below are zeros otherwise
    centroid: tuple[float, float, float]  # mean of the inlier 3D points, optical frame, metres
    box_min: tuple[float, float, float]  # axis-aligned box of the inlier points
    box_max: tuple[float, float, float]
    depth: float  # median inlier depth (z), metres
    pixels: int  # inlier depth pixels the position is computed from


_ORIGIN = (0.0, 0.0, 0.0)


def colour_pixels_of_depth_grid(colour_shape: tuple[int, int], depth_shape: tuple[int, int]) -> tuple[np.ndarray, np.ndarray]:
    """For each depth row and column, the colour row and column under its centre (the mapping above)."""
    colour_h, colour_w = colour_shape
    depth_h, depth_w = depth_shape
    rows = np.floor((np.arange(depth_h) + 0.5) * colour_h / depth_h).astype(np.intp)
    cols = np.floor((np.arange(depth_w) + 0.5) * colour_w / depth_w).astype(np.intp)
    return np.minimum(rows, colour_h - 1), np.minimum(cols, colour_w - 1)


def colour_pixel_of_point(point, intrinsics: PinholeIntrinsics, depth_shape: tuple[int, int], colour_shape: tuple[int, int]):
    """(column, row) in the colour image of a 3D point (x, y, z) in the depth camera's optical frame.

    Projected with the depth intrinsics, then carried to the colour image by the depth-to-colour
    mapping above (registered depth, same view); raises ValueError for a point not in front of the camera.
    """
    x, y, z = (float(v) for v in point)
    if not (np.isfinite([x, y, z]).all() and z > 0):
        raise ValueError(f"point ({x:g}, {y:g}, {z:g}) is not in front of the depth camera (it needs z > 0)")
    (colour_h, colour_w), (depth_h, depth_w) = colour_shape, depth_shape
    u, v = intrinsics.fx * x / z + intrinsics.cx, intrinsics.fy * y / z + intrinsics.cy
    return (u + 0.5) * colour_w / depth_w - 0.5, (v + 0.5) * colour_h / depth_h - 0.5


def mask_at_depth_resolution(mask: np.ndarray, depth_shape: tuple[int, int]) -> np.ndarray:
    """The HdxWd boolean mask of depth pixels whose centre falls on the colour mask."""
    rows, cols = colour_pixels_of_depth_grid(mask.shape, depth_shape)
    return mask[np.ix_(rows, cols)]


def near_reference_depth(depths: np.ndarray, near_percentile: float) -> float:
    """The k-th smallest depth, k = floor(near_percentile / 100 * (n - 1)): always a measured value."""
    k = int(np.floor(near_percentile / 100.0 * (depths.size - 1)))
    return float(np.partition(depths, k)[k])


def locate(
    mask: np.ndarray, depth_m: np.ndarray, intrinsics: PinholeIntrinsics, settings: DepthSettings = DepthSettings()
) -> ObjectPosition:
    """The 3D position of one instance: `mask` (HcxWc bool, colour resolution), `depth_m` (HdxWd metres)."""
    if depth_m.ndim != 2 or mask.ndim != 2:
        raise ValueError(f"mask and depth must be 2D, got shapes {mask.shape} and {depth_m.shape}")
    in_mask = mask_at_depth_resolution(mask.astype(bool, copy=False), depth_m.shape)
    rows, cols = np.nonzero(in_mask)
    z = depth_m[rows, cols].astype(np.float64)
    valid = np.isfinite(z) & (z > 0)
    rows, cols, z = rows[valid], cols[valid], z[valid]
    if z.size == 0:
        return ObjectPosition(False, _ORIGIN, _ORIGIN, _ORIGIN, 0.0, 0)
    z_near = near_reference_depth(z, settings.near_percentile)
    band = max(settings.band_m, settings.band_fraction * z_near)
    inlier = np.abs(z - z_near) <= band
    count = int(inlier.sum())
    if count < settings.min_pixels:
        return ObjectPosition(False, _ORIGIN, _ORIGIN, _ORIGIN, 0.0, count)
    z = z[inlier]
    points = np.stack([(cols[inlier] - intrinsics.cx) * z / intrinsics.fx, (rows[inlier] - intrinsics.cy) * z / intrinsics.fy, z], axis=1)
    return ObjectPosition(
        valid=True,
        centroid=tuple(float(v) for v in points.mean(axis=0)),
        box_min=tuple(float(v) for v in points.min(axis=0)),
        box_max=tuple(float(v) for v in points.max(axis=0)),
        depth=float(np.median(z)),
        pixels=count,
    )
