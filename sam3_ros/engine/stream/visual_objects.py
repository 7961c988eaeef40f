"""A stream's visual objects: tracked from clicks and a box on its most recent frame, refined, removed.

The clicks' maths is `visual_prompts`; here is what they change in the stream: a new object's
session entries and public id, a refinement's hold on the detector, and the most recent frame's
features, which the clicks need (see `clicked_frame`).
"""

from __future__ import annotations

from sam3_ros.engine.stream.session import StreamState, run_frame
from sam3_ros.engine.track_memory import TrackMemory
from sam3_ros.engine.visual_prompts import VISUAL_PROMPT_ID, VisualPrompt, VisualPromptError, condition_on_clicks


def track_object(model, stream: StreamState, memory: TrackMemory, settings, prompt: VisualPrompt, label: str) -> int:
    """Start tracking the object at `prompt`'s clicks and box on the most recent frame; its track id."""
    frame_idx, (width, height) = clicked_frame(model, stream, memory)
    prompt.validate(width, height)
    if len(label) > settings.max_prompt_length:
        raise VisualPromptError(f"label has {len(label)} characters, more than max_prompt_length {settings.max_prompt_length}")
    session = stream.session
    if len(session.obj_ids) >= session.limits.max_objects_total:
        raise VisualPromptError(
            f"already tracking {len(session.obj_ids)} objects, the limit (parameter max_objects_total): "
            "remove a visual object or a prompt first"
        )
    obj_id = session.max_obj_id = session.max_obj_id + 1
    obj_idx = session.obj_id_to_idx(obj_id)
    session.obj_id_to_prompt_id[obj_id] = VISUAL_PROMPT_ID
    # What upstream's planning sets for a new detection, read by its bookkeeping on later frames.
    session.obj_first_frame_idx[obj_id] = frame_idx
    session.trk_keep_alive[obj_id] = model.init_trk_keep_alive
    session.obj_id_to_score[obj_id] = 1.0
    condition_on_clicks(model.tracker_model, session, obj_idx, frame_idx, _point_inputs(model, stream, prompt, width, height))
    track_id = stream.ids.adopt(obj_id, frame_idx, settings.visual_object_max_lost_frames)
    stream.visual_labels[obj_id] = label or f"object {track_id}"
    return track_id


def refine_object(model, stream: StreamState, memory: TrackMemory, hold_frames: int, track_id: int, prompt: VisualPrompt) -> None:
    """Re-condition one tracked object on clicks on the most recent frame; the detector leaves it
    alone for `hold_frames` frames, so that it does not undo the correction."""
    obj_id = live_object(stream, track_id)
    frame_idx, (width, height) = clicked_frame(model, stream, memory)
    prompt.validate(width, height)
    obj_idx = stream.session.obj_id_to_idx(obj_id)
    condition_on_clicks(model.tracker_model, stream.session, obj_idx, frame_idx, _point_inputs(model, stream, prompt, width, height))
    stream.held_until[obj_id] = frame_idx + hold_frames


def remove_object(stream: StreamState, memory: TrackMemory, track_id: int) -> None:
    """Stop tracking a visual object. Concept objects go with their prompt (the detector would find them again)."""
    obj_id = live_object(stream, track_id)
    session = stream.session
    prompt_id = session.obj_id_to_prompt_id[obj_id]
    if prompt_id != VISUAL_PROMPT_ID:
        raise VisualPromptError(
            f"track {track_id} is an instance of prompt '{session.prompts[prompt_id]}' (id {prompt_id}), "
            "which the detector would find again: remove the prompt, or refine the object instead"
        )
    memory.remove_objects(session, [obj_id])
    stream.forget_objects([obj_id])


def visual_objects(stream: StreamState) -> dict[int, str]:
    """Track id -> label of every visual object being tracked."""
    return {stream.ids.public_of(obj_id): label for obj_id, label in sorted(stream.visual_labels.items())}


def is_live(stream: StreamState, track_id: int) -> bool:
    obj_id = stream.ids.object_of(track_id)
    return obj_id is not None and obj_id in stream.session.obj_ids


def live_object(stream: StreamState, track_id: int) -> int:
    if not is_live(stream, track_id):
        raise VisualPromptError(f"no live track has id {track_id}: it ended, or it was never reported")
    return stream.ids.object_of(track_id)


def clicked_frame(model, stream: StreamState, memory: TrackMemory) -> tuple[int, tuple[int, int]]:
    """The session index and size of the most recent frame, its features cached for clicks."""
    session = stream.session
    if stream.idle_frame is not None:
        # Nothing was tracked on that frame, so the backbone skipped it: run it now.
        frame, stream.idle_frame = stream.idle_frame, None
        run_frame(model, stream, frame, {})
        memory.prune(session, stream.next_frame - 1)
    if stream.next_frame == 0:
        raise VisualPromptError("no frame has been processed yet: wait for the first image, then click on it")
    frame_idx = stream.next_frame - 1
    if session.cache.get_vision_features(frame_idx) is None:
        # Upstream empties the cache when its last object is removed; the frame's pixels stay.
        vision_embeds = model.detector_model.get_vision_features(pixel_values=session.get_frame(frame_idx)[None])
        features, positions = model.get_vision_features_for_tracker(vision_embeds=vision_embeds)
        session.cache.cache_vision_features(frame_idx, {"vision_feats": features, "vision_pos_embeds": positions})
    return frame_idx, stream.frame_size


def _point_inputs(model, stream: StreamState, prompt: VisualPrompt, width: int, height: int):
    return prompt.point_inputs(width, height, model.config.image_size, stream.session.inference_device)
