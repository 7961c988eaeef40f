"""A colour overlay of the tracked instances, for a person to look at (RViz, rqt_image_view)."""

from __future__ import annotations

import cv2
import numpy as np

from sam3_ros.engine.frame_result import FrameResult


def track_colour(track_id: int) -> tuple[int, int, int]:
    """A stable, well-spread RGB colour per track id (golden-ratio hue steps)."""
    hue = int((track_id * 0.618033988749895 % 1.0) * 179)
    hsv = np.array([[[hue, 200, 255]]], dtype=np.uint8)
    return tuple(int(c) for c in cv2.cvtColor(hsv, cv2.COLOR_HSV2RGB)[0, 0])


def draw_overlay(frame_rgb: np.ndarray, result: FrameResult, banner: str = "") -> np.ndarray:
    """Return an RGB copy of the frame with masks tinted, boxes drawn and 'concept #id' labels."""
    canvas = frame_rgb.copy()
    for instance in result.instances:
        colour = np.array(track_colour(instance.track_id), dtype=np.float32)
        region = canvas[instance.mask].astype(np.float32)
        canvas[instance.mask] = (0.5 * region + 0.5 * colour).astype(np.uint8)
    for instance in result.instances:
        colour = track_colour(instance.track_id)
        x0, y0, x1, y1 = instance.box
        cv2.rectangle(canvas, (x0, y0), (x1 - 1, y1 - 1), colour, 2)
        label = f"{instance.prompt_text} #{instance.track_id} {instance.score:.2f}"
        cv2.putText(canvas, label, (x0 + 2, max(y0 - 4, 12)), cv2.FONT_HERSHEY_SIMPLEX, 0.45, colour, 1, cv2.LINE_AA)
    if banner:
        cv2.putText(canvas, banner, (8, canvas.shape[0] - 10), cv2.FONT_HERSHEY_SIMPLEX, 0.6, (255, 60, 60), 2, cv2.LINE_AA)
    return canvas
