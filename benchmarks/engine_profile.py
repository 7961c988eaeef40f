"""Where a frame's milliseconds go in the engine: timed stages and torch.profiler's top operators.

Stages are timed with forward hooks on the model's parts, synchronising the device at every
boundary (which slows the frame a little: this shows where time goes, it does not measure the
frame; the benchmark's latency figures come from runs without hooks). Hooked modules nest (the
memory encoder runs inside the tracker); each stage counts its own time, without its children's.
"""

from __future__ import annotations

import time
from collections import defaultdict

import torch

# (label, path of the module under the model); "" is the model itself.
_STAGES = (
    ("model: association, planning, hole filling, Python", ""),
    ("vision backbone", "detector_model.vision_encoder"),
    ("detector (runs once per prompt)", "detector_model"),
    ("tracker neck", "tracker_neck"),
    ("tracker: memory attention, mask decoder", "tracker_model"),
    ("tracker: memory encoder", "tracker_model.memory_encoder"),
)
PREPROCESS = "engine: preprocessing (upload, resize, normalise)"
POSTPROCESS = "engine: postprocessing (upsample, boxes, ids, mask download)"


class StageTimer:
    def __init__(self, model, device: torch.device):
        self._sync = torch.cuda.synchronize if device.type == "cuda" else (lambda: None)
        self._stack: list[list] = []  # [label, start, time spent in children]
        self._model_span = (0.0, 0.0)
        self.totals: dict[str, float] = defaultdict(float)
        self.calls: dict[str, int] = defaultdict(int)
        self.frames = 0
        self._handles = []
        for label, path in _STAGES:
            module = model.get_submodule(path)
            self._handles.append(module.register_forward_pre_hook(lambda *_, label=label: self._enter(label)))
            self._handles.append(module.register_forward_hook(lambda *_, label=label: self._leave(label)))

    def _now(self) -> float:
        self._sync()
        return time.perf_counter()

    def _enter(self, label: str) -> None:
        self._stack.append([label, self._now(), 0.0])

    def _leave(self, label: str) -> None:
        end = self._now()
        entered, start, children = self._stack.pop()
        assert entered == label, f"hooks out of order: {entered} / {label}"
        self.totals[label] += end - start - children
        self.calls[label] += 1
        if self._stack:
            self._stack[-1][2] += end - start
        elif label == _STAGES[0][0]:
            self._model_span = (start, end)

    def time_frame(self, process, frame) -> None:
        """Run `process(frame)` and add its stages to the totals."""
        start = self._now()
        process(frame)
        end = self._now()
        model_start, model_end = self._model_span
        self.totals[PREPROCESS] += model_start - start
        self.totals[POSTPROCESS] += end - model_end
        self.calls[PREPROCESS] += 1
        self.calls[POSTPROCESS] += 1
        self.frames += 1

    def remove(self) -> None:
        for handle in self._handles:
            handle.remove()

    def summary(self) -> list[dict]:
        """Per stage: mean ms per frame, calls per frame, share of the frame; largest first."""
        total = sum(self.totals.values())
        rows = [
            {
                "stage": label,
                "ms_per_frame": 1000 * seconds / self.frames,
                "calls_per_frame": self.calls[label] / self.frames,
                "share": seconds / total if total else 0.0,
            }
            for label, seconds in self.totals.items()
        ]
        return sorted(rows, key=lambda row: -row["ms_per_frame"])


def profile_stages(engine, model, frames, device: torch.device) -> list[dict]:
    timer = StageTimer(model, device)
    try:
        for frame in frames:
            timer.time_frame(engine.process, frame)
    finally:
        timer.remove()
    return timer.summary()


def top_operators(engine, frames, device: torch.device, rows: int = 15) -> str:
    """torch.profiler's table of the operators with the most self time over `frames`."""
    activities = [torch.profiler.ProfilerActivity.CPU]
    if device.type == "cuda":
        activities.append(torch.profiler.ProfilerActivity.CUDA)
    with torch.profiler.profile(activities=activities) as profiler:
        for frame in frames:
            engine.process(frame)
        if device.type == "cuda":
            torch.cuda.synchronize()
    sort_by = "self_cuda_time_total" if device.type == "cuda" else "self_cpu_time_total"
    return profiler.key_averages().table(sort_by=sort_by, row_limit=rows)


def format_stages(rows: list[dict]) -> str:
    lines = [f"  {'stage':<62} {'ms/frame':>9} {'calls/frame':>12} {'share':>6}"]
    for row in rows:
        lines.append(f"  {row['stage']:<62} {row['ms_per_frame']:>9.2f} {row['calls_per_frame']:>12.1f} {row['share']:>6.1%}")
    return "\n".join(lines)
