"""The per-frame results of an annotation run, one JSON line per frame, appended as they come.

The journal is what an interrupted run keeps: each line is flushed when its frame is done, so a
killed run loses at most the frame in progress, and the final outputs are rendered from it. Masks
are stored exactly, as the run lengths of `mask_encoding.encode_mask` (the Instance.mask_rle
layout). A resumed run first cuts the journal back to the length its engine checkpoint had.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from sam3_ros.engine.frame_result import FrameResult, PromptSummary, TrackedInstance
from sam3_ros.outputs.mask_encoding import decode_mask, encode_mask


@dataclass(frozen=True)
class JournalEntry:
    frame: int  # index of the frame in the video or on the topic, from 0
    stamp_ns: int
    frame_id: str
    result: FrameResult


def _to_json(entry: JournalEntry) -> str:
    result = entry.result
    return json.dumps(
        {
            "frame": entry.frame,
            "stamp_ns": entry.stamp_ns,
            "frame_id": entry.frame_id,
            "width": result.width,
            "height": result.height,
            "instances": [
                {
                    "track_id": i.track_id,
                    "prompt_id": i.prompt_id,
                    "prompt_text": i.prompt_text,
                    "score": i.score,
                    "box": list(i.box),
                    "mask_rle": encode_mask(i.mask).tolist(),
                    "frames_tracked": i.frames_tracked,
                }
                for i in result.instances
            ],
            "prompts": [
                {"prompt_id": p.prompt_id, "text": p.text, "presence_score": p.presence_score, "instance_count": p.instance_count}
                for p in result.prompts
            ],
        },
        separators=(",", ":"),
    )


def _from_json(line: str) -> JournalEntry:
    record = json.loads(line)
    height, width = record["height"], record["width"]
    instances = tuple(
        TrackedInstance(
            track_id=i["track_id"],
            prompt_id=i["prompt_id"],
            prompt_text=i["prompt_text"],
            score=i["score"],
            box=tuple(i["box"]),
            mask=decode_mask(i["mask_rle"], height, width),
            frames_tracked=i["frames_tracked"],
        )
        for i in record["instances"]
    )
    prompts = tuple(PromptSummary(**p) for p in record["prompts"])
    # Every frame is processed, so the engine's 1-based frame count is the frame index + 1.
    result = FrameResult(record["stamp_ns"], width, height, record["frame"] + 1, instances, prompts)
    return JournalEntry(record["frame"], record["stamp_ns"], record["frame_id"], result)


class Journal:
    """Append-only JSON lines; `size` is the byte length a checkpoint records."""

    def __init__(self, path: Path):
        self.path = path
        self._file = None

    def exists(self) -> bool:
        return self.path.exists()

    def start(self, keep_bytes: int = 0) -> None:
        """Open for appending after the first `keep_bytes` bytes (0: a new journal)."""
        self.path.touch()
        with self.path.open("r+b") as file:
            file.truncate(keep_bytes)
        self._file = self.path.open("ab")

    @property
    def size(self) -> int:
        """The journal's length in bytes."""
        return self._file.tell() if self._file else (self.path.stat().st_size if self.path.exists() else 0)

    def append(self, entry: JournalEntry) -> None:
        self._file.write((_to_json(entry) + "\n").encode())
        self._file.flush()

    def close(self) -> None:
        if self._file:
            self._file.close()
            self._file = None

    def entries(self) -> Iterator[JournalEntry]:
        with self.path.open(encoding="utf-8") as file:
            for line in file:
                yield _from_json(line)

    def remove(self) -> None:
        self.path.unlink(missing_ok=True)
