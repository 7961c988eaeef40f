"""manifest.json of a sam3-ros-annotate-fleet output root: every recording, its status and outputs.

The driver rewrites it atomically (a temporary file in the same folder, then os.replace) whenever a
recording's status changes, so it always tells where a run stands, also after a crash. A later run
of the same root reads it to keep each recording's output folder and to skip finished recordings.
"""

from __future__ import annotations

import datetime
import json
import os
import tempfile
from collections import Counter
from dataclasses import asdict, dataclass, field
from pathlib import Path

MANIFEST_NAME = "manifest.json"
VERSION = 1
# pending: not started yet; running: submitted to Ray (queued or running); done: annotated by this run; skipped: finished
# by an earlier run (its figures are kept); failed: see reason; stopped: interrupted, the next run
# resumes it from its checkpoint.
STATUSES = ("pending", "running", "done", "skipped", "failed", "stopped")
FINISHED = ("done", "skipped")


class ManifestError(ValueError):
    """The manifest cannot be used; the message says why and what to do."""


@dataclass
class RecordingEntry:
    input: str  # the recording, absolute path
    output: str  # its output folder, absolute path
    status: str = "pending"
    reason: str | None = None  # why it failed or stopped
    frames: int | None = None  # frames annotated
    tracks: int | None = None  # tracks in annotations.json
    files: list[str] = field(default_factory=list)  # the outputs, absolute paths
    resumed_at: int | None = None  # the frame the last task started from: above 0 = continued from a checkpoint
    attempts: int = 0  # tasks started for it in the last run: above 1 = a worker died and Ray retried it


@dataclass
class Manifest:
    settings: dict  # what every recording was annotated with: prompts, topic, model, device, dtype, max_frames
    recordings: list[RecordingEntry]

    def write(self, root: Path) -> None:
        counts = Counter(entry.status for entry in self.recordings)
        finished = [entry for entry in self.recordings if entry.status in FINISHED]
        document = {
            "version": VERSION,
            "updated": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
            "settings": self.settings,
            "summary": {
                "recordings": len(self.recordings),
                **{status: counts[status] for status in STATUSES},
                "frames": sum(entry.frames or 0 for entry in finished),
                "tracks": sum(entry.tracks or 0 for entry in finished),
            },
            "recordings": [asdict(entry) for entry in self.recordings],
        }
        fd, temporary = tempfile.mkstemp(prefix=f".{MANIFEST_NAME}.", suffix=".tmp", dir=root)
        with os.fdopen(fd, "w", encoding="utf-8") as file:
            json.dump(document, file, indent=2)
        os.replace(temporary, root / MANIFEST_NAME)


def read_manifest(root: Path) -> Manifest | None:
    """The manifest of an earlier run in root; None when there is none."""
    path = root / MANIFEST_NAME
    if not path.exists():
        return None
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
        if document.get("version") != VERSION:
            raise ValueError(f"version {document.get('version')!r}, expected {VERSION}")
        return Manifest(document["settings"], [RecordingEntry(**entry) for entry in document["recordings"]])
    except (OSError, ValueError, KeyError, TypeError) as error:
        raise ManifestError(f"cannot use {path} ({error}): repair or delete it, or choose another --output") from error
