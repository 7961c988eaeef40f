"""What the engine returns for one frame."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np


@dataclass(frozen=True)
class TrackedInstance:
    track_id: int  # stable, unique across prompts, never reused
    prompt_id: int
    prompt_text: str
    score: float  # the tracker's confidence that the object is present, in [0, 1]
    box: tuple[int, int, int, int]  # x_min, y_min, x_max, y_max in source pixels, max exclusive
    mask: np.ndarray  # HxW bool at source resolution
    frames_tracked: int  # frames since the track was first seen


@dataclass(frozen=True)
class PromptSummary:
    prompt_id: int
    text: str
    presence_score: float  # the detector's "this concept is in view" score, in [0, 1]
    instance_count: int


@dataclass(frozen=True)
class FrameResult:
    stamp: Any
    width: int
    height: int
    frame_index: int
    instances: tuple[TrackedInstance, ...]
    prompts: tuple[PromptSummary, ...]
