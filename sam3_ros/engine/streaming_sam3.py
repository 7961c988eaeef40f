"""transformers' Sam3VideoModel with what a live stream needs and upstream lacks.

Upstream's streaming path caps objects globally and first-come (the first prompt can take every
slot), does not return the detector's per-prompt presence score, and passes only text to the
detector, and turns tracker scores into probabilities in the model's dtype (in bfloat16 every
confident score rounds to exactly 1.0, so scores tie). This subclass changes none of the model's
maths: it filters the list of new detections through `admit_new_detections`, records presence
scores with a forward hook, adds exemplar boxes to the detector call of the prompt they belong to
with a forward pre-hook, and hands tracker score logits on in float32.
"""

from __future__ import annotations

import torch
from transformers import Sam3VideoModel

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

    def run_tracker_propagation(self, inference_session, frame_idx: int, reverse: bool):
        low_res_masks, object_score_logits = super().run_tracker_propagation(inference_session, frame_idx, reverse)
        # Upstream applies the sigmoid to these logits: in float32, confident scores stay distinct.
        return low_res_masks, object_score_logits.float()

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
