"""The concept-tracking engine for one camera: frames in, tracked instances of every prompted concept out.

One SAM 3 streaming session holds one tracker memory per object for all prompts; per frame the
vision backbone runs once, the detector once for all prompts and the tracker once per memory
shape for all objects (see streaming_sam3). Prompts change between frames without touching other
prompts' objects. Everything per camera is in the tracker's stream (sam3_ros.engine.stream), so
any number of trackers share one loaded model, and the trackers of one node share one track id
counter (`TrackIdAllocator`). This module never imports rclpy: the ROS node is glue.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, replace

import torch

from sam3_ros.engine.frame_preprocessing import validate_frame
from sam3_ros.engine.frame_result import FrameResult, PromptSummary
from sam3_ros.engine.prompt_registry import Prompt, PromptRegistry, PromptRequest
from sam3_ros.engine.stream import prompts as stream_prompts
from sam3_ros.engine.stream import snapshot as stream_snapshot
from sam3_ros.engine.stream import visual_objects
from sam3_ros.engine.stream.frame_output import frame_instances
from sam3_ros.engine.stream.rollback import all_or_nothing
from sam3_ros.engine.stream.session import DetectionLimits, StreamSession, StreamState, new_session, run_frame
from sam3_ros.engine.track_ids import TrackIdAllocator, TrackIdBook
from sam3_ros.engine.track_memory import TrackMemory
from sam3_ros.engine.visual_prompts import VisualPrompt


@dataclass(frozen=True)
class TrackerSettings:
    confirm_frames: int = 3  # consecutive visible frames before a new track is reported
    max_lost_frames: int = 30  # frames a confirmed track may stay unseen (occluded) before it ends
    max_objects_per_prompt: int = 20
    max_objects_total: int = 50
    max_prompts: int = 16
    max_prompt_length: int = 120
    max_exemplars: int = 8
    max_image_pixels: int = 4096 * 4096
    detection_threshold: float | None = None  # None keeps the model's own (0.5 for SAM 3)
    new_track_threshold: float | None = None  # None keeps the model's own (0.7 for SAM 3)
    refinement_hold_frames: int = 30  # frames after a refinement in which the detector may not re-condition the object
    # Frames a visual object may stay unseen before it ends; -1: only when removed. Longer than a
    # concept track's: the detector never finds a visual object again once it has ended.
    visual_object_max_lost_frames: int = 150

    def __post_init__(self):
        for name in ("max_objects_per_prompt", "max_objects_total", "max_prompts", "max_prompt_length", "max_image_pixels"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be at least 1")
        if self.refinement_hold_frames < 0:
            raise ValueError("refinement_hold_frames must be >= 0")
        if self.visual_object_max_lost_frames < -1:
            raise ValueError("visual_object_max_lost_frames must be >= 0, or -1 (a visual object ends only when removed)")
        for name in ("detection_threshold", "new_track_threshold"):
            value = getattr(self, name)
            if value is not None and not 0.0 <= value <= 1.0:
                raise ValueError(f"{name} must be in [0, 1], got {value}")

    def limits(self, config) -> DetectionLimits:
        """The caps and thresholds a stream runs with on a model of `config` (a Sam3VideoConfig)."""
        model_own = DetectionLimits.of_config(config)
        return DetectionLimits(
            self.max_objects_total,
            self.max_objects_per_prompt,
            model_own.detection_threshold if self.detection_threshold is None else self.detection_threshold,
            model_own.new_track_threshold if self.new_track_threshold is None else self.new_track_threshold,
        )


@dataclass(frozen=True)
class IdCounters:
    """The next prompt id and track id a tracker hands out.

    A tracker built with another's counters never reuses one of its ids: the node builds a new
    tracker after a lifecycle cleanup (which frees the model) and ids stay unique over both.
    """

    next_prompt_id: int = 1
    next_track_id: int = 1


class ConceptTracker:
    """One camera's stream on a shared model.

    Thread-safe: prompt changes from a service thread wait for the frame in progress, and trackers
    on one model take turns on it (`model.lock`).
    """

    def __init__(
        self,
        model,
        tokenizer,
        settings: TrackerSettings = TrackerSettings(),
        ids: IdCounters = IdCounters(),
        track_ids: TrackIdAllocator | None = None,
    ):
        """`track_ids`: the counter shared by the node's trackers (None: this tracker's own); it
        never hands out an id below `ids.next_track_id`."""
        self.settings = settings
        self._model = model
        self._tokenizer = tokenizer
        parameter = next(model.parameters())
        self.device, self.dtype = parameter.device, parameter.dtype
        tracker_config = model.config.tracker_config
        self._memory = TrackMemory(
            tracker_config.num_maskmem, tracker_config.max_object_pointers_in_encoder, tracker_config.max_cond_frame_num
        )
        self._track_ids = TrackIdAllocator() if track_ids is None else track_ids
        self._track_ids.skip_to(ids.next_track_id)
        self._lock = threading.Lock()
        self._stream = StreamState(
            self._new_session(),
            TrackIdBook(settings.confirm_frames, settings.max_lost_frames, self._track_ids),
            PromptRegistry(settings.max_prompts, settings.max_prompt_length, settings.max_exemplars, ids.next_prompt_id),
        )

    def set_object_caps(self, total: int, per_prompt: int) -> None:
        """Change the object caps of a running tracker (the node lowers them after out-of-memory frames).

        Objects already tracked stay; the lower caps hold for new ones.
        """
        with self._lock:
            self.settings = replace(self.settings, max_objects_total=total, max_objects_per_prompt=per_prompt)
            session = self._stream.session
            session.limits = replace(session.limits, max_objects_total=total, max_objects_per_prompt=per_prompt)

    def id_counters(self) -> IdCounters:
        with self._lock:
            return IdCounters(self._stream.prompts.next_id, self._track_ids.next_id)

    # -- prompts -------------------------------------------------------------------------------

    def active_prompts(self) -> list[Prompt]:
        with self._lock:
            return list(self._stream.prompts)

    def add_prompts(self, requests: list[PromptRequest]) -> list[Prompt]:
        """Add concepts; texts already active keep their id and tracks (new exemplars attach to them)."""
        with self._lock, self._model.lock:  # the model's tokenizer is shared as well
            return stream_prompts.add_prompts(self._stream, self._tokenizer, requests)

    def remove_prompts(self, prompt_ids=(), texts=()) -> list[Prompt]:
        """Remove concepts by id or text, with their objects; raises PromptError if one is not active."""
        with self._lock:
            return stream_prompts.remove_prompts(self._stream, self._memory, prompt_ids, texts)

    def replace_prompts(self, requests: list[PromptRequest]) -> list[Prompt]:
        """Make the active set exactly `requests`; overlapping texts keep their ids and tracks."""
        with self._lock, self._model.lock:
            return stream_prompts.replace_prompts(self._stream, self._tokenizer, self._memory, requests)

    # -- visual objects (clicks and boxes) -----------------------------------------------------

    @torch.inference_mode()
    def track_object(self, prompt: VisualPrompt, label: str = "") -> int:
        """Start tracking the object at `prompt`'s clicks and box on the most recent frame; its track id.

        It is conditioned at once on that frame (see `visual_prompts`) and reported from the next
        frame on, with `label` (default "object <track id>") as its prompt text.
        """
        with self._lock, self._model.lock, all_or_nothing(self._stream):
            return visual_objects.track_object(self._model, self._stream, self._memory, self.settings, prompt, label)

    @torch.inference_mode()
    def refine_object(self, track_id: int, prompt: VisualPrompt) -> None:
        """Correct a tracked object (concept or visual) with clicks on the most recent frame.

        Only that object is re-conditioned; for `refinement_hold_frames` frames the detector may
        not re-condition it, so that it does not undo the correction.
        """
        with self._lock, self._model.lock, all_or_nothing(self._stream):
            visual_objects.refine_object(self._model, self._stream, self._memory, self.settings.refinement_hold_frames, track_id, prompt)

    def remove_object(self, track_id: int) -> None:
        """Stop tracking a visual object. Concept objects go with their prompt (the detector would find them again)."""
        with self._lock:
            visual_objects.remove_object(self._stream, self._memory, track_id)

    def visual_objects(self) -> dict[int, str]:
        """Track id -> label of every visual object being tracked."""
        with self._lock:
            return visual_objects.visual_objects(self._stream)

    def is_live(self, track_id: int) -> bool:
        """Whether this tracker tracks `track_id` now (a reported track that has not ended)."""
        with self._lock:
            return visual_objects.is_live(self._stream, track_id)

    # -- frames --------------------------------------------------------------------------------

    def reset(self) -> None:
        """Forget all tracks (prompts stay). New tracks get new ids: ids are never reused."""
        with self._lock, self._model.lock:
            self._stream.restart(self._new_session())
            for prompt in self._stream.prompts:
                stream_prompts.register(self._stream, self._tokenizer, prompt)

    def _new_session(self) -> StreamSession:
        return new_session(self.settings.limits(self._model.config), self.device, self.dtype)

    # -- checkpoints ---------------------------------------------------------------------------

    def snapshot(self) -> bytes:
        """Everything the stream needs to go on (session, track ids, prompts, counters), for `restore`.

        An offline run saves it so that another process can continue exactly where this one
        stopped, with the same track ids. Restore into a tracker built on the same model and
        settings. It is a torch pickle: restore only your own.
        """
        with self._lock:
            return stream_snapshot.snapshot(self._stream, self.settings)

    def restore(self, snapshot: bytes) -> None:
        """Continue the stream saved by `snapshot`, replacing this tracker's prompts and tracks."""
        stream = stream_snapshot.restored(snapshot, self.settings, self._track_ids)
        with self._lock:
            self._stream = stream

    @property
    def session(self) -> StreamSession:
        """The underlying transformers session, for inspection (memory checks, diagnostics)."""
        return self._stream.session

    @torch.inference_mode()
    def process(self, frame, stamp=None) -> FrameResult:
        """Track every active concept in one HxWx3 uint8 RGB frame of any size."""
        validate_frame(frame, self.settings.max_image_pixels)
        height, width = frame.shape[:2]
        with self._lock:
            stream = self._stream
            stream.frames_seen += 1
            prompts = list(stream.prompts)
            if not prompts and not stream.session.obj_ids:
                stream.idle_frame = frame  # the backbone runs on it only if someone clicks on it
                return FrameResult(stamp, width, height, stream.frames_seen, (), ())
            stream.idle_frame = None
            exemplars = {p.id: stream_prompts.exemplar_tensors(p, width, height, self.device, self.dtype) for p in prompts if p.exemplars}
            with self._model.lock, all_or_nothing(stream):
                output, frame_idx = run_frame(self._model, stream, frame, exemplars)
                presence = self._presence(prompts)
                instances, presence = frame_instances(stream, self._memory, output, presence, frame_idx, height, width)
                self._memory.prune(stream.session, frame_idx)
            for prompt_id in exemplars:  # used; kept for the next frame if this one failed
                stream.prompts.set_exemplars(prompt_id, ())
            summaries = tuple(
                PromptSummary(p.id, p.text, score, sum(1 for i in instances if i.prompt_id == p.id)) for p, score in zip(prompts, presence)
            )
            return FrameResult(stamp, width, height, stream.frames_seen, instances, summaries)

    def _presence(self, prompts: list[Prompt]) -> torch.Tensor:
        if not prompts:
            return torch.zeros(0, device=self.device)
        return torch.stack([self._stream.session.presence_scores[p.id] for p in prompts])
