"""RGB frames to an MP4 file, for a quick look at a run (the demo's recording, the annotation tool's video)."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np


class Mp4Writer:
    def __init__(self, path: Path, fps: float):
        self.path = path
        self.fps = fps
        self._writer = None
        self._size = None

    def write(self, frame_rgb: np.ndarray) -> None:
        if self._writer is None:
            self._size = (frame_rgb.shape[1], frame_rgb.shape[0])
            self._writer = cv2.VideoWriter(str(self.path), cv2.VideoWriter_fourcc(*"mp4v"), self.fps, self._size)
            if not self._writer.isOpened():
                raise OSError(f"OpenCV cannot write an MP4 to {self.path}")
        if (frame_rgb.shape[1], frame_rgb.shape[0]) != self._size:
            # A video has one frame size; VideoWriter would silently drop frames of another.
            frame_rgb = cv2.resize(frame_rgb, self._size, interpolation=cv2.INTER_AREA)
        self._writer.write(cv2.cvtColor(frame_rgb, cv2.COLOR_RGB2BGR))

    def close(self) -> None:
        if self._writer is not None:
            self._writer.release()
