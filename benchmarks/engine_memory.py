"""Streams thousands of frames through the engine (tiny SAM 3) and prints memory as it goes.

    python benchmarks/engine_memory.py --frames 5000

Reports host RSS, device memory (CUDA only), the session's footprint (entry counts and tensor
bytes) every --every frames, the least-squares slope of RSS over the second half of the run, and
exits non-zero if the session footprint grew (compared with its first report under the same prompt
set: a set of three prompts holds more than a set of one) or RSS grew faster than --max-slope KiB
per 1000 frames. Re-conditioning is forced every 2 frames and prompts change every 1000 frames,
so every kind of state the session can accumulate is exercised.

`--tracemalloc` also traces Python allocations and prints, at every report after warm-up (the
first --every frames), the source lines whose memory grew most since then: where a growth of
Python objects comes from. Tensor storage and native libraries are not traced (RSS covers them).
"""

from __future__ import annotations

import argparse
import resource
import sys
import time
import tracemalloc

import numpy as np
import torch

from sam3_ros.demo.sample_footage import bikes_video_path, read_rgb_frames
from sam3_ros.engine.concept_tracker import ConceptTracker, TrackerSettings
from sam3_ros.engine.prompt_registry import PromptRequest
from sam3_ros.engine.tiny_model import build_tiny_sam3
from sam3_ros.engine.track_memory import session_footprint

PROMPT_SETS = (["person", "bicycle"], ["person", "car"], ["bicycle"], ["person", "bicycle", "tree"])


def rss_mib() -> float:
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * resource.getpagesize() / 2**20


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--frames", type=int, default=5000)
    parser.add_argument("--every", type=int, default=500)
    parser.add_argument("--max-slope", type=float, default=256.0, help="KiB of RSS per 1000 frames")
    parser.add_argument("--tracemalloc", action="store_true", help="attribute Python memory growth to source lines")
    args = parser.parse_args()

    torch.set_num_threads(1)
    model, tokenizer = build_tiny_sam3(recondition_every_nth_frame=2, high_conf_thresh=0.0, high_iou_thresh=0.0)
    engine = ConceptTracker(model, tokenizer, TrackerSettings(confirm_frames=2, max_lost_frames=5))
    clip = [np.ascontiguousarray(f[::4, ::4]) for f in read_rgb_frames(bikes_video_path())[0]]
    samples, warm_snapshot = [], None
    first_footprint: dict[int, dict] = {}  # prompt set -> its footprint at its first report
    grew: dict[str, tuple[int, int]] = {}
    if args.tracemalloc:
        tracemalloc.start(1)
    start = time.perf_counter()
    print(f"{'frame':>7} {'rss MiB':>9} {'cuda MiB':>9} {'tensors KiB':>12} {'outputs':>8} {'ids':>5} {'ms/frame':>9}")
    for index in range(args.frames):
        if index % 1000 == 0:
            engine.replace_prompts([PromptRequest(t) for t in PROMPT_SETS[prompt_set(index)]])
        result = engine.process(clip[index % len(clip)], stamp=index)
        if (index + 1) % args.every == 0:
            footprint = session_footprint(engine.session)
            cuda = torch.cuda.memory_allocated() / 2**20 if torch.cuda.is_available() else 0.0
            elapsed_ms = (time.perf_counter() - start) * 1000 / (index + 1)
            samples.append((index + 1, rss_mib()))
            ids = max((i.track_id for i in result.instances), default=0)
            print(
                f"{index + 1:>7} {samples[-1][1]:>9.1f} {cuda:>9.1f} {footprint['tensor_bytes'] / 1024:>12.1f} "
                f"{footprint['frame_outputs']:>8} {ids:>5} {elapsed_ms:>9.1f}",
                flush=True,
            )
            first = first_footprint.setdefault(prompt_set(index), footprint)
            grew.update({k: (first[k], footprint[k]) for k in footprint if footprint[k] > first[k]})
            if index + 1 == args.every:
                warm_snapshot = tracemalloc.take_snapshot() if args.tracemalloc else None
            elif warm_snapshot is not None:
                print_python_growth(warm_snapshot, tracemalloc.take_snapshot(), index + 1 - args.every)
    frames, rss = np.array(samples).T
    half = len(frames) // 2
    slope = np.polyfit(frames[half:], rss[half:], 1)[0] * 1000 * 1024 if len(frames) - half >= 2 else 0.0
    print(f"RSS slope over the second half: {slope:.1f} KiB per 1000 frames (bound {args.max_slope})")
    for index, footprint in sorted(first_footprint.items()):
        print(f"session footprint under prompts {PROMPT_SETS[index]}: {footprint}")
    if grew or slope > args.max_slope:
        print(f"FAIL: session grew {grew}" if grew else "FAIL: RSS grows")
        return 1
    print("OK: memory is flat")
    return 0


def prompt_set(index: int) -> int:
    """Which of PROMPT_SETS frame `index` runs under: they take turns every 1000 frames."""
    return (index // 1000) % len(PROMPT_SETS)


def print_python_growth(before: tracemalloc.Snapshot, after: tracemalloc.Snapshot, frames: int, top: int = 6) -> None:
    """The source lines whose traced Python memory grew most over `frames` frames, and the total."""
    ignore = [tracemalloc.Filter(False, tracemalloc.__file__)]
    before, after = before.filter_traces(ignore), after.filter_traces(ignore)
    total = sum(s.size for s in after.statistics("filename")) - sum(s.size for s in before.statistics("filename"))
    print(
        f"traced Python memory after warm-up: {total / 2**20:+.3f} MiB over {frames} frames "
        f"({total / 2**20 / max(frames, 1) * 1000:+.4f} MiB per 1000 frames); largest changes by line:"
    )
    for stat in after.compare_to(before, "lineno")[:top]:
        frame = stat.traceback[0]
        print(f"  {stat.size_diff / 1024:+10.1f} KiB {stat.count_diff:+8d} blocks  {frame.filename}:{frame.lineno}")


if __name__ == "__main__":
    sys.exit(main())
