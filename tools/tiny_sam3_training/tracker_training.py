"""Stage 2: SAM 2-style training of SAM 3's tracker on short clips.

transformers' tracker forwards run under `torch.inference_mode` and keep their state in an
inference session, so a clip is run here through the pieces they are made of: upstream's memory
gathering (`_gather_memory_frame_outputs`, `_build_memory_attention_inputs`, `_get_object_pointers`,
`_process_object_pointers`, read from a `ClipMemory` that stands in for the session), the memory
attention, the prompt encoder and mask decoder, and `_encode_new_memory`. A batch of clips runs as one batch. Upstream's `_prepare_memory_conditioned_features`
and `_single_frame_forward` are only right for a batch of one (the first reshapes the memory
attention's output in the wrong order, the second picks the best multimask output with indexing
that broadcasts to batch x batch), so those two steps are redone here per row, as the engine's
batched tracker does. The order and the choices are upstream's: the first frame is the
conditioning frame, every frame's prediction is encoded into memory, multimask output where
upstream uses it. The vision backbone is the detector's and stays fixed here (its features are
computed without gradients); the tracker neck and all of the tracker are trained.

Losses per frame after the prompt (and on the prompt frame for box and click prompts): focal and
dice on the best of the mask outputs where the object is visible, L1 between predicted and actual
IoU of each output, BCE on the object score (0 where the object is hidden or gone).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from transformers.models.sam3_tracker_video.modeling_sam3_tracker_video import NO_OBJ_SCORE

from .data import TrackingClip

MASK_FOCAL, MASK_DICE, IOU_L1, OBJECT_SCORE = 20.0, 1.0, 1.0, 1.0


class ClipMemory:
    """What the tracker's memory code reads of an inference session: one object (a batch of clips)."""

    def __init__(self, num_frames: int, dtype: torch.dtype):
        self.num_frames = num_frames
        self.dtype = dtype
        self.output_dict_per_obj = {0: {"cond_frame_outputs": {}, "non_cond_frame_outputs": {}}}

    def store(self, frame_idx: int, is_conditioning: bool, maskmem_features, maskmem_pos_enc, object_pointer) -> None:
        kind = "cond_frame_outputs" if is_conditioning else "non_cond_frame_outputs"
        self.output_dict_per_obj[0][kind][frame_idx] = {
            "maskmem_features": maskmem_features,
            "maskmem_pos_enc": maskmem_pos_enc,
            "object_pointer": object_pointer,
        }


def tracker_parameters(model):
    return list(model.tracker_model.parameters()) + list(model.tracker_neck.parameters())


def _frame_features(features: list[torch.Tensor], frame_idx: int, batch: int) -> list[torch.Tensor]:
    """One frame's slice of (HW, T*B, C) features laid out time-major."""
    return [level[:, frame_idx * batch : (frame_idx + 1) * batch] for level in features]


def _prompt_points(clip: TrackingClip) -> dict | None:
    """Box and click prompts as upstream's point inputs: a box is its two corners, labels 2 and 3."""
    batch = clip.prompt_boxes.shape[0]
    if clip.prompt_kind == "box":
        coords = clip.prompt_boxes.view(batch, 1, 2, 2)
        labels = torch.tensor([2, 3], dtype=torch.int32).expand(batch, 1, 2)
    elif clip.prompt_kind == "click":
        coords = clip.prompt_clicks.view(batch, 1, 1, 2)
        labels = torch.ones(batch, 1, 1, dtype=torch.int32)
    else:
        return None
    return {"point_coords": coords, "point_labels": labels}


def _frame_losses(raw_outputs, target_masks: torch.Tensor, present: torch.Tensor) -> dict[str, torch.Tensor]:
    masks, iou_pred, _, object_score_logits = raw_outputs  # (B, 1, K, h, w), (B, 1, K), _, (B, 1, 1)
    masks, iou_pred = masks[:, 0], iou_pred[:, 0]
    targets = target_masks[:, None].expand_as(masks)
    probs = torch.sigmoid(masks)
    bce = F.binary_cross_entropy_with_logits(masks, targets, reduction="none")
    p_t = probs * targets + (1 - probs) * (1 - targets)
    alpha_t = 0.25 * targets + 0.75 * (1 - targets)
    focal_loss = (alpha_t * (1 - p_t) ** 2 * bce).mean((-1, -2))  # (B, K)
    dice = 1 - (2 * (probs * targets).sum((-1, -2)) + 1) / (probs.sum((-1, -2)) + targets.sum((-1, -2)) + 1)
    per_output = MASK_FOCAL * focal_loss + MASK_DICE * dice
    best = per_output.min(dim=1).values  # SAM's multimask rule: only the best output is penalised
    predicted, actual = masks > 0, targets > 0.5
    iou = (predicted & actual).sum((-1, -2)) / (predicted | actual).sum((-1, -2)).clamp(min=1)
    weight = present.float()
    count = weight.sum().clamp(min=1)
    return {
        "track_mask": (best * weight).sum() / count,
        "track_iou": IOU_L1 * ((iou_pred - iou.float()).abs().mean(1) * weight).sum() / count,
        "track_object": OBJECT_SCORE * F.binary_cross_entropy_with_logits(object_score_logits[:, 0, 0], weight),
    }


def _conditioned_features(tracker, memory: ClipMemory, frame_idx: int, vision: torch.Tensor, positions: torch.Tensor) -> torch.Tensor:
    """The frame's top-level features (HW, B, C) fused with the memory of earlier frames: (B, C, H, W)."""
    batch, channels = vision.shape[1], tracker.hidden_dim
    height, width = tracker.backbone_feature_sizes[-1]
    if frame_idx == 0:  # the conditioning frame has no memory yet
        return (vision + tracker.no_memory_embedding).permute(1, 2, 0).reshape(batch, channels, height, width)
    frames = tracker._gather_memory_frame_outputs(memory, 0, frame_idx)
    memories, memory_positions = tracker._build_memory_attention_inputs(frames, vision.device)
    offsets, pointers, max_pointers = tracker._get_object_pointers(memory, 0, frame_idx, memory.num_frames, vision.device)
    object_pointers, pointer_positions = tracker._process_object_pointers(offsets, pointers, max_pointers, batch, channels, vision.device)
    conditioned = tracker.memory_attention(
        current_vision_features=vision,
        current_vision_position_embeddings=positions,
        memory=torch.cat(memories + [object_pointers]).to(vision.dtype),
        memory_posision_embeddings=torch.cat(memory_positions + [pointer_positions]),
        num_object_pointer_tokens=object_pointers.shape[0],
    )
    return conditioned.squeeze(0).transpose(1, 2).reshape(batch, channels, height, width)


def _decode(tracker, image_embeddings: list[torch.Tensor], points: dict | None, multimask: bool, input_masks: torch.Tensor | None = None):
    """Prompt encoder and mask decoder: (raw decoder outputs, high-res mask of the chosen output,
    object pointer), choosing per row the output of highest predicted IoU."""
    top = image_embeddings[-1]
    batch = top.shape[0]
    if points is None:  # upstream's "no prompt": one padding point
        points = {"point_coords": top.new_zeros(batch, 1, 1, 2), "point_labels": -torch.ones(batch, 1, 1, dtype=torch.int32)}
    sparse, dense = tracker.prompt_encoder(
        input_points=points["point_coords"], input_labels=points["point_labels"], input_boxes=None, input_masks=input_masks
    )
    raw = tracker.mask_decoder(
        image_embeddings=top,
        image_positional_embeddings=tracker.get_image_wide_positional_embeddings().expand(batch, -1, -1, -1),
        sparse_prompt_embeddings=sparse,
        dense_prompt_embeddings=dense,
        multimask_output=multimask,
        high_resolution_features=image_embeddings[:-1],
    )
    masks, iou_pred, tokens, object_score_logits = raw
    rows, best = torch.arange(batch), iou_pred[:, 0].argmax(-1)
    appearing = object_score_logits > 0  # (B, 1, 1)
    low_res = torch.where(appearing[:, None, None], masks, NO_OBJ_SCORE)[rows, 0, best][:, None]
    high_res = F.interpolate(low_res, size=(tracker.image_size, tracker.image_size), mode="bilinear", align_corners=False)
    token = tokens[rows, 0, best]
    pointer = torch.where(appearing[:, 0], tracker.object_pointer_proj(token), tracker.no_object_pointer)
    return raw, high_res, pointer


def _mask_as_output(tracker, image_embeddings: list[torch.Tensor], masks: torch.Tensor):
    """Upstream's `_use_mask_as_output` for a batch: the prompt mask is the frame's prediction
    (logits -10 / +10), and the object pointer comes from decoding with the mask as dense prompt."""
    dense = F.interpolate(
        tracker.mask_downsample(masks), size=tracker.prompt_encoder.mask_input_size, mode="bilinear", align_corners=False, antialias=True
    )
    _, _, pointer = _decode(tracker, image_embeddings, None, multimask=True, input_masks=dense)
    object_score_logits = masks.new_full((masks.shape[0], 1, 1), 10.0)  # a prompt mask is never empty
    return masks * 20.0 - 10.0, object_score_logits, pointer


def tracker_losses(model, clip: TrackingClip) -> tuple[dict[str, torch.Tensor], float]:
    """Run the clips through the tracker with memory, frame by frame: (mean losses over frames,
    mean IoU of the chosen mask with the visible object over the frames where it is visible)."""
    tracker = model.tracker_model
    length, batch = clip.pixels.shape[:2]
    with torch.no_grad():
        vision = model.detector_model.vision_encoder(clip.pixels.flatten(0, 1))
    features, positions = model.get_vision_features_for_tracker(vision)
    sizes = tracker.backbone_feature_sizes
    memory = ClipMemory(length, clip.pixels.dtype)
    prompt_points = _prompt_points(clip)
    totals: dict[str, torch.Tensor] = {}
    ious: list[torch.Tensor] = []
    for frame_idx in range(length):
        frame_features = _frame_features(features, frame_idx, batch)
        high_res = [level.permute(1, 2, 0).reshape(batch, -1, *size) for level, size in zip(frame_features[:-1], sizes[:-1])]
        is_prompt_frame = frame_idx == 0
        if is_prompt_frame and prompt_points is None:
            top = frame_features[-1].permute(1, 2, 0).reshape(batch, tracker.hidden_dim, *sizes[-1])
            high_res_masks, object_score_logits, pointer = _mask_as_output(tracker, high_res + [top], clip.prompt_masks)
        else:
            conditioned = _conditioned_features(
                tracker, memory, frame_idx, frame_features[-1], _frame_features(positions, frame_idx, batch)[-1]
            )
            points = prompt_points if is_prompt_frame else None
            raw, high_res_masks, pointer = _decode(
                tracker, high_res + [conditioned], points, tracker._use_multimask(is_prompt_frame, points)
            )
            object_score_logits = raw[3]  # (B, 1, 1), as upstream stores it
            for name, value in _frame_losses(raw, clip.masks[frame_idx], clip.present[frame_idx]).items():
                totals[name] = totals.get(name, 0) + value / (length - (prompt_points is None))
            ious.append(_chosen_mask_iou(high_res_masks, clip.masks[frame_idx])[clip.present[frame_idx]])
        maskmem_features, maskmem_pos_enc = tracker._encode_new_memory(
            frame_features[-1], high_res_masks, object_score_logits, is_mask_from_pts=is_prompt_frame
        )
        memory.store(frame_idx, is_prompt_frame, maskmem_features, maskmem_pos_enc, pointer)
    totals["track_total"] = sum(totals.values())
    visible = torch.cat(ious)
    return totals, float(visible.mean()) if len(visible) else float("nan")


@torch.no_grad()
def _chosen_mask_iou(high_res_masks: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    predicted = F.interpolate(high_res_masks, size=targets.shape[-2:], mode="bilinear", align_corners=False)[:, 0] > 0
    actual = targets > 0.5
    return (predicted & actual).sum((-1, -2)) / (predicted | actual).sum((-1, -2)).clamp(min=1)
