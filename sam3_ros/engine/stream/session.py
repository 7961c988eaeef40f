"""A stream's SAM 3 session and the rest of its state: what one camera has and the shared model has not.

Upstream keeps the object cap and the detection thresholds on the model, and the engine once set
exemplar boxes and held objects on the model before each frame and read the presence scores off it
after: one model could then serve one stream only. Here every such value lives in the stream's
`StreamSession`, which the engine's model (streaming_sam3) reads on each frame.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import torch
from transformers.models.sam3_video.modeling_sam3_video import Sam3VideoInferenceSession

from sam3_ros.engine.frame_preprocessing import frame_to_pixel_values
from sam3_ros.engine.prompt_registry import PromptRegistry
from sam3_ros.engine.track_ids import TrackIdBook


@dataclass(frozen=True)
class DetectionLimits:
    """A stream's object caps and detector thresholds."""

    max_objects_total: int
    max_objects_per_prompt: int
    detection_threshold: float  # a detection's score to count at all
    new_track_threshold: float  # an unmatched detection's score to start a track

    @classmethod
    def of_config(cls, config) -> DetectionLimits:
        """Upstream's own: one global cap (per prompt too) and the thresholds of a Sam3VideoConfig."""
        return cls(config.max_num_objects, config.max_num_objects, config.score_threshold_detection, config.new_det_thresh)


class StreamSession(Sam3VideoInferenceSession):
    """Upstream's streaming session with the per-stream values the engine's model reads and writes."""

    def __init__(self, limits: DetectionLimits, **session_arguments):
        super().__init__(**session_arguments)
        self.limits = limits
        # Upstream first sets it when a detection starts a track; the tracker step reads it before
        # that when the first object is a visual one.
        self.obj_with_new_inputs = []
        # prompt id -> (boxes (N, 4) normalised cx, cy, w, h; labels (N,), 1 positive): this frame's only
        self.exemplars: dict[int, tuple[torch.Tensor, torch.Tensor]] = {}
        self.presence_scores: dict[int, torch.Tensor] = {}  # prompt id -> the detector's on the latest frame
        # Objects just refined by clicks: the detector must not re-condition them (undo the correction).
        self.recondition_held_obj_ids: set[int] = set()


def new_session(limits: DetectionLimits, device, dtype) -> StreamSession:
    return StreamSession(limits, inference_device=device, inference_state_device=device, video_storage_device=device, dtype=dtype)


@dataclass
class StreamState:
    """Everything of one stream but the model: what a rollback puts back and a snapshot saves."""

    session: StreamSession
    ids: TrackIdBook
    prompts: PromptRegistry
    next_frame: int = 0  # the session index the next frame gets
    frame_size: tuple[int, int] = (0, 0)  # width, height of the session's most recent frame
    frames_seen: int = 0  # frames given to the stream, processed or not (FrameResult.frame_index)
    visual_labels: dict[int, str] = field(default_factory=dict)  # model object id -> label, for visual objects
    held_until: dict[int, int] = field(default_factory=dict)  # model object id -> last frame of its refinement hold
    idle_frame: np.ndarray | None = None  # a frame skipped with nothing to track, run only if clicked on

    def restart(self, session: StreamSession) -> None:
        """Go on in a new session (prompts and id counters stay, tracks end)."""
        self.session, self.next_frame, self.frame_size = session, 0, (0, 0)
        self.visual_labels, self.held_until, self.idle_frame = {}, {}, None
        self.ids.clear()

    def forget_objects(self, obj_ids) -> None:
        self.ids.forget(obj_ids)
        for obj_id in obj_ids:
            self.visual_labels.pop(obj_id, None)
            self.held_until.pop(obj_id, None)


def run_frame(model, stream: StreamState, frame: np.ndarray, exemplars: dict[int, tuple[torch.Tensor, torch.Tensor]]):
    """Run the model on one frame of `stream`; (its output, the frame's session index)."""
    session = stream.session
    pixel_values = frame_to_pixel_values(frame, model.config.image_size, session.inference_device, session.dtype)
    frame_idx = stream.next_frame
    stream.held_until = {obj_id: last for obj_id, last in stream.held_until.items() if last >= frame_idx}
    session.exemplars = exemplars
    session.recondition_held_obj_ids = set(stream.held_until)
    output = model(inference_session=session, frame=pixel_values, frame_idx=frame_idx)
    stream.next_frame += 1
    stream.frame_size = (frame.shape[1], frame.shape[0])
    return output, frame_idx
