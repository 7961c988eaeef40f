"""Matching of a frame's detections to the tracked objects, with one device-to-host transfer.

transformers' `Sam3VideoModel._associate_det_trk` computes the IoU matrix on the device and then
walks the detections in Python with about three host synchronisations each. The decisions here
are the same (same thresholds, same ties: argmax takes the first maximum); everything the host
needs (which tracks are matched or empty, which detections are new, every detection's matches,
scores and prompts) comes over in a single transfer and the lists are built from it.
"""

from __future__ import annotations

import torch
from transformers.models.sam3_video.modeling_sam3_video import mask_iou

from sam3_ros.engine.object_quota import admit_new_detections


def associate(model, limits, det_masks, det_scores, trk_masks, trk_obj_ids: list[int], det_prompt_ids, trk_prompt_ids):
    """`_associate_det_trk`'s result, with new detections admitted by the per-prompt quota.

    `model` gives the association's IoU and confidence thresholds, `limits` (the stream's
    DetectionLimits) the new-track threshold and the object caps.

    Returns (new_det_out_inds, unmatched_trk_obj_ids, det_to_matched_trk_obj_ids,
    trk_id_to_max_iou_high_conf_det, empty_trk_obj_ids).
    """
    num_dets, num_tracks = det_masks.size(0), trk_masks.size(0)
    trk_nonempty = (trk_masks > 0).flatten(1).any(dim=1)
    if num_dets == 0:
        nonempty = trk_nonempty.tolist()
        unmatched = [obj_id for obj_id, keep in zip(trk_obj_ids, nonempty) if keep]
        empty = [obj_id for obj_id, keep in zip(trk_obj_ids, nonempty) if not keep]
        return [], unmatched, {}, {}, empty

    if num_tracks == 0:
        # Upstream: with nothing tracked, every detection is new (no score threshold).
        is_new = torch.ones(num_dets, dtype=torch.bool, device=det_masks.device)
        matched = high_conf = torch.zeros(num_dets, 0, dtype=torch.bool, device=det_masks.device)
        best_track = torch.zeros(num_dets, dtype=torch.long, device=det_masks.device)
        trk_unmatched = trk_nonempty
    else:
        ious = mask_iou(det_masks > 0, trk_masks > 0)
        ious = torch.where(det_prompt_ids[:, None] == trk_prompt_ids[None, :], ious, torch.zeros_like(ious))
        trk_unmatched = trk_nonempty & ~(ious >= model.trk_assoc_iou_thresh).any(dim=0)
        matched = ious >= model.assoc_iou_thresh
        is_new = (det_scores >= limits.new_track_threshold) & ~matched.any(dim=1)
        best_iou, best_track = ious.max(dim=1)
        high_conf = ((det_scores >= model.high_conf_thresh) & ~is_new & (best_iou >= model.high_iou_thresh))[:, None]
    # float64 holds the ids, scores and flags exactly.
    host = torch.cat(
        [
            trk_unmatched.double(),
            trk_nonempty.double(),
            is_new.double(),
            high_conf.flatten().double(),
            best_track.double(),
            det_scores.double(),
            det_prompt_ids.double(),
            trk_prompt_ids.double(),
            matched.flatten().double(),
        ]
    ).tolist()
    sizes = [num_tracks, num_tracks, num_dets, high_conf.numel(), num_dets, num_dets, num_dets, num_tracks]
    (trk_unmatched_h, trk_nonempty_h, is_new_h, high_conf_h, best_track_h, scores_h, det_prompts_h, trk_prompts_h, matched_h) = _split(
        host, sizes
    )

    unmatched = [obj_id for obj_id, flag in zip(trk_obj_ids, trk_unmatched_h) if flag]
    empty = [obj_id for obj_id, flag in zip(trk_obj_ids, trk_nonempty_h) if not flag]
    det_to_matched = {}
    high_conf_det_of_track = {}
    for det in range(num_dets if num_tracks else 0):
        row = matched_h[det * num_tracks : (det + 1) * num_tracks]
        det_to_matched[det] = [obj_id for obj_id, flag in zip(trk_obj_ids, row) if flag]
        if high_conf_h[det]:
            high_conf_det_of_track[trk_obj_ids[int(best_track_h[det])]] = det

    new = [det for det in range(num_dets) if is_new_h[det]]
    if new:
        new = admit_new_detections(
            candidates=new,
            scores=[scores_h[det] for det in new],
            candidate_prompts=[int(det_prompts_h[det]) for det in new],
            tracked_prompts=[int(p) for p in trk_prompts_h],
            max_per_prompt=limits.max_objects_per_prompt,
            max_total=limits.max_objects_total,
        )
    return new, unmatched, det_to_matched, high_conf_det_of_track, empty


def _split(values: list, sizes: list[int]) -> list[list]:
    """Consecutive pieces of `sizes` lengths, then the rest."""
    pieces, start = [], 0
    for size in sizes:
        pieces.append(values[start : start + size])
        start += size
    return pieces + [values[start:]]
