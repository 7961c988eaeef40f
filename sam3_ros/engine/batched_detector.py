"""SAM 3's concept detector run once for all text prompts of a frame.

transformers' `Sam3VideoModel.run_detection` calls the detector once per prompt against the same
image features. Every prompt is padded to the text encoder's 32 positions, so the text-only
prompts stack into one batch against the image features expanded (not copied) to that batch:
one DETR encoder, decoder and mask head pass instead of one per prompt. A prompt with exemplar
boxes has a longer prompt sequence (text plus boxes) and runs on its own.
"""

from __future__ import annotations

import torch
from transformers.modeling_outputs import BaseModelOutputWithPooling
from transformers.models.sam3.modeling_sam3 import Sam3VisionEncoderOutput
from transformers.models.sam3_video import modeling_sam3_video as upstream
from transformers.models.sam3_video.modeling_sam3_video import mask_iou


def detect(model, session, vision_embeds):
    """Detections per prompt id, as `Sam3VideoModel.run_detection` returns them, and presence scores.

    `session` is a StreamSession: its exemplar boxes for this frame and its detection threshold.
    Returns ({prompt id: {"bbox", "mask", "scores"}}, {prompt id: presence probability (0-d float32)}).
    """
    prompt_ids = list(session.prompts)
    if not prompt_ids:
        raise ValueError("No prompts available for detection. Please add prompts to the session first.")
    detector = model.detector_model
    for prompt_id in prompt_ids:
        if prompt_id not in session.prompt_embeddings:
            session.prompt_embeddings[prompt_id] = detector.get_text_features(
                input_ids=session.prompt_input_ids[prompt_id],
                attention_mask=session.prompt_attention_masks[prompt_id],
                return_dict=True,
            )
    exemplars, threshold = session.exemplars, session.limits.detection_threshold
    text_only = [p for p in prompt_ids if p not in exemplars]
    passes = [(text_only, None)] if text_only else []
    passes += [([p], exemplars[p]) for p in prompt_ids if p in exemplars]

    detections, presence = {}, {}
    for batch_prompts, boxes in passes:
        output = _detector_pass(detector, session, vision_embeds, batch_prompts, boxes)
        probs = output.pred_logits.sigmoid() * output.presence_logits.sigmoid()  # (prompts, queries)
        if model.det_nms_thresh > 0.0:
            probs = _suppress_duplicates(probs, output.pred_masks, threshold, model.det_nms_thresh)
        rows, queries = torch.where(probs > threshold)
        counts = torch.bincount(rows, minlength=len(batch_prompts)).tolist()
        boxes_out = output.pred_boxes[rows, queries].split(counts)
        masks_out = output.pred_masks[rows, queries].split(counts)
        scores_out = probs[rows, queries].split(counts)
        prompt_presence = output.presence_logits.detach().float().sigmoid().flatten()
        for row, prompt_id in enumerate(batch_prompts):
            detections[prompt_id] = {"bbox": boxes_out[row], "mask": masks_out[row], "scores": scores_out[row]}
            presence[prompt_id] = prompt_presence[row]
    return {prompt_id: detections[prompt_id] for prompt_id in prompt_ids}, presence


def _suppress_duplicates(probs, masks, threshold: float, iou_threshold: float):
    """`nms_masks` for every prompt at once: the candidates of all prompts in one IoU matrix in
    which different prompts never overlap, so one NMS call is each prompt's own NMS.

    Like upstream, NMS runs where the hub's cv-utils kernel (or the engine's replacement for it)
    is loaded, and is skipped otherwise. Suppressed candidates get probability 0, as upstream.
    """
    upstream._load_cv_utils_kernel_once()
    kernel = upstream.cv_utils_kernel
    if not kernel:
        return probs
    rows, queries = torch.where(probs > threshold)
    if rows.numel() == 0:
        return probs
    ious = mask_iou(masks[rows, queries] > 0, masks[rows, queries] > 0)
    ious = torch.where(rows[:, None] == rows[None, :], ious, torch.zeros_like(ious))
    kept = kernel.generic_nms(ious, probs[rows, queries], iou_threshold, use_iou_matrix=True)
    keep = torch.isin(torch.arange(rows.numel(), device=rows.device), kept)
    flat = rows * probs.shape[1] + queries
    return probs.flatten().scatter(0, flat, torch.where(keep, probs[rows, queries], 0.0)).view_as(probs)


class HostSizedCoords:
    """Stands in for the DETR decoder's `_get_coords`: the same coordinate grids, built from the
    feature map size as the host knows it and kept from frame to frame. The size is the model's
    (every stream's frames are resized to its image size), so one stand-in serves all streams.

    Upstream passes the size as device tensors (`torch.arange(0, height)`), which costs two host
    synchronisations per decoder layer and frame.
    """

    def __init__(self):
        self.size: tuple[int, int] | None = None  # set before each detector pass
        self._grids: dict = {}

    def __call__(self, height, width, dtype, device):
        key = (*self.size, dtype, device)
        if key not in self._grids:
            h, w = self.size
            self._grids[key] = (torch.arange(0, h, device=device, dtype=dtype) / h, torch.arange(0, w, device=device, dtype=dtype) / w)
        return self._grids[key]


def _detector_pass(detector, session, vision_embeds, prompt_ids: list[int], boxes):
    batch = len(prompt_ids)
    # The DETR encoder and decoder run on the last FPN level but one (the last is dropped).
    detector.detr_decoder._get_coords.size = tuple(vision_embeds.fpn_hidden_states[-2].shape[-2:])
    text = BaseModelOutputWithPooling(pooler_output=torch.cat([session.prompt_embeddings[p].pooler_output for p in prompt_ids]))
    attention_mask = torch.cat([session.prompt_attention_masks[p] for p in prompt_ids])
    if batch > 1:
        vision_embeds = Sam3VisionEncoderOutput(
            fpn_hidden_states=tuple(x.expand(batch, *x.shape[1:]) for x in vision_embeds.fpn_hidden_states),
            fpn_position_encoding=tuple(x.expand(batch, *x.shape[1:]) for x in vision_embeds.fpn_position_encoding),
        )
    extra = {}
    if boxes is not None:
        extra = {"input_boxes": boxes[0].unsqueeze(0), "input_boxes_labels": boxes[1].unsqueeze(0)}
    return detector(vision_embeds=vision_embeds, text_embeds=text, attention_mask=attention_mask, **extra)
