"""How well a tracker follows the objects one prompt names in a synthetic sequence, from masks.

Per frame the ground truth and the prediction are each a mapping of ids to HxW bool masks;
`frame_overlap` turns them into the mask IoU of every pair, from which everything else follows:
- HOTA, DetA, AssA and LocA: TrackEval's HOTA on the IoU similarity (mean over its alphas);
- IDF1, MOTA and ID switches: motmetrics, distance 1 - IoU, pairs below IoU 0.5 never matched;
- detection recall and precision: one-to-one matching per frame (Hungarian) at IoU >= 0.5;
- occlusion events (`occlusion_events`): whether an object hidden by nearer ones keeps its
  predicted id when it comes back.
`evaluate_prompt` gives one prompt on one sequence as counts and TrackEval results that add up;
`summarise` combines any number of them. numpy, scipy, TrackEval and motmetrics: no torch, no ROS.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import motmetrics
import numpy as np
from scipy.optimize import linear_sum_assignment
from trackeval.metrics import HOTA

from sam3_ros.synthetic.ground_truth import FrameAnnotations
from sam3_ros.synthetic.scenes import Scene
from sam3_ros.synthetic.shapes import outline, polygon_area

MATCH_IOU = 0.5
# An object whose whole shape lies in the frame but shows less than this share of it is hidden by
# nearer objects: inside the frame nothing else takes pixels away.
HIDDEN_SHARE = 0.1
_MOT_COUNTS = ("idtp", "idfp", "idfn", "num_objects", "num_misses", "num_false_positives", "num_switches")

Masks = Mapping[int, np.ndarray]  # id -> HxW bool mask, one frame


def mask_ious(first: Sequence[np.ndarray], second: Sequence[np.ndarray]) -> np.ndarray:
    """(len(first), len(second)) IoU of HxW bool masks."""
    if not len(first) or not len(second):
        return np.zeros((len(first), len(second)))
    # float32 counts pixels exactly up to 2**24, a 4096x4096 frame
    a = np.stack(first).reshape(len(first), -1).astype(np.float32)
    b = np.stack(second).reshape(len(second), -1).astype(np.float32)
    intersection = a @ b.T
    union = a.sum(1)[:, None] + b.sum(1)[None, :] - intersection
    return np.divide(intersection, union, out=np.zeros_like(intersection), where=union > 0).astype(np.float64)


def one_to_one(ious: np.ndarray, min_iou: float) -> list[tuple[int, int]]:
    """(row, column) pairs of the assignment of largest total IoU among pairs with IoU >= min_iou."""
    allowed = np.where(ious >= min_iou, ious, 0.0)
    rows, cols = linear_sum_assignment(allowed, maximize=True)
    return [(int(r), int(c)) for r, c in zip(rows, cols) if ious[r, c] >= min_iou]


@dataclass(frozen=True)
class FrameOverlap:
    """One frame of one prompt: the ids present and the mask IoU of each ground-truth object with each prediction."""

    gt_ids: tuple[int, ...]
    pred_ids: tuple[int, ...]
    ious: np.ndarray  # (len(gt_ids), len(pred_ids))

    def matches(self) -> dict[int, int]:
        """Ground-truth id -> the predicted id matched to it one to one at IoU >= MATCH_IOU."""
        return {self.gt_ids[row]: self.pred_ids[col] for row, col in one_to_one(self.ious, MATCH_IOU)}


def frame_overlap(ground_truth: Masks, prediction: Masks) -> FrameOverlap:
    return FrameOverlap(tuple(ground_truth), tuple(prediction), mask_ious(list(ground_truth.values()), list(prediction.values())))


@dataclass(frozen=True)
class OcclusionEvent:
    obj_id: int
    first_hidden: int  # frame index
    last_hidden: int


def occlusion_events(scene: Scene, frames: Sequence[FrameAnnotations]) -> list[OcclusionEvent]:
    """Every run of one or more frames in which an object lies wholly inside the frame but shows
    less than HIDDEN_SHARE of its area (nearer objects cover it), with at least that share seen
    on the frames just before and just after the run."""
    events = []
    for index, obj in enumerate(scene.objects):
        states = []  # per frame: "seen", "hidden", or neither (mostly outside the frame)
        for frame in frames:
            pose = scene.poses[frame.frame_idx][index]
            vertices = outline(obj.shape, pose.centre, pose.size, pose.angle, obj.distortion)
            visible = sum(int(o.mask.sum()) for o in frame.objects if o.obj_id == obj.obj_id)
            share = visible / max(polygon_area(vertices), 1.0)
            inside = vertices.min() >= 0 and vertices[:, 0].max() <= frame.width and vertices[:, 1].max() <= frame.height
            states.append("seen" if share >= HIDDEN_SHARE else "hidden" if inside else "out")
        start = None
        for frame_idx, state in enumerate(states):
            if state == "hidden" and start is None and frame_idx > 0 and states[frame_idx - 1] == "seen":
                start = frame_idx
            elif state != "hidden" and start is not None:
                if state == "seen":
                    events.append(OcclusionEvent(obj.obj_id, start, frame_idx - 1))
                start = None
    return events


def id_kept(event: OcclusionEvent, matches: Sequence[Mapping[int, int]]) -> bool | None:
    """Whether the object's first matched predicted id after the event is the one it last had
    before it; None when it was never matched before (there was no id to keep)."""
    before = next((m[event.obj_id] for m in reversed(matches[: event.first_hidden]) if event.obj_id in m), None)
    if before is None:
        return None
    after = next((m[event.obj_id] for m in matches[event.last_hidden + 1 :] if event.obj_id in m), None)
    return after == before


@dataclass(frozen=True)
class PromptEvaluation:
    """One prompt on one sequence, in terms that add up over prompts and sequences."""

    hota: dict  # TrackEval's HOTA.eval_sequence result
    counts: dict[str, int]


def trackeval_hota(overlaps: Sequence[FrameOverlap]) -> dict:
    """TrackEval's HOTA of one sequence, its data dict built from the per-frame IoU (ids renumbered 0.., as it indexes by them)."""
    gt_index = {obj_id: i for i, obj_id in enumerate(sorted({i for o in overlaps for i in o.gt_ids}))}
    pred_index = {obj_id: i for i, obj_id in enumerate(sorted({i for o in overlaps for i in o.pred_ids}))}
    data = {
        "num_gt_ids": len(gt_index),
        "num_tracker_ids": len(pred_index),
        "num_gt_dets": sum(len(o.gt_ids) for o in overlaps),
        "num_tracker_dets": sum(len(o.pred_ids) for o in overlaps),
        "gt_ids": [np.array([gt_index[i] for i in o.gt_ids], dtype=int) for o in overlaps],
        "tracker_ids": [np.array([pred_index[i] for i in o.pred_ids], dtype=int) for o in overlaps],
        "similarity_scores": [o.ious for o in overlaps],
    }
    return HOTA().eval_sequence(data)


def mot_counts(overlaps: Sequence[FrameOverlap]) -> dict[str, int]:
    """motmetrics' identity and CLEAR counts of one sequence (IDF1 and MOTA follow from their sums)."""
    accumulator = motmetrics.MOTAccumulator(auto_id=False)
    for frame_idx, o in enumerate(overlaps):
        accumulator.update(list(o.gt_ids), list(o.pred_ids), np.where(o.ious >= MATCH_IOU, 1.0 - o.ious, np.nan), frameid=frame_idx)
    computed = motmetrics.metrics.create().compute(accumulator, metrics=list(_MOT_COUNTS), return_dataframe=False)
    return {name: int(computed[name]) for name in _MOT_COUNTS}


def evaluate_prompt(overlaps: Sequence[FrameOverlap], events: Sequence[OcclusionEvent]) -> PromptEvaluation:
    """`overlaps`: every frame of the sequence; `events`: the occlusions of the objects the prompt names."""
    matches = [o.matches() for o in overlaps]
    true_positives = sum(len(m) for m in matches)
    kept = [id_kept(event, matches) for event in events]
    counts = {
        "true_positives": true_positives,
        "false_negatives": sum(len(o.gt_ids) for o in overlaps) - true_positives,
        "false_positives": sum(len(o.pred_ids) for o in overlaps) - true_positives,
        **mot_counts(overlaps),
        "occlusion_events": len(events),
        "occlusions_tracked_before": sum(k is not None for k in kept),
        "occlusion_ids_kept": sum(k is True for k in kept),
    }
    return PromptEvaluation(trackeval_hota(overlaps), counts)


def _ratio(numerator: float, denominator: float) -> float | None:
    return float(numerator / denominator) if denominator else None


def summarise(evaluations: Sequence[PromptEvaluation]) -> dict[str, float | int | None]:
    """Combined figures (None where there is nothing to measure: HOTA without ground truth, LocA
    without a match, precision without a prediction) and the counts they come from."""
    counts = Counter()
    for evaluation in evaluations:
        counts.update(evaluation.counts)  # update keeps the zeros that Counter's + would drop
    has_truth = counts["num_objects"] > 0
    errors = counts["num_misses"] + counts["num_false_positives"] + counts["num_switches"]
    hota = HOTA().combine_sequences(dict(enumerate(e.hota for e in evaluations))) if evaluations else {}
    # TrackEval's LocA is 1 at an alpha without matches; with none at all it says nothing.
    localised = has_truth and bool(np.any(hota["HOTA_TP"]))
    return {
        **{name: float(np.mean(hota[name])) if has_truth else None for name in ("HOTA", "DetA", "AssA")},
        "LocA": float(np.mean(hota["LocA"])) if localised else None,
        "IDF1": _ratio(2 * counts["idtp"], 2 * counts["idtp"] + counts["idfp"] + counts["idfn"]),
        "MOTA": 1 - errors / counts["num_objects"] if has_truth else None,
        "id_switches": counts["num_switches"],
        "recall": _ratio(counts["true_positives"], counts["true_positives"] + counts["false_negatives"]),
        "precision": _ratio(counts["true_positives"], counts["true_positives"] + counts["false_positives"]),
        "occlusion_id_kept_share": _ratio(counts["occlusion_ids_kept"], counts["occlusions_tracked_before"]),
        "counts": dict(counts),
    }
