"""transformers' Sam3VideoModel with what a live stream needs and upstream lacks.

Upstream's streaming path caps objects globally and first-come (the first prompt can take every
slot), does not return the detector's per-prompt presence score, passes only text to the
detector, runs the detector once per prompt and the tracker once per object, and turns tracker
scores into probabilities in the model's dtype (in bfloat16 every confident score rounds to exactly
1.0, so scores tie). This subclass changes none of the model's maths: it matches detections to
tracks with one host transfer and admits new ones per prompt (`association`), runs the detector
batched over prompts (`batched_detector`, which also gives the presence scores and takes exemplar
boxes) and the tracker batched over objects (`batched_tracker`), computes the ViT's fixed rotary
embeddings once instead of per layer and frame (`vision_rope_cache`), and hands tracker score
logits on in float32.

Nothing of a stream is kept on the model: the object caps, thresholds, exemplar boxes, held objects
and presence scores are the session's (`sam3_ros.engine.stream.session.StreamSession`), so any number of streams
share one model. They take turns on it (`lock`): its modules hold scratch during a call (the memory
attention's key mask, the coordinate grids' size).
"""

from __future__ import annotations

import math
import threading
from contextvars import ContextVar

import torch
from transformers import Sam3VideoModel
from transformers.models.sam3_video.modeling_sam3_video import fill_holes_in_mask_scores

from sam3_ros.engine.association import associate
from sam3_ros.engine.batched_detector import HostSizedCoords, detect
from sam3_ros.engine.batched_tracker import install_batched_tracker, tracker_step
from sam3_ros.engine.mask_postprocessing import prompt_groups
from sam3_ros.engine.vision_rope_cache import cache_vision_rotary_embeddings

# The session of the frame being run: upstream calls the association hook without it.
_running_session: ContextVar = ContextVar("running_session")


class StreamingSam3VideoModel(Sam3VideoModel):
    def __init__(self, config):
        super().__init__(config)
        # The caps are each stream's, applied by `associate`: upstream's global first-come cap
        # after the association must never cut in.
        self.max_num_objects = math.inf
        self.detector_model.detr_decoder._get_coords = HostSizedCoords()
        cache_vision_rotary_embeddings(self.detector_model.vision_encoder)
        install_batched_tracker(self.tracker_model)
        self.lock = threading.Lock()

    def forward(self, inference_session, *args, **kwargs):
        """Upstream's forward on a StreamSession (`stream.session`), whose caps and inputs the hooks read."""
        token = _running_session.set(inference_session)
        try:
            return super().forward(inference_session, *args, **kwargs)
        finally:
            _running_session.reset(token)

    def run_detection(self, inference_session, vision_embeds):
        if not inference_session.prompts:  # only visual objects (clicks) to track: nothing to detect
            inference_session.presence_scores = {}
            return {}
        detections, inference_session.presence_scores = detect(self, inference_session, vision_embeds)
        return detections

    def _associate_det_trk(self, det_masks, det_scores, trk_masks, trk_obj_ids, det_prompt_ids, trk_prompt_ids):
        limits = _running_session.get().limits
        return associate(self, limits, det_masks, det_scores, trk_masks, trk_obj_ids, det_prompt_ids, trk_prompt_ids)

    def _prepare_recondition_masks(
        self, inference_session, frame_idx, det_out, trk_masks, trk_id_to_max_iou_high_conf_det, tracker_obj_scores_global
    ):
        """Upstream's periodic re-conditioning on detections, except for objects held after a refinement."""
        held = inference_session.recondition_held_obj_ids
        matches = {obj_id: det for obj_id, det in trk_id_to_max_iou_high_conf_det.items() if obj_id not in held}
        return super()._prepare_recondition_masks(inference_session, frame_idx, det_out, trk_masks, matches, tracker_obj_scores_global)

    def run_tracker_propagation(self, inference_session, frame_idx: int, reverse: bool):
        """Upstream's propagation, with the tracker batched over objects (`batched_tracker`)."""
        if not inference_session.obj_ids:
            size = self.low_res_mask_size
            return torch.zeros(0, size, size, device=self.device), torch.zeros(0, device=self.device)
        pred_masks, object_score_logits = tracker_step(self.tracker_model, inference_session, frame_idx, reverse, run_mem_encoder=False)
        low_res_masks = fill_holes_in_mask_scores(pred_masks, max_area=self.fill_hole_area, fill_holes=True, remove_sprinkles=True)
        # Upstream applies the sigmoid to these logits: in float32, confident scores stay distinct.
        return low_res_masks.squeeze(1), object_score_logits.squeeze(1).float()

    def _tracker_add_new_objects(self, inference_session, frame_idx: int, new_obj_ids, new_obj_masks, reverse: bool = False):
        """Upstream's addition of new objects (their masks as inputs), with the others' step batched."""
        for obj_id, mask in zip(new_obj_ids, new_obj_masks >= 0.5):
            inference_session.add_mask_inputs(inference_session.obj_id_to_idx(obj_id), frame_idx, mask[None, None])
        inference_session.obj_with_new_inputs = list(new_obj_ids)
        tracker_step(self.tracker_model, inference_session, frame_idx, reverse, run_mem_encoder=True)

    def _suppress_object_pw_area_shrinkage(self, pred_masks, prompt_ids: list[int] | None = None):
        """Upstream's per-prompt constraint, with the prompt groups taken from the host list instead
        of `unique` and `nonzero` on the device (two host synchronisations per prompt)."""
        if prompt_ids is None:
            return self._suppress_object_pw_area_shrinkage_impl(pred_masks)
        result = pred_masks.clone()
        for members in prompt_groups(prompt_ids):
            if len(members) > 1:
                index = torch.tensor(members).to(pred_masks.device, non_blocking=True)
                result[index] = self._suppress_object_pw_area_shrinkage_impl(result[index])
        return result

    def _suppress_overlapping_based_on_recent_occlusion(
        self, inference_session, frame_idx, tracker_low_res_masks_global, tracker_metadata_new, obj_ids_newly_removed, reverse=False
    ):
        """Upstream's suppression of the more recently occluded of two overlapping objects of a prompt,
        with prompt groups from the host and masked writes instead of boolean indexing: no host
        synchronisation (upstream has two per prompt and two more per frame)."""
        masks = tracker_low_res_masks_global
        if masks.size(0) == 0:
            return masks
        obj_ids = inference_session.obj_ids
        binary = masks > 0
        never, always = -1, 100000  # upstream's NEVER_OCCLUDED and ALWAYS_OCCLUDED (removed by hotstart)
        last_occluded = torch.cat(
            [
                inference_session.obj_id_to_last_occluded.get(
                    obj_id,
                    torch.full((1,), always if obj_id in obj_ids_newly_removed else never, device=masks.device, dtype=torch.long),
                )
                for obj_id in obj_ids
            ]
        )
        to_suppress = torch.zeros(len(obj_ids), dtype=torch.bool, device=masks.device)
        for members in prompt_groups([inference_session.obj_id_to_prompt_id[obj_id] for obj_id in obj_ids]):
            if len(members) > 1:
                index = torch.tensor(members).to(masks.device, non_blocking=True)
                to_suppress[index] = self._get_objects_to_suppress_based_on_most_recently_occluded(
                    binary[index], last_occluded[index], [obj_ids[i] for i in members], reverse
                )
        occluded = ~binary.any(dim=(-1, -2)) | to_suppress
        last_occluded = torch.where(occluded, frame_idx, last_occluded)
        tracker_metadata_new["obj_id_to_last_occluded"] = {obj_id: last_occluded[i : i + 1] for i, obj_id in enumerate(obj_ids)}
        return masks.masked_fill_(to_suppress[:, None, None], -10.0)  # upstream's NO_OBJ_LOGIT, in place as upstream
