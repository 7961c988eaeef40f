"""An MP4 of the debug overlay (masks, boxes, 'concept #id'), for a quick look at a run's results."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from sam3_ros.debug_overlay import draw_overlay
from sam3_ros.frame_result import FrameResult


class OverlayVideoWriter:
    def __init__(self, path: Path, fps: float, banner: str = ""):
        self.path = path
        self.fps = fps
        self.banner = banner
        self._writer = None
        self._size = None

    def write(self, frame_rgb: np.ndarray, result: FrameResult) -> None:
        canvas = draw_overlay(frame_rgb, result, self.banner)
        if self._writer is None:
            self._size = (canvas.shape[1], canvas.shape[0])
            self._writer = cv2.VideoWriter(str(self.path), cv2.VideoWriter_fourcc(*"mp4v"), self.fps, self._size)
            if not self._writer.isOpened():
                raise OSError(f"OpenCV cannot write an MP4 to {self.path}")
        if (canvas.shape[1], canvas.shape[0]) != self._size:
            # A video has one frame size; VideoWriter would silently drop frames of another.
            canvas = cv2.resize(canvas, self._size, interpolation=cv2.INTER_AREA)
        self._writer.write(cv2.cvtColor(canvas, cv2.COLOR_RGB2BGR))

    def close(self) -> None:
        if self._writer is not None:
            self._writer.release()
