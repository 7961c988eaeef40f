"""DETR-style set losses for SAM 3's detector: one-to-one Hungarian matching, then per-query losses,
on the last decoder layer and (scores, boxes and presence) on every earlier one.

Query scores are trained with BCE only where the prompt's concept is in the frame; where it is
not, the presence logit alone carries the "nothing here" (SAM 3's decoupling of recognition and
localisation: the detection score is sigmoid(query) * sigmoid(presence)). Plain BCE rather than
focal loss with alpha 0.25: the latter kept every score under 0.5 in a first trial. Box, mask and
score losses are normalised by the number of targets in the batch.
"""

from __future__ import annotations

from dataclasses import dataclass
from types import SimpleNamespace

import torch
import torch.nn.functional as F
from scipy.optimize import linear_sum_assignment
from transformers.models.sam3.modeling_sam3 import box_cxcywh_to_xyxy, inverse_sigmoid

from .data import DetectionTarget


@dataclass(frozen=True)
class LossWeights:
    score: float = 2.0
    presence: float = 2.0
    box_l1: float = 5.0
    box_giou: float = 2.0
    mask_bce: float = 5.0
    mask_dice: float = 5.0
    semantic: float = 1.0
    semantic_dice: float = 2.0  # the dense "where is the concept" signal: it trains the text-image fusion
    auxiliary: float = 0.5  # the earlier decoder layers' terms, together


# Matching costs: the same terms as the losses, so that the matched query is the one the losses favour.
MATCH_SCORE, MATCH_L1, MATCH_GIOU, MATCH_DICE = 2.0, 5.0, 2.0, 2.0


def pairwise_giou(boxes_a: torch.Tensor, boxes_b: torch.Tensor) -> torch.Tensor:
    """Generalised IoU of every box of (N, 4) with every box of (M, 4), x0 y0 x1 y1: (N, M)."""
    area_a = (boxes_a[:, 2] - boxes_a[:, 0]).clamp(min=0) * (boxes_a[:, 3] - boxes_a[:, 1]).clamp(min=0)
    area_b = (boxes_b[:, 2] - boxes_b[:, 0]).clamp(min=0) * (boxes_b[:, 3] - boxes_b[:, 1]).clamp(min=0)
    top_left = torch.max(boxes_a[:, None, :2], boxes_b[None, :, :2])
    bottom_right = torch.min(boxes_a[:, None, 2:], boxes_b[None, :, 2:])
    intersection = (bottom_right - top_left).clamp(min=0).prod(-1)
    union = area_a[:, None] + area_b[None, :] - intersection
    iou = intersection / union.clamp(min=1e-7)
    hull = (
        (torch.max(boxes_a[:, None, 2:], boxes_b[None, :, 2:]) - torch.min(boxes_a[:, None, :2], boxes_b[None, :, :2]))
        .clamp(min=0)
        .prod(-1)
    )
    return iou - (hull - union) / hull.clamp(min=1e-7)


def pairwise_dice(mask_logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """1 - Dice of every predicted mask (N, H, W logits) with every target (M, H, W): (N, M)."""
    probs = mask_logits.sigmoid().flatten(1)
    flat = targets.flatten(1)
    numerator = 2 * probs @ flat.T
    return 1 - (numerator + 1) / (probs.sum(-1)[:, None] + flat.sum(-1)[None, :] + 1)


@torch.no_grad()
def hungarian_match(
    logits: torch.Tensor, boxes: torch.Tensor, mask_logits: torch.Tensor | None, target: DetectionTarget
) -> tuple[torch.Tensor, torch.Tensor]:
    """(query indices, target indices) of the one-to-one assignment of least cost for one sample."""
    cost = (
        -MATCH_SCORE * logits.sigmoid()[:, None]
        + MATCH_L1 * torch.cdist(boxes, target.boxes, p=1)
        - MATCH_GIOU * pairwise_giou(boxes, target.boxes)
    )
    if mask_logits is not None:
        cost = cost + MATCH_DICE * pairwise_dice(mask_logits, target.masks)
    queries, targets = linear_sum_assignment(cost.numpy())
    return torch.as_tensor(queries, dtype=torch.long), torch.as_tensor(targets, dtype=torch.long)


def dice_loss(mask_logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """Summed over masks (N, H, W)."""
    probs = mask_logits.sigmoid().flatten(1)
    flat = targets.flatten(1)
    return (1 - (2 * (probs * flat).sum(-1) + 1) / (probs.sum(-1) + flat.sum(-1) + 1)).sum()


class AuxiliaryOutputs:
    """The earlier decoder layers' scores, boxes and presence logits for a detector's forwards.

    Sam3Model.forward computes every layer's boxes and scores and returns the last layer's only;
    hooks on the decoder and the scoring keep what they returned, and the boxes are rebuilt from
    them as the forward builds them.
    """

    def __init__(self, detector):
        self._box_head = detector.detr_decoder.box_head
        self._decoder = self._scores = None
        detector.detr_decoder.register_forward_hook(self._keep_decoder)
        detector.dot_product_scoring.register_forward_hook(self._keep_scores)

    def _keep_decoder(self, module, args, output) -> None:
        self._decoder = output

    def _keep_scores(self, module, args, output) -> None:
        self._scores = output

    def layers(self) -> list[SimpleNamespace]:
        """The latest forward's outputs of every decoder layer but the last, first layer first."""
        hidden, references = self._decoder.intermediate_hidden_states[:-1], self._decoder.reference_boxes[:-1]
        boxes = box_cxcywh_to_xyxy((inverse_sigmoid(references) + self._box_head(hidden)).sigmoid())
        return [
            SimpleNamespace(pred_logits=logits[..., 0], pred_boxes=layer_boxes, presence_logits=presence)
            for logits, layer_boxes, presence in zip(self._scores[:-1], boxes, self._decoder.presence_logits[:-1])
        ]


def _set_losses(outputs, targets: list[DetectionTarget], weights: LossWeights, with_masks: bool) -> dict[str, torch.Tensor]:
    """Matching, then score, box (and mask) terms of one decoder layer's outputs."""
    num_targets = max(sum(len(t.masks) for t in targets), 1)
    score_terms, pred_boxes, target_boxes, pred_masks, target_masks = [], [], [], [], []
    for index, target in enumerate(targets):
        if not target.present:
            continue
        layer_masks = outputs.pred_masks[index] if with_masks else None
        queries, matched = hungarian_match(outputs.pred_logits[index], outputs.pred_boxes[index], layer_masks, target)
        score_target = torch.zeros_like(outputs.pred_logits[index])
        score_target[queries] = 1.0
        score_terms.append(F.binary_cross_entropy_with_logits(outputs.pred_logits[index], score_target, reduction="sum"))
        pred_boxes.append(outputs.pred_boxes[index, queries])
        target_boxes.append(target.boxes[matched])
        if with_masks:
            pred_masks.append(layer_masks[queries])
            target_masks.append(target.masks[matched])
    if not score_terms:
        return {}
    boxes, wanted = torch.cat(pred_boxes), torch.cat(target_boxes)
    losses = {
        "score": weights.score * torch.stack(score_terms).sum() / num_targets,
        "box_l1": weights.box_l1 * F.l1_loss(boxes, wanted, reduction="sum") / num_targets,
        "box_giou": weights.box_giou * (1 - torch.diagonal(pairwise_giou(boxes, wanted))).sum() / num_targets,
    }
    if with_masks:
        masks, wanted_masks = torch.cat(pred_masks), torch.cat(target_masks)
        losses["mask_bce"] = (
            weights.mask_bce * F.binary_cross_entropy_with_logits(masks, wanted_masks, reduction="none").mean((1, 2)).sum() / num_targets
        )
        losses["mask_dice"] = weights.mask_dice * dice_loss(masks, wanted_masks) / num_targets
    return losses


def _presence_loss(presence_logits: torch.Tensor, targets: list[DetectionTarget], weights: LossWeights) -> torch.Tensor:
    wanted = torch.tensor([[float(t.present)] for t in targets])
    return weights.presence * F.binary_cross_entropy_with_logits(presence_logits, wanted)


def detector_losses(
    outputs, targets: list[DetectionTarget], auxiliary: list = (), weights: LossWeights = LossWeights()
) -> dict[str, torch.Tensor]:
    """The weighted loss terms of a batch of detector outputs (pred_logits, pred_boxes, pred_masks,
    presence_logits, semantic_seg) and of the earlier layers' `auxiliary` outputs, and their sum
    under "total"."""
    semantic_target = torch.stack([t.semantic_mask for t in targets])[:, None]
    losses = {
        "presence": _presence_loss(outputs.presence_logits, targets, weights),
        "semantic": weights.semantic * F.binary_cross_entropy_with_logits(outputs.semantic_seg, semantic_target),
    }
    present = torch.tensor([t.present for t in targets])
    if present.any():
        semantic_dice = dice_loss(outputs.semantic_seg[present, 0], semantic_target[present, 0]) / int(present.sum())
        losses["semantic_dice"] = weights.semantic_dice * semantic_dice
    losses.update(_set_losses(outputs, targets, weights, with_masks=True))
    if auxiliary:
        terms = [_presence_loss(layer.presence_logits, targets, weights) for layer in auxiliary]
        terms += [value for layer in auxiliary for value in _set_losses(layer, targets, weights, with_masks=False).values()]
        losses["auxiliary"] = weights.auxiliary * sum(terms) / len(auxiliary)
    losses["total"] = sum(losses.values())
    return losses
