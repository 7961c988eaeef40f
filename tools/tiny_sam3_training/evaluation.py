"""Detection recall and precision on held-out seeds, with the score rule the node uses.

A detection is a query whose sigmoid(pred_logits) * sigmoid(presence_logits) passes the threshold
and survives upstream's mask NMS (`nms_masks` at the config's det_nms_thresh, with the engine's
torch kernel). It is a true positive when it matches, one to one and best score first, a target
whose visible mask it overlaps with IoU >= 0.5 at the frame's resolution. Every frame is asked
every phrase of the vocabulary, so absent concepts test the presence score.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from transformers.models.sam3_video.modeling_sam3_video import mask_iou, nms_masks

from sam3_ros.engine.mask_kernels import install_mask_kernels
from sam3_ros.synthetic.vocabulary import all_prompt_phrases

from .data import EvalFrame, eval_frame, is_target
from .model_setup import tokenize

THRESHOLDS = np.round(np.arange(0.05, 0.96, 0.05), 2)
MATCH_IOU = 0.5


@dataclass
class Counts:
    true_positives: int = 0
    false_positives: int = 0
    false_negatives: int = 0

    @property
    def recall(self) -> float:
        return self.true_positives / max(self.true_positives + self.false_negatives, 1)

    @property
    def precision(self) -> float:
        return self.true_positives / max(self.true_positives + self.false_positives, 1)

    def f_score(self, beta: float = 1.0) -> float:
        p, r = self.precision, self.recall
        return (1 + beta**2) * p * r / max(beta**2 * p + r, 1e-9)


@dataclass
class Evaluation:
    counts: dict[float, Counts]  # by score threshold
    presence_present: float  # mean sigmoid(presence) where the concept is in the frame
    presence_absent: float
    localised: float  # share of targets that the best-IoU query (whatever its score) segments at IoU >= 0.5

    def best_threshold(self, beta: float = 1.0) -> float:
        return float(max(self.counts, key=lambda t: (self.counts[t].f_score(beta), -t)))

    def summary(self, threshold: float) -> str:
        c = self.counts[threshold]
        return (
            f"thr {threshold:.2f}: recall {c.recall:.3f} precision {c.precision:.3f} F1 {c.f_score():.3f} "
            f"(tp {c.true_positives} fp {c.false_positives} fn {c.false_negatives}); "
            f"presence {self.presence_present:.2f} present / {self.presence_absent:.2f} absent; localised {self.localised:.3f}"
        )


def _frame_counts(
    frame: EvalFrame, phrase: str, scores: torch.Tensor, mask_logits: torch.Tensor, nms_iou: float, evaluation_counts: dict, localised: list
) -> None:
    annotations = frame.annotations
    matching = annotations.matching(phrase)
    targets = [obj for obj in matching if is_target(obj, annotations)]
    ignored = [obj for obj in matching if not is_target(obj, annotations)]  # too small to count either way
    size = (annotations.height, annotations.width)
    masks = F.interpolate(mask_logits[:, None], size=size, mode="bilinear", align_corners=False)[:, 0] > 0
    keep = nms_masks(scores, mask_logits, prob_threshold=float(THRESHOLDS[0]) - 1e-6, iou_threshold=nms_iou)
    target_masks = torch.from_numpy(np.stack([obj.mask for obj in targets])) if targets else torch.zeros(0, *size, dtype=torch.bool)
    ious = mask_iou(masks, target_masks)
    if targets:
        localised.extend((ious.max(0).values >= MATCH_IOU).tolist())
    ignored_iou = mask_iou(masks, torch.from_numpy(np.stack([obj.mask for obj in ignored]))).amax(1) if ignored else torch.zeros(len(masks))
    order = [int(i) for i in torch.argsort(scores, descending=True) if keep[i]]
    for threshold in THRESHOLDS:
        counts = evaluation_counts[float(threshold)]
        taken = set()
        for query in order:
            if scores[query] <= threshold:
                break
            candidates = [(float(ious[query, t]), t) for t in range(len(targets)) if t not in taken and ious[query, t] >= MATCH_IOU]
            if candidates:
                taken.add(max(candidates)[1])
                counts.true_positives += 1
            elif ignored_iou[query] < MATCH_IOU:
                counts.false_positives += 1
        counts.false_negatives += len(targets) - len(taken)


@torch.no_grad()
def evaluate(detector, tokenizer, seeds: range, nms_iou: float) -> Evaluation:
    install_mask_kernels(torch.device("cpu"))  # upstream's NMS kernel comes from the hub otherwise
    was_training = detector.training
    detector.eval()
    phrases = all_prompt_phrases()
    text = tokenize(tokenizer, phrases)
    counts = {float(t): Counts() for t in THRESHOLDS}
    presence = {True: [], False: []}
    localised: list[bool] = []
    for seed in seeds:
        frame = eval_frame(seed)
        pixels = frame.pixel_values[None].expand(len(phrases), -1, -1, -1)
        outputs = detector(pixel_values=pixels, input_ids=text.input_ids, attention_mask=text.attention_mask)
        presence_probs = outputs.presence_logits.sigmoid()
        scores = outputs.pred_logits.sigmoid() * presence_probs
        for index, phrase in enumerate(phrases):
            has_target = any(is_target(obj, frame.annotations) for obj in frame.annotations.matching(phrase))
            presence[has_target].append(float(presence_probs[index, 0]))
            _frame_counts(frame, phrase, scores[index], outputs.pred_masks[index], nms_iou, counts, localised)
    detector.train(was_training)
    return Evaluation(
        counts, float(np.mean(presence[True] or [0])), float(np.mean(presence[False] or [0])), float(np.mean(localised or [0]))
    )
