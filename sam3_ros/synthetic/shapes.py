"""Outlines of the synthetic shapes as polygons, for a size, an orientation and a position."""

from __future__ import annotations

import numpy as np

# Vertices on the unit circle (radius 1 = half the object's size) before rotation. A shape's
# extent is about its size whichever it is, so that size does not give the shape away.
_CIRCLE = np.stack([np.cos(np.linspace(0, 2 * np.pi, 48, endpoint=False)), np.sin(np.linspace(0, 2 * np.pi, 48, endpoint=False))], 1)
_SQUARE = np.array([[-1, -1], [1, -1], [1, 1], [-1, 1]], dtype=np.float64) * 0.8
_TRIANGLE = np.stack([np.cos(np.pi / 2 + np.arange(3) * 2 * np.pi / 3), np.sin(np.pi / 2 + np.arange(3) * 2 * np.pi / 3)], 1) * 1.1
_ARM = 0.33
_CROSS = np.array(
    [
        [-_ARM, -1],
        [_ARM, -1],
        [_ARM, -_ARM],
        [1, -_ARM],
        [1, _ARM],
        [_ARM, _ARM],
        [_ARM, 1],
        [-_ARM, 1],
        [-_ARM, _ARM],
        [-1, _ARM],
        [-1, -_ARM],
        [-_ARM, -_ARM],
    ]
)
_STAR_ANGLES = np.pi / 2 + np.arange(10) * np.pi / 5
_STAR = np.stack([np.cos(_STAR_ANGLES), np.sin(_STAR_ANGLES)], 1) * np.where(np.arange(10) % 2 == 0, 1.05, 0.45)[:, None]

UNIT_OUTLINES = {"circle": _CIRCLE, "square": _SQUARE, "triangle": _TRIANGLE, "cross": _CROSS, "star": _STAR}


def outline(shape: str, centre: tuple[float, float], size: float, angle: float, distortion: np.ndarray | None = None) -> np.ndarray:
    """(N, 2) float vertices (x, y) in pixels of `shape`, `size` pixels across, turned by `angle` radians.

    `distortion` (N, 2) moves each unit vertex a little, so that no two triangles are identical.
    """
    unit = UNIT_OUTLINES[shape]
    if distortion is not None:
        unit = unit + distortion
    cos, sin = np.cos(angle), np.sin(angle)
    rotated = unit @ np.array([[cos, sin], [-sin, cos]])
    return rotated * (size / 2.0) + np.asarray(centre, dtype=np.float64)


def polygon_area(vertices: np.ndarray) -> float:
    """Area in square pixels of a simple polygon (shoelace formula), however much lies outside the frame."""
    x, y = vertices[:, 0], vertices[:, 1]
    return 0.5 * abs(float(np.dot(x, np.roll(y, -1)) - np.dot(y, np.roll(x, -1))))
