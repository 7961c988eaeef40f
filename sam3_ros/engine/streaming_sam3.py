"""transformers' Sam3VideoModel with what a live stream needs and upstream lacks.

Upstream's streaming path caps objects globally and first-come (the first prompt can take every
slot), does not return the detector's per-prompt presence score, and passes only text to the
detector. This subclass changes none of the model's maths: it filters the list of new detections
through `admit_new_detections`, records presence scores with a forward hook, and adds exemplar
boxes to the detector call of the prompt they belong to with a forward pre-hook.
"""

from __future__ import annotations

import torch
from transformers import Sam3VideoModel
from transformers.models.sam3_video.modeling_sam3_video import fill_holes_in_mask_scores

from sam3_ros.engine.batched_tracker import tracker_step
from sam3_ros.engine.object_quota import admit_new_detections


class StreamingSam3VideoModel(Sam3VideoModel):
    def __init__(self, config):
        super().__init__(config)
        self.max_objects_per_prompt = config.max_num_objects
        self._detector_calls: list[int] = []  # prompt ids in the order run_detection visits them
        self._exemplars: dict[int, tuple[torch.Tensor, torch.Tensor]] = {}
        self.presence_scores: dict[int, torch.Tensor] = {}
        self.detector_model.register_forward_pre_hook(self._add_exemplar_boxes, with_kwargs=True)
        self.detector_model.register_forward_hook(self._record_presence)

    def prepare_frame(self, prompt_ids: list[int], exemplars: dict[int, tuple[torch.Tensor, torch.Tensor]]):
        """Say which prompts the next forward detects, in session order, and their exemplar boxes.

        `exemplars` maps a prompt id to (boxes, labels): boxes (N, 4) normalised cx, cy, w, h and
        labels (N,) with 1 for positive and 0 for negative examples.
        """
        self._detector_calls = list(prompt_ids)
        self._exemplars = exemplars
        self.presence_scores = {}

    def _current_prompt(self) -> int:
        if len(self.presence_scores) >= len(self._detector_calls):
            raise RuntimeError("detector ran more often than there are prompts; call prepare_frame first")
        return self._detector_calls[len(self.presence_scores)]

    def _add_exemplar_boxes(self, module, args, kwargs):
        exemplar = self._exemplars.get(self._current_prompt())
        if exemplar is not None:
            boxes, labels = exemplar
            kwargs["input_boxes"] = boxes.unsqueeze(0)
            kwargs["input_boxes_labels"] = labels.unsqueeze(0)
        return args, kwargs

    def _record_presence(self, module, args, output):
        self.presence_scores[self._current_prompt()] = output.presence_logits.detach().float().sigmoid().flatten()[0]

    def _associate_det_trk(self, det_masks, det_scores, trk_masks, trk_obj_ids, det_prompt_ids, trk_prompt_ids):
        new_det_out_inds, *rest = super()._associate_det_trk(
            det_masks, det_scores, trk_masks, trk_obj_ids, det_prompt_ids, trk_prompt_ids
        )
        if new_det_out_inds:
            index = torch.tensor(new_det_out_inds, dtype=torch.long).to(det_scores.device, non_blocking=True)
            # One device->host transfer instead of three (float64 holds prompt ids exactly).
            host = torch.cat([det_scores[index].double(), det_prompt_ids[index].double(), trk_prompt_ids.double()]).tolist()
            count = len(new_det_out_inds)
            new_det_out_inds = admit_new_detections(
                candidates=new_det_out_inds,
                scores=host[:count],
                candidate_prompts=[int(p) for p in host[count : 2 * count]],
                tracked_prompts=[int(p) for p in host[2 * count :]],
                max_per_prompt=self.max_objects_per_prompt,
                max_total=self.max_num_objects,
            )
        return (new_det_out_inds, *rest)

    def run_tracker_propagation(self, inference_session, frame_idx: int, reverse: bool):
        """Upstream's propagation, with the tracker batched over objects (`batched_tracker`)."""
        if not inference_session.obj_ids:
            size = self.low_res_mask_size
            return torch.zeros(0, size, size, device=self.device), torch.zeros(0, device=self.device)
        pred_masks, object_score_logits = tracker_step(
            self.tracker_model, inference_session, frame_idx, reverse, run_mem_encoder=False
        )
        low_res_masks = fill_holes_in_mask_scores(pred_masks, max_area=self.fill_hole_area, fill_holes=True, remove_sprinkles=True)
        return low_res_masks.squeeze(1), object_score_logits.squeeze(1)

    def _tracker_add_new_objects(self, inference_session, frame_idx: int, new_obj_ids, new_obj_masks, reverse: bool = False):
        """Upstream's addition of new objects (their masks as inputs), with the others' step batched."""
        for obj_id, mask in zip(new_obj_ids, new_obj_masks >= 0.5):
            inference_session.add_mask_inputs(inference_session.obj_id_to_idx(obj_id), frame_idx, mask[None, None])
        inference_session.obj_with_new_inputs = list(new_obj_ids)
        tracker_step(self.tracker_model, inference_session, frame_idx, reverse, run_mem_encoder=True)
