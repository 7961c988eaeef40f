"""Checks a camera frame and turns it into the model's input tensor, in torch on the model's device."""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F


class FrameError(ValueError):
    """A frame the engine cannot process; the message says what was wrong."""


def validate_frame(frame, max_pixels: int) -> None:
    """Raise FrameError unless `frame` is an HxWx3 uint8 RGB array of a sensible size."""
    if not isinstance(frame, np.ndarray):
        raise FrameError(f"frame must be a numpy array, got {type(frame).__name__}")
    if frame.dtype != np.uint8:
        raise FrameError(f"frame must be uint8 RGB, got dtype {frame.dtype}")
    if frame.ndim != 3 or frame.shape[2] != 3:
        raise FrameError(f"frame must have shape (height, width, 3), got {frame.shape}")
    height, width = frame.shape[:2]
    if height < 2 or width < 2:
        raise FrameError(f"frame is {width}x{height}; it must be at least 2x2 pixels")
    if height * width > max_pixels:
        raise FrameError(
            f"frame is {width}x{height} = {height * width} pixels, more than the limit of {max_pixels} (parameter max_image_pixels)"
        )


def frame_to_pixel_values(frame: np.ndarray, size: int, device, dtype: torch.dtype) -> torch.Tensor:
    """Resize to size x size (bilinear, antialiased) and normalise to [-1, 1], as SAM 3's processor does.

    The uint8 frame is uploaded as is and converted on the device: a quarter of the bytes of a
    float upload, and no torchvision needed.
    """
    if not frame.flags.writeable:
        frame = frame.copy()  # message buffers are read-only, and torch will not share those
    pixels = torch.from_numpy(np.ascontiguousarray(frame)).to(device, non_blocking=True)
    pixels = pixels.permute(2, 0, 1).unsqueeze(0).float()
    pixels = F.interpolate(pixels, size=(size, size), mode="bilinear", align_corners=False, antialias=True)
    pixels = (pixels / 255.0 - 0.5) / 0.5
    return pixels[0].to(dtype)
