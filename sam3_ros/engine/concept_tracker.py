"""The concept-tracking engine: frames in, tracked instances of every prompted concept out.

One SAM 3 streaming session holds one tracker memory per object for all prompts; per frame the
vision backbone runs once, the detector once for all prompts and the tracker once per memory
shape for all objects (see streaming_sam3). Prompts change between frames
without touching other prompts' objects. This module never imports rclpy: the ROS node is glue.
"""

from __future__ import annotations

import io
import threading
from contextlib import contextmanager
from dataclasses import dataclass, replace

import numpy as np
import torch
from transformers.models.sam3_video.modeling_sam3_video import Sam3VideoInferenceSession
from transformers.utils import is_torchvision_available

from sam3_ros.engine.frame_preprocessing import frame_to_pixel_values, validate_frame
from sam3_ros.engine.frame_result import FrameResult, PromptSummary, TrackedInstance
from sam3_ros.engine.frame_rollback import SessionCheckpoint
from sam3_ros.engine.mask_postprocessing import (
    download_masks,
    keep_one_owner_per_pixel,
    upsample_in_region,
    visibility_and_boxes,
)
from sam3_ros.engine.prompt_registry import Prompt, PromptError, PromptRegistry, PromptRequest
from sam3_ros.engine.track_ids import TrackIdBook
from sam3_ros.engine.track_memory import TrackMemory
from sam3_ros.engine.visual_prompts import VISUAL_PROMPT_ID, VisualPrompt, VisualPromptError, condition_on_clicks

# SAM 3's text encoder has 32 positions; longer prompts are truncated by the tokenizer.
_TEXT_TOKENS = 32
# transformers' SAM 3 pools exemplar-box features with torchvision's roi_align, which it imports
# only where this says torchvision is available.
EXEMPLARS_SUPPORTED = is_torchvision_available()


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


@dataclass(frozen=True)
class IdCounters:
    """The next prompt id and track id a tracker hands out.

    A tracker built with another's counters never reuses one of its ids: the node builds a new
    tracker after a lifecycle cleanup (which frees the model) and ids stay unique over both.
    """

    next_prompt_id: int = 1
    next_track_id: int = 1


class ConceptTracker:
    """Thread-safe: prompt changes from a service thread wait for the frame in progress."""

    def __init__(self, model, tokenizer, settings: TrackerSettings = TrackerSettings(), ids: IdCounters = IdCounters()):
        self.settings = settings
        self._model = model
        self._tokenizer = tokenizer
        parameter = next(model.parameters())
        self.device, self.dtype = parameter.device, parameter.dtype
        self._image_size = model.config.image_size
        model.max_num_objects = settings.max_objects_total
        model.max_objects_per_prompt = settings.max_objects_per_prompt
        if settings.detection_threshold is not None:
            model.score_threshold_detection = settings.detection_threshold
        if settings.new_track_threshold is not None:
            model.new_det_thresh = settings.new_track_threshold
        tracker_config = model.config.tracker_config
        self._memory = TrackMemory(
            tracker_config.num_maskmem, tracker_config.max_object_pointers_in_encoder, tracker_config.max_cond_frame_num
        )
        self._ids = TrackIdBook(settings.confirm_frames, settings.max_lost_frames, ids.next_track_id)
        self.prompts = PromptRegistry(settings.max_prompts, settings.max_prompt_length, settings.max_exemplars, ids.next_prompt_id)
        self._lock = threading.Lock()
        self._frames_seen = 0
        self._start_session()

    def set_object_caps(self, total: int, per_prompt: int) -> None:
        """Change the object caps of a running tracker (the node lowers them after out-of-memory frames).

        Objects already tracked stay; the lower caps hold for new ones.
        """
        with self._lock:
            self.settings = replace(self.settings, max_objects_total=total, max_objects_per_prompt=per_prompt)
            self._model.max_num_objects = total
            self._model.max_objects_per_prompt = per_prompt

    def id_counters(self) -> IdCounters:
        with self._lock:
            return IdCounters(self.prompts.next_id, self._ids.next_public_id)

    # -- prompts -------------------------------------------------------------------------------

    def active_prompts(self) -> list[Prompt]:
        with self._lock:
            return list(self.prompts)

    def add_prompts(self, requests: list[PromptRequest]) -> list[Prompt]:
        """Add concepts; texts already active keep their id and tracks (new exemplars attach to them)."""
        with self._lock:
            new = self.prompts.plan_add(requests)
            self._check_exemplars_supported(requests)
            self._attach_exemplars(requests)
            return [self._register(self.prompts.add(request)) for request in new]

    def remove_prompts(self, prompt_ids=(), texts=()) -> list[Prompt]:
        """Remove concepts by id or text, with their objects; raises PromptError if one is not active."""
        with self._lock:
            doomed = {}
            for prompt_id in prompt_ids:
                prompt = self.prompts.get(prompt_id)
                if prompt is None:
                    raise PromptError(f"no active prompt has id {prompt_id}")
                doomed[prompt.id] = prompt
            for text in texts:
                prompt = self.prompts.find_text(text)
                if prompt is None:
                    raise PromptError(f"no active prompt has the text '{text}'")
                doomed[prompt.id] = prompt
            for prompt in doomed.values():
                self._unregister(prompt)
            return list(doomed.values())

    def replace_prompts(self, requests: list[PromptRequest]) -> list[Prompt]:
        """Make the active set exactly `requests`; overlapping texts keep their ids and tracks."""
        with self._lock:
            wanted = self.prompts.validate(requests)
            self._check_exemplars_supported(requests)
            if len(wanted) > self.prompts.max_prompts:
                raise PromptError(f"{len(wanted)} prompts exceed the limit of {self.prompts.max_prompts} (parameter max_prompts)")
            wanted_texts = {request.text for request in wanted}
            for prompt in list(self.prompts):
                if prompt.text not in wanted_texts:
                    self._unregister(prompt)
            for request in self.prompts.plan_add(wanted):
                self._register(self.prompts.add(request))
            self._attach_exemplars(wanted)
            return list(self.prompts)

    @staticmethod
    def _check_exemplars_supported(requests: list[PromptRequest]) -> None:
        for request in requests:
            if request.exemplars and not EXEMPLARS_SUPPORTED:
                raise PromptError(
                    f"prompt '{request.text}' has exemplar boxes, which need torchvision (SAM 3 pools box "
                    "features with its roi_align); install the torchvision build matching your torch, or send text only"
                )

    def _attach_exemplars(self, requests: list[PromptRequest]) -> None:
        for request in self.prompts.validate(requests):
            prompt = self.prompts.find_text(request.text)
            if prompt is not None and request.exemplars:
                self.prompts.set_exemplars(prompt.id, request.exemplars)

    def _register(self, prompt: Prompt) -> Prompt:
        # The engine's ids are the session's prompt ids: upstream's own add_prompt numbers prompts
        # with len(prompts), which hands out a live id again after a removal.
        encoded = self._tokenizer(prompt.text, return_tensors="pt", padding="max_length", max_length=_TEXT_TOKENS, truncation=True)
        self._session.prompts[prompt.id] = prompt.text
        self._session.prompt_input_ids[prompt.id] = encoded.input_ids.to(self.device)
        self._session.prompt_attention_masks[prompt.id] = encoded.attention_mask.to(self.device)
        return prompt

    def _unregister(self, prompt: Prompt) -> None:
        session = self._session
        obj_ids = [obj_id for obj_id, prompt_id in session.obj_id_to_prompt_id.items() if prompt_id == prompt.id]
        self._memory.remove_objects(session, obj_ids)
        self._ids.forget(obj_ids)
        for table in (session.prompts, session.prompt_input_ids, session.prompt_embeddings, session.prompt_attention_masks):
            table.pop(prompt.id, None)
        self.prompts.remove(prompt.id)

    # -- visual objects (clicks and boxes) -----------------------------------------------------

    @torch.inference_mode()
    def track_object(self, prompt: VisualPrompt, label: str = "") -> int:
        """Start tracking the object at `prompt`'s clicks and box on the most recent frame; its track id.

        It is conditioned at once on that frame (see `visual_prompts`) and reported from the next
        frame on, with `label` (default "object <track id>") as its prompt text.
        """
        with self._lock, self._all_or_nothing():
            frame_idx, (width, height) = self._clicked_frame()
            prompt.validate(width, height)
            if len(label) > self.settings.max_prompt_length:
                raise VisualPromptError(f"label has {len(label)} characters, more than max_prompt_length {self.settings.max_prompt_length}")
            session = self._session
            if len(session.obj_ids) >= self.settings.max_objects_total:
                raise VisualPromptError(
                    f"already tracking {len(session.obj_ids)} objects, the limit (parameter max_objects_total): "
                    "remove a visual object or a prompt first"
                )
            obj_id = session.max_obj_id = session.max_obj_id + 1
            obj_idx = session.obj_id_to_idx(obj_id)
            session.obj_id_to_prompt_id[obj_id] = VISUAL_PROMPT_ID
            # What upstream's planning sets for a new detection, read by its bookkeeping on later frames.
            session.obj_first_frame_idx[obj_id] = frame_idx
            session.trk_keep_alive[obj_id] = self._model.init_trk_keep_alive
            session.obj_id_to_score[obj_id] = 1.0
            condition_on_clicks(self._model.tracker_model, session, obj_idx, frame_idx, self._point_inputs(prompt, width, height))
            track_id = self._ids.adopt(obj_id, frame_idx, self.settings.visual_object_max_lost_frames)
            self._visual_labels[obj_id] = label or f"object {track_id}"
            return track_id

    @torch.inference_mode()
    def refine_object(self, track_id: int, prompt: VisualPrompt) -> None:
        """Correct a tracked object (concept or visual) with clicks on the most recent frame.

        Only that object is re-conditioned; for `refinement_hold_frames` frames the detector may
        not re-condition it, so that it does not undo the correction.
        """
        with self._lock, self._all_or_nothing():
            obj_id = self._live_object(track_id)
            frame_idx, (width, height) = self._clicked_frame()
            prompt.validate(width, height)
            obj_idx = self._session.obj_id_to_idx(obj_id)
            condition_on_clicks(self._model.tracker_model, self._session, obj_idx, frame_idx, self._point_inputs(prompt, width, height))
            self._held_until[obj_id] = frame_idx + self.settings.refinement_hold_frames

    def remove_object(self, track_id: int) -> None:
        """Stop tracking a visual object. Concept objects go with their prompt (the detector would find them again)."""
        with self._lock:
            obj_id = self._live_object(track_id)
            prompt_id = self._session.obj_id_to_prompt_id[obj_id]
            if prompt_id != VISUAL_PROMPT_ID:
                raise VisualPromptError(
                    f"track {track_id} is an instance of prompt '{self._session.prompts[prompt_id]}' (id {prompt_id}), "
                    "which the detector would find again: remove the prompt, or refine the object instead"
                )
            self._memory.remove_objects(self._session, [obj_id])
            self._forget_objects([obj_id])

    def visual_objects(self) -> dict[int, str]:
        """Track id -> label of every visual object being tracked."""
        with self._lock:
            return {self._ids.public_of(obj_id): label for obj_id, label in sorted(self._visual_labels.items())}

    def _live_object(self, track_id: int) -> int:
        obj_id = self._ids.object_of(track_id)
        if obj_id is None or obj_id not in self._session.obj_ids:
            raise VisualPromptError(f"no live track has id {track_id}: it ended, or it was never reported")
        return obj_id

    def _clicked_frame(self) -> tuple[int, tuple[int, int]]:
        """The session index and size of the most recent frame, its features cached for clicks."""
        if self._idle_frame is not None:
            # Nothing was tracked on that frame, so the backbone skipped it: run it now.
            frame, self._idle_frame = self._idle_frame, None
            self._forward(frame, {})
            self._memory.prune(self._session, self._session_frame - 1)
        if self._session_frame == 0:
            raise VisualPromptError("no frame has been processed yet: wait for the first image, then click on it")
        frame_idx = self._session_frame - 1
        if self._session.cache.get_vision_features(frame_idx) is None:
            # Upstream empties the cache when its last object is removed; the frame's pixels stay.
            vision_embeds = self._model.detector_model.get_vision_features(pixel_values=self._session.get_frame(frame_idx)[None])
            features, positions = self._model.get_vision_features_for_tracker(vision_embeds=vision_embeds)
            self._session.cache.cache_vision_features(frame_idx, {"vision_feats": features, "vision_pos_embeds": positions})
        return frame_idx, self._frame_size

    def _point_inputs(self, prompt: VisualPrompt, width: int, height: int):
        return prompt.point_inputs(width, height, self._image_size, self.device)

    def _forget_objects(self, obj_ids) -> None:
        self._ids.forget(obj_ids)
        for obj_id in obj_ids:
            self._visual_labels.pop(obj_id, None)
            self._held_until.pop(obj_id, None)

    # -- frames --------------------------------------------------------------------------------

    def reset(self) -> None:
        """Forget all tracks (prompts stay). New tracks get new ids: ids are never reused."""
        with self._lock:
            self._ids.clear()
            self._start_session()
            for prompt in self.prompts:
                self._register(prompt)

    def _start_session(self) -> None:
        self._session = Sam3VideoInferenceSession(
            inference_device=self.device,
            inference_state_device=self.device,
            video_storage_device=self.device,
            dtype=self.dtype,
        )
        # Upstream first sets it when a detection starts a track; the tracker step reads it before
        # that when the first object is a visual one.
        self._session.obj_with_new_inputs = []
        self._session_frame = 0
        self._frame_size = (0, 0)  # width, height of the session's most recent frame
        self._visual_labels: dict[int, str] = {}  # model object id -> label, for visual objects
        self._held_until: dict[int, int] = {}  # model object id -> last frame of its refinement hold
        self._idle_frame: np.ndarray | None = None  # a frame skipped with nothing to track, run only if clicked on

    # -- checkpoints ---------------------------------------------------------------------------

    def snapshot(self) -> bytes:
        """Everything the stream needs to go on (session, track ids, prompts, counters), for `restore`.

        An offline run saves it so that another process can continue exactly where this one
        stopped, with the same track ids. The model and tokenizer are not in it: restore into a
        tracker built on the same model and settings. It is a torch pickle: restore only your own.
        """
        with self._lock:
            buffer = io.BytesIO()
            torch.save(
                {
                    "settings": self.settings,
                    "session": self._session,
                    "session_frame": self._session_frame,
                    "frame_size": self._frame_size,
                    "visual_labels": self._visual_labels,
                    "held_until": self._held_until,
                    "frames_seen": self._frames_seen,
                    "ids": self._ids,
                    "prompts": self.prompts,
                },
                buffer,
            )
            return buffer.getvalue()

    def restore(self, snapshot: bytes) -> None:
        """Continue the stream saved by `snapshot`, replacing this tracker's prompts and tracks."""
        state = torch.load(io.BytesIO(snapshot), weights_only=False)
        if state["settings"] != self.settings:
            raise ValueError(f"the snapshot was taken with {state['settings']}, this tracker has {self.settings}")
        with self._lock:
            self._session = state["session"]
            self._session_frame = state["session_frame"]
            self._frame_size = state["frame_size"]
            self._visual_labels = state["visual_labels"]
            self._held_until = state["held_until"]
            self._idle_frame = None
            self._frames_seen = state["frames_seen"]
            self._ids = state["ids"]
            self.prompts = state["prompts"]

    @property
    def session(self) -> Sam3VideoInferenceSession:
        """The underlying transformers session, for inspection (memory checks, diagnostics)."""
        return self._session

    @torch.inference_mode()
    def process(self, frame, stamp=None) -> FrameResult:
        """Track every active concept in one HxWx3 uint8 RGB frame of any size."""
        validate_frame(frame, self.settings.max_image_pixels)
        height, width = frame.shape[:2]
        with self._lock:
            self._frames_seen += 1
            prompts = list(self.prompts)
            if not prompts and not self._session.obj_ids:
                self._idle_frame = frame  # the backbone runs on it only if someone clicks on it
                return FrameResult(stamp, width, height, self._frames_seen, (), ())
            self._idle_frame = None
            exemplars = {p.id: self._exemplar_tensors(p, width, height) for p in prompts if p.exemplars}
            with self._all_or_nothing():
                output, frame_idx = self._forward(frame, exemplars)
                presence = (
                    torch.stack([self._model.presence_scores[p.id] for p in prompts]) if prompts else torch.zeros(0, device=self.device)
                )
                instances, presence = self._instances(output, presence, frame_idx, height, width)
                self._memory.prune(self._session, frame_idx)
            for prompt_id in exemplars:  # used; kept for the next frame if this one failed
                self.prompts.set_exemplars(prompt_id, ())
            summaries = tuple(
                PromptSummary(p.id, p.text, score, sum(1 for i in instances if i.prompt_id == p.id)) for p, score in zip(prompts, presence)
            )
            return FrameResult(stamp, width, height, self._frames_seen, instances, summaries)

    @contextmanager
    def _all_or_nothing(self):
        """A change of the tracking state (a frame, clicks) that either completes or, after any
        exception, leaves the engine exactly as before it; track ids handed out meanwhile stay used."""
        checkpoint = SessionCheckpoint(self._session, self._ids)
        before = (self._session_frame, self._frame_size, self._idle_frame, dict(self._held_until), dict(self._visual_labels))
        try:
            yield
        except BaseException:
            checkpoint.restore(self._session, self._ids)
            self._session_frame, self._frame_size, self._idle_frame, self._held_until, self._visual_labels = before
            raise

    def _forward(self, frame, exemplars):
        """Run the model on one frame; (its output, the frame's session index)."""
        pixel_values = frame_to_pixel_values(frame, self._image_size, self.device, self.dtype)
        frame_idx = self._session_frame
        self._model.prepare_frame(exemplars)
        self._held_until = {obj_id: last for obj_id, last in self._held_until.items() if last >= frame_idx}
        self._model.recondition_held_obj_ids = set(self._held_until)
        output = self._model(inference_session=self._session, frame=pixel_values, frame_idx=frame_idx)
        self._session_frame += 1
        self._frame_size = (frame.shape[1], frame.shape[0])
        return output, frame_idx

    def _exemplar_tensors(self, prompt: Prompt, width: int, height: int):
        boxes, labels = [], []
        for box in prompt.exemplars:
            x0, x1 = min(box.x_min, width), min(box.x_max, width)
            y0, y1 = min(box.y_min, height), min(box.y_max, height)
            if x1 > x0 and y1 > y0:
                boxes.append([(x0 + x1) / 2 / width, (y0 + y1) / 2 / height, (x1 - x0) / width, (y1 - y0) / height])
                labels.append(1 if box.positive else 0)
        if not boxes:
            return None
        return (
            torch.tensor(boxes, device=self.device, dtype=self.dtype),
            torch.tensor(labels, device=self.device, dtype=torch.long),
        )

    def _instances(self, output, presence, frame_idx: int, height: int, width: int):
        """(instances to publish, presence scores on the host), with two device-to-host transfers:
        a summary of every object (with the presence scores), then the published masks."""
        obj_ids = sorted(output.obj_id_to_mask)
        if not obj_ids:
            self._ids.update(frame_idx, {})
            return (), presence.tolist()
        session = self._session
        prompt_of = [session.obj_id_to_prompt_id[obj_id] for obj_id in obj_ids]
        # Upstream hands tracker scores over as Python floats already (0 for objects new this frame).
        host_scores = [float(output.obj_id_to_tracker_score.get(o, 0.0)) for o in obj_ids]
        # non_blocking: a plain host-to-device copy would wait for all queued device work
        scores = torch.tensor(host_scores).to(self.device, non_blocking=True)
        logits = keep_one_owner_per_pixel(torch.cat([output.obj_id_to_mask[o] for o in obj_ids]), scores, prompt_of)
        summary = torch.cat([visibility_and_boxes(logits).flatten().double(), presence.double()]).tolist()
        rows, host_presence = [summary[5 * i : 5 * i + 5] for i in range(len(obj_ids))], summary[5 * len(obj_ids) :]
        update = self._ids.update(frame_idx, {obj_id: bool(row[0]) for obj_id, row in zip(obj_ids, rows)})
        reported = [index for index, obj_id in enumerate(obj_ids) if obj_id in update.reported]
        instances = []
        if reported:
            regions, crops = zip(*(upsample_in_region(logits[i], [int(v) for v in rows[i][1:]], height, width) for i in reported))
            pixels = download_masks(torch.cat([crop.flatten() for crop in crops]))
            offsets = np.cumsum([0] + [crop.numel() for crop in crops])
            for crop, region, position, start in zip(crops, regions, reported, offsets):
                obj_id = obj_ids[position]
                mask, box = _paste(pixels[start : start + crop.numel()].reshape(crop.shape), region, height, width)
                instances.append(
                    TrackedInstance(
                        track_id=update.reported[obj_id],
                        prompt_id=prompt_of[position],
                        prompt_text=self._visual_labels.get(obj_id) or session.prompts[prompt_of[position]],
                        score=host_scores[position],
                        box=box,
                        mask=mask,
                        frames_tracked=self._ids.frames_tracked(obj_id, frame_idx),
                    )
                )
        self._memory.remove_objects(session, update.retired)
        self._forget_objects(update.retired)
        return tuple(sorted(instances, key=lambda i: i.track_id)), host_presence


def _paste(crop: np.ndarray, region: tuple[int, int, int, int], height: int, width: int):
    """A region's mask -> the frame-sized mask and its box (max exclusive)."""
    x0, y0, x1, y1 = region
    mask = np.zeros((height, width), dtype=bool)
    mask[y0:y1, x0:x1] = crop
    rows = np.flatnonzero(mask[y0:y1].any(axis=1))
    cols = np.flatnonzero(mask[:, x0:x1].any(axis=0))
    if rows.size == 0:
        return mask, (0, 0, 0, 0)  # visible at mask resolution but no source pixel crosses the boundary
    return mask, (x0 + int(cols[0]), y0 + int(rows[0]), x0 + int(cols[-1]) + 1, y0 + int(rows[-1]) + 1)
