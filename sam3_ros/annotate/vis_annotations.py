"""Annotation results as a video-instance-segmentation dataset in the YouTube-VIS layout.

One video, one category per prompt (id = the engine's prompt id), one annotation per track (id =
track id) with one entry per frame in `segmentations` (compressed COCO RLE, as pycocotools
writes it), `bboxes` ([x, y, w, h]) and `areas`, null on frames where the track is not reported.
The layout is the one YouTube-VIS 2019/2021 and OVIS use, plus `score` and `track_id` per
annotation (as in VIS result files) and `timestamps_ns` per video. docs/annotation.md documents it.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

from sam3_ros.annotate.journal import JournalEntry
from sam3_ros.engine.prompt_registry import Prompt
from sam3_ros.outputs.mask_encoding import encode_mask, to_coco_rle


@dataclass
class _Track:
    category_id: int
    frames: dict[int, tuple[dict, list[int], int, float]] = field(default_factory=dict)  # frame -> rle, bbox, area, score


class VisAnnotations:
    """Collects journal entries frame by frame; `write` saves the dataset."""

    def __init__(self, video_name: str, prompts: list[Prompt], info: dict):
        self.video_name = video_name
        self.categories = [{"id": p.id, "name": p.text, "supercategory": "object"} for p in prompts]
        self.info = info
        self.size: tuple[int, int] | None = None  # width, height of the first frame
        self.stamps: list[int] = []
        self.tracks: dict[int, _Track] = {}

    def add(self, entry: JournalEntry) -> None:
        result = entry.result
        if entry.frame != len(self.stamps):
            raise ValueError(f"frame {entry.frame} arrived after {len(self.stamps)} frames: the journal is not in order")
        self.size = self.size or (result.width, result.height)
        self.stamps.append(entry.stamp_ns)
        for instance in result.instances:
            track = self.tracks.setdefault(instance.track_id, _Track(instance.prompt_id))
            x_min, y_min, x_max, y_max = instance.box
            rle = to_coco_rle(encode_mask(instance.mask), result.height, result.width)
            box = [x_min, y_min, x_max - x_min, y_max - y_min]
            track.frames[entry.frame] = (rle, box, int(instance.mask.sum()), instance.score)

    def to_dict(self) -> dict:
        width, height = self.size or (0, 0)
        length = len(self.stamps)
        annotations = []
        for track_id, track in sorted(self.tracks.items()):
            per_frame = [track.frames.get(frame) for frame in range(length)]
            scores = [seen[3] for seen in per_frame if seen]
            annotations.append(
                {
                    "id": track_id,
                    "track_id": track_id,
                    "video_id": 1,
                    "category_id": track.category_id,
                    "iscrowd": 0,
                    "width": width,
                    "height": height,
                    "length": length,
                    "segmentations": [seen[0] if seen else None for seen in per_frame],
                    "bboxes": [seen[1] if seen else None for seen in per_frame],
                    "areas": [seen[2] if seen else None for seen in per_frame],
                    "score": sum(scores) / len(scores),
                }
            )
        video = {
            "id": 1,
            "name": self.video_name,
            "width": width,
            "height": height,
            "length": length,
            # YouTube-VIS names each frame's image; this tool writes no images, the names follow
            # the dataset's JPEGImages/<video>/<frame>.jpg convention for frame extraction.
            "file_names": [f"{self.video_name}/{frame:05d}.jpg" for frame in range(length)],
            "timestamps_ns": self.stamps,
        }
        return {
            "info": self.info,
            "licenses": [],
            "videos": [video],
            "categories": self.categories,
            "annotations": annotations,
        }

    def write(self, path: Path) -> None:
        path.write_text(json.dumps(self.to_dict()))
