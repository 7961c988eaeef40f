"""A processed frame's model output -> the instances to publish, with two device-to-host transfers."""

from __future__ import annotations

import numpy as np
import torch

from sam3_ros.engine.frame_result import TrackedInstance
from sam3_ros.engine.mask_postprocessing import download_masks, keep_one_owner_per_pixel, upsample_in_region, visibility_and_boxes
from sam3_ros.engine.stream.session import StreamState
from sam3_ros.engine.track_memory import TrackMemory


def frame_instances(stream: StreamState, memory: TrackMemory, output, presence: torch.Tensor, frame_idx: int, height: int, width: int):
    """(instances to publish, presence scores on the host): a summary of every object (with the
    presence scores) comes over first, then the published masks. Tracks the id book retires leave
    the tracker here."""
    obj_ids = sorted(output.obj_id_to_mask)
    if not obj_ids:
        stream.ids.update(frame_idx, {})
        return (), presence.tolist()
    session = stream.session
    prompt_of = [session.obj_id_to_prompt_id[obj_id] for obj_id in obj_ids]
    # Upstream hands tracker scores over as Python floats already (0 for objects new this frame).
    host_scores = [float(output.obj_id_to_tracker_score.get(o, 0.0)) for o in obj_ids]
    # non_blocking: a plain host-to-device copy would wait for all queued device work
    scores = torch.tensor(host_scores).to(session.inference_device, non_blocking=True)
    logits = keep_one_owner_per_pixel(torch.cat([output.obj_id_to_mask[o] for o in obj_ids]), scores, prompt_of)
    summary = torch.cat([visibility_and_boxes(logits).flatten().double(), presence.double()]).tolist()
    rows, host_presence = [summary[5 * i : 5 * i + 5] for i in range(len(obj_ids))], summary[5 * len(obj_ids) :]
    update = stream.ids.update(frame_idx, {obj_id: bool(row[0]) for obj_id, row in zip(obj_ids, rows)})
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
                    prompt_text=stream.visual_labels.get(obj_id) or session.prompts[prompt_of[position]],
                    score=host_scores[position],
                    box=box,
                    mask=mask,
                    frames_tracked=stream.ids.frames_tracked(obj_id, frame_idx),
                )
            )
    memory.remove_objects(session, update.retired)
    stream.forget_objects(update.retired)
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
