"""Checkpoints of an annotation run: the engine's state and how far the journal had got.

A checkpoint is written atomically (a temporary file, then os.replace), so a run killed while
writing one still has the previous one. It records which run it belongs to (input, topic,
prompts, model, ...), so that `--resume` refuses to continue a different run. It is a torch
pickle: load only checkpoints you wrote.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import torch


@dataclass(frozen=True)
class Checkpoint:
    run: dict  # what identifies the run: input, topic, prompts, model, device, dtype, frame limit
    frames_done: int  # frames 0 .. frames_done - 1 are in the journal
    journal_bytes: int  # the journal's length after those frames
    engine: bytes  # ConceptTracker.snapshot()


def save_checkpoint(path: Path, checkpoint: Checkpoint) -> None:
    temporary = path.with_name(path.name + ".tmp")
    torch.save(vars(checkpoint), temporary)
    os.replace(temporary, path)


def load_checkpoint(path: Path) -> Checkpoint:
    return Checkpoint(**torch.load(path, weights_only=False))


def run_differences(saved: dict, current: dict) -> list[str]:
    """'name: saved -> current' for every identifying setting that differs."""
    return [
        f"{name}: {saved.get(name)!r} -> {current.get(name)!r}"
        for name in sorted(set(saved) | set(current))
        if saved.get(name) != current.get(name)
    ]
