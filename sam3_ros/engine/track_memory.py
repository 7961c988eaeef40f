"""Keeps a SAM 3 streaming session's state bounded, whatever the number of frames.

Upstream keeps every frame's pixels, every frame's tracker outputs per object, every
re-conditioning frame, and per-frame metadata that `forward` deep-copies on every frame, so
memory and latency grow without limit. After each frame, `TrackMemory.prune` keeps only what
the tracker can still read:

- non-conditioning outputs of the last `max(num_maskmem, max_object_pointers_in_encoder)` frames
  (the memory bank and the object-pointer window);
- per object, the first conditioning frame (the detection that started the track) and the newest
  `max_cond_frame_num` re-conditioning frames, the ones the memory attention reads: upstream feeds
  *all* conditioning frames into the object-pointer attention, so without a cap its cost creeps up;
- the current pixel frame only, and no high-resolution masks of past frames;
- per-frame metadata of the current frame only, and per-object metadata of live objects only.
"""

from __future__ import annotations

_PER_OBJECT_METADATA = (
    "obj_id_to_score",
    "obj_id_to_last_occluded",
    "trk_keep_alive",
    "obj_first_frame_idx",
    "unmatched_frame_inds",
    "obj_id_to_prompt_id",
)
# Large tensors the tracker only reads on the frame that produced them.
_SAME_FRAME_OUTPUTS = ("high_res_masks", "pred_masks")


class TrackMemory:
    def __init__(self, num_maskmem: int, max_object_pointers: int, max_cond_frame_num: int):
        self.recent_frames = max(num_maskmem, max_object_pointers)
        self.newest_conditioning_frames = max_cond_frame_num

    def prune(self, session, frame_idx: int) -> None:
        """Drop everything the tracker cannot read any more after processing `frame_idx`."""
        oldest_kept = frame_idx - self.recent_frames
        for frame in [f for f in session.processed_frames or {} if f != frame_idx]:
            del session.processed_frames[frame]
        for obj_idx, outputs in session.output_dict_per_obj.items():
            non_cond = outputs["non_cond_frame_outputs"]
            for frame in [f for f in non_cond if f < oldest_kept]:
                del non_cond[frame]
            cond = outputs["cond_frame_outputs"]
            first, *later = sorted(cond) or [None]
            for frame in later[: max(0, len(later) - self.newest_conditioning_frames)]:
                del cond[frame]
            for frame_outputs in (non_cond, cond):
                for frame, out in frame_outputs.items():
                    if frame != frame_idx:
                        for key in _SAME_FRAME_OUTPUTS:
                            out.pop(key, None)
            for per_frame in (session.frames_tracked_per_obj.get(obj_idx, {}), session.mask_inputs_per_obj.get(obj_idx, {})):
                for frame in [f for f in per_frame if f < oldest_kept]:
                    del per_frame[frame]
        for per_frame in (session.obj_id_to_tracker_score_frame_wise, session.suppressed_obj_ids):
            for frame in [f for f in per_frame if f != frame_idx]:
                del per_frame[frame]
        self.forget_dead_objects(session)

    def forget_dead_objects(self, session) -> None:
        """Drop per-object metadata of objects no longer tracked (removed or retired)."""
        live = set(session.obj_ids)
        for name in _PER_OBJECT_METADATA:
            table = getattr(session, name)
            for obj_id in [o for o in table if o not in live]:
                del table[obj_id]
        for pair in [p for p in session.overlap_pair_to_frame_inds if not set(p) <= live]:
            del session.overlap_pair_to_frame_inds[pair]
        for frames in list(session.overlap_pair_to_frame_inds.values()) + list(session.unmatched_frame_inds.values()):
            del frames[: -self.recent_frames]
        session.removed_obj_ids.intersection_update(live)
        session.hotstart_removed_obj_ids.intersection_update(live)

    def remove_objects(self, session, obj_ids) -> None:
        """Remove objects from the tracker between frames, leaving every other object's state intact."""
        for obj_id in obj_ids:
            session.remove_object(obj_id)
        self.forget_dead_objects(session)


def session_footprint(session) -> dict[str, int]:
    """Entry counts of every growable container in a session, and the bytes of its tensors.

    Flat numbers over a long run mean bounded memory; used by tests, the memory script and
    diagnostics.
    """
    outputs = list(session.output_dict_per_obj.values())
    frame_outputs = [out for per_obj in outputs for kind in per_obj.values() for out in kind.values()]
    tensors = [value for out in frame_outputs for value in out.values() if hasattr(value, "nbytes")]
    tensors += list((session.processed_frames or {}).values())
    return {
        "pixel_frames": len(session.processed_frames or {}),
        "frame_outputs": len(frame_outputs),
        "tracked_frame_marks": sum(len(marks) for marks in session.frames_tracked_per_obj.values()),
        "mask_inputs": sum(len(inputs) for inputs in session.mask_inputs_per_obj.values()),
        "score_frames": len(session.obj_id_to_tracker_score_frame_wise),
        "suppressed_frames": len(session.suppressed_obj_ids),
        "unmatched_marks": sum(len(frames) for frames in session.unmatched_frame_inds.values()),
        "overlap_marks": sum(len(frames) for frames in session.overlap_pair_to_frame_inds.values()),
        "object_metadata": sum(len(getattr(session, name)) for name in _PER_OBJECT_METADATA),
        "tensor_bytes": sum(int(t.nbytes) for t in tensors),
    }
