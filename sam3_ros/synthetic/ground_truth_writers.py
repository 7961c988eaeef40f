"""Ground truth in the two formats the metrics tools read.

MOTChallenge gt.txt, one line per object and frame (frames from 1):
    frame, id, bb_left, bb_top, bb_width, bb_height, conf, class, visibility
with the amodal box (the whole shape, as MOT17 boxes occluded pedestrians), conf 1 (evaluated),
class the category id of `category_names()` and visibility the visible share of the shape.

YouTube-VIS JSON: `videos` (id, file_names, width, height, length), `categories` and
`annotations`, one per object track, with per-frame COCO RLE `segmentations` of the visible mask
(None where the object is not seen), `bboxes` (x, y, w, h of the visible mask) and `areas`.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from pycocotools import mask as mask_utils

from sam3_ros.synthetic.ground_truth import FrameAnnotations, ObjectAnnotation
from sam3_ros.synthetic.vocabulary import category_names

IMAGE_EXTENSION = ".png"


def mot_lines(frames: Sequence[FrameAnnotations]) -> list[str]:
    lines = []
    for frame in frames:
        for obj in frame.objects:
            x0, y0, x1, y1 = obj.amodal_box
            lines.append(
                f"{frame.frame_idx + 1},{obj.obj_id},{x0:.2f},{y0:.2f},{x1 - x0:.2f},{y1 - y0:.2f},1,{obj.category_id},{obj.visibility:.3f}"
            )
    return lines


def write_mot_gt(path: Path, frames: Sequence[FrameAnnotations]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(line + "\n" for line in mot_lines(frames)))


def write_mot_seqinfo(path: Path, name: str, width: int, height: int, length: int, frame_rate: float = 30.0) -> None:
    """seqinfo.ini, which MOTChallenge tools (TrackEval) read for the sequence length."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(
        f"[Sequence]\nname={name}\nimDir=img1\nframeRate={frame_rate:g}\nseqLength={length}\n"
        f"imWidth={width}\nimHeight={height}\nimExt={IMAGE_EXTENSION}\n"
    )


@dataclass(frozen=True)
class VisVideo:
    """One video for the YouTube-VIS file: its name (the folder of its frames) and ground truth."""

    name: str
    width: int
    height: int
    frames: Sequence[FrameAnnotations]

    def file_names(self) -> list[str]:
        return [f"{self.name}/{frame.frame_idx:05d}{IMAGE_EXTENSION}" for frame in self.frames]


def encode_mask(mask: np.ndarray) -> dict:
    """COCO RLE of an HxW bool mask, with counts as text so that it can go into JSON."""
    rle = mask_utils.encode(np.asfortranarray(mask.astype(np.uint8)))
    return {"size": [int(s) for s in rle["size"]], "counts": rle["counts"].decode("ascii")}


def youtube_vis_dataset(videos: Sequence[VisVideo]) -> dict:
    categories = [{"id": index + 1, "name": name} for index, name in enumerate(category_names())]
    annotations = []
    for video_id, video in enumerate(videos, start=1):
        tracks: dict[int, list[ObjectAnnotation | None]] = {}
        for position, frame in enumerate(video.frames):
            for obj in frame.objects:
                tracks.setdefault(obj.obj_id, [None] * len(video.frames))[position] = obj
        for obj_id, track in sorted(tracks.items()):
            seen = next(obj for obj in track if obj is not None)
            annotations.append(
                {
                    "id": len(annotations) + 1,
                    "video_id": video_id,
                    "category_id": seen.category_id,
                    "iscrowd": 0,
                    "width": video.width,
                    "height": video.height,
                    "segmentations": [None if obj is None else encode_mask(obj.mask) for obj in track],
                    "bboxes": [None if obj is None else _xywh(obj.visible_box) for obj in track],
                    "areas": [None if obj is None else int(obj.mask.sum()) for obj in track],
                    "synthetic_obj_id": obj_id,
                }
            )
    return {
        "info": {"description": "sam3_ros synthetic scenes"},
        "videos": [
            {"id": video_id, "width": v.width, "height": v.height, "length": len(v.frames), "file_names": v.file_names()}
            for video_id, v in enumerate(videos, start=1)
        ],
        "categories": categories,
        "annotations": annotations,
    }


def write_youtube_vis(path: Path, videos: Sequence[VisVideo]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(youtube_vis_dataset(videos)))


def _xywh(box: tuple[int, int, int, int]) -> list[int]:
    x0, y0, x1, y1 = box
    return [x0, y0, x1 - x0, y1 - y0]
