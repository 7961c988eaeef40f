"""Visual prompts: objects tracked from clicks and a box, in the same session as the concept tracks.

SAM 3's tracker (transformers' `Sam3TrackerVideoModel`, the tracker inside `Sam3VideoModel`) takes
per-object point inputs: a box is two points labelled 2 and 3 ahead of the clicks (labelled 1 to
include, 0 to exclude), all in the model's input pixels, as `Sam3TrackerVideoProcessor` builds
them. Clicks are applied at once on the most recent processed frame, whose vision features the
session still caches: the object is conditioned on the very pixels the operator clicked on (a
click applied to the next frame would land where the object was, not where it is), and the
next frame propagates it like any other object.

Visual objects carry `VISUAL_PROMPT_ID`, which no concept prompt has (concept ids count from 1):
the detector-track association only matches equal prompt ids, so the detector never matches,
re-conditions or suppresses them, and the per-prompt caps never count them against a concept.
SAM 3's per-prompt mask rules treat each visual object as a prompt of its own (see
`mask_postprocessing.prompt_groups`): two overlapping visual objects keep their pixels.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from sam3_ros.engine.batched_tracker import step_with_inputs

VISUAL_PROMPT_ID = 0
# transformers' point labels: 1 include, 0 exclude, 2 and 3 a box's top-left and bottom-right corners.
_BOX_LABELS = (2, 3)
# Clicks of one request at most, by default (the node's parameter max_points_per_request). SAM is
# trained on a few clicks and a box; each point is a token of the tracker's prompt and mask decoder,
# whose attention grows with their number. Up to 64 a request costs what one click costs (the image
# features dominate), while 10,000 took 1.1 s of tracker time, with the frames waiting behind it.
DEFAULT_MAX_POINTS = 64


class VisualPromptError(ValueError):
    """A click, box or track id the engine cannot use; the message says what to fix."""


def check_point_count(count: int, limit: int) -> None:
    """Raise VisualPromptError if a request's `count` points exceed `limit` (max_points_per_request)."""
    if count > limit:
        raise VisualPromptError(
            f"the request has {count} points, more than max_points_per_request {limit}: send at most {limit} "
            "(a few clicks and a box are what SAM is trained on), or raise the parameter max_points_per_request"
        )


@dataclass(frozen=True)
class Click:
    x: float  # source-image pixels of the most recent processed frame
    y: float
    positive: bool = True  # False: this pixel is not part of the object


@dataclass(frozen=True)
class VisualPrompt:
    clicks: tuple[Click, ...] = ()
    box: tuple[float, float, float, float] | None = None  # x_min, y_min, x_max, y_max in source pixels

    def validate(self, width: int, height: int) -> None:
        """Raise VisualPromptError unless every click and the box lie in a width x height frame."""
        if not self.clicks and self.box is None:
            raise VisualPromptError("the request has neither points nor a box: send at least one point or a box")
        for click in self.clicks:
            if not (math.isfinite(click.x) and math.isfinite(click.y) and 0 <= click.x < width and 0 <= click.y < height):
                raise VisualPromptError(
                    f"point ({click.x}, {click.y}) is outside the {width}x{height} image (pixels of the most recent frame)"
                )
        if self.box is not None:
            x_min, y_min, x_max, y_max = self.box
            if not all(math.isfinite(v) for v in self.box) or not (x_min < x_max and y_min < y_max):
                raise VisualPromptError(f"box {self.box} is empty: it needs x_min < x_max and y_min < y_max")
            if x_min < 0 or y_min < 0 or x_max > width or y_max > height:
                raise VisualPromptError(f"box {self.box} reaches outside the {width}x{height} image")
        if self.clicks and not any(click.positive for click in self.clicks) and self.box is None:
            raise VisualPromptError("all points are negative: add a positive point or a box to say where the object is")

    def point_inputs(self, width: int, height: int, image_size: int, device) -> dict[str, torch.Tensor]:
        """The tracker's point inputs: (1, 1, N, 2) coordinates at the model's input size and (1, 1, N) labels."""
        coords, labels = [], []
        if self.box is not None:
            x_min, y_min, x_max, y_max = self.box
            coords += [(x_min, y_min), (x_max, y_max)]
            labels += _BOX_LABELS
        coords += [(click.x, click.y) for click in self.clicks]
        labels += [1 if click.positive else 0 for click in self.clicks]
        scale = torch.tensor([image_size / width, image_size / height])
        return {
            "point_coords": (torch.tensor(coords, dtype=torch.float32) * scale).reshape(1, 1, -1, 2).to(device),
            "point_labels": torch.tensor(labels, dtype=torch.int32).reshape(1, 1, -1).to(device),
        }


def condition_on_clicks(tracker, session, obj_idx: int, frame_idx: int, point_inputs: dict[str, torch.Tensor]) -> None:
    """One object's tracker step on `frame_idx` with clicks, kept as a conditioning frame with its memory.

    The step is upstream's (`Sam3TrackerVideoModel.forward` for an object with new point inputs):
    a new object starts from the clicks alone, a tracked one reads its memory of earlier frames.
    The result replaces the object's output on that frame and, unlike upstream's forward (which
    keeps a correction on an already tracked frame as an ordinary frame), it is stored as a
    conditioning frame, so the correction stays in the memory beyond the last few frames.
    """
    outputs = session.output_dict_per_obj[obj_idx]
    for kind in ("cond_frame_outputs", "non_cond_frame_outputs"):
        outputs[kind].pop(frame_idx, None)
    is_init_cond_frame = frame_idx not in session.frames_tracked_per_obj[obj_idx]
    out = step_with_inputs(tracker, session, frame_idx, obj_idx, is_init_cond_frame, point_inputs, None, reverse=False)
    session.store_output(obj_idx, frame_idx, output_value=out, is_conditioning_frame=True)
    tracker._batch_encode_memories(
        inference_session=session,
        frame_idx=frame_idx,
        objects_needing_memory_encoding=[obj_idx],
        high_res_masks_for_memory=[out["high_res_masks"]],
        object_score_logits_for_memory=[out["object_score_logits"]],
        is_mask_from_pts_per_obj=[True],
    )
