"""Several cameras on one loaded SAM 3: frame rate per camera and in all, against one camera.

    python benchmarks/cameras_benchmark.py --cameras 1,2,4 --point 1x5 --frames 60 --json out.json
    python benchmarks/cameras_benchmark.py --tiny --cameras 1,2 --frames 4 --warmup 1   # CI: it runs

N cameras are N engine streams (ConceptTracker) on one model with one track id counter, as the
node runs its `cameras`: each gets its own clip (bikes.mp4 at --resolution, each camera starting
at another offset into it), and a round is one frame of every camera, in turn. Per camera count
it reports the round's latency (p50/p95/p99, warm-up rounds excluded, the device synchronised),
frames per second per camera and in all, the tracked objects per camera, and the device memory
at the start and end of the timed rounds and its peak: the weights once, every stream's session
on top. The streams take turns on the model (a frame holds the model's lock); with no batching
across cameras yet, the figures in all stay about one camera's, and a camera's own rate is that
divided by the number of cameras.

The model and the object control are the stream benchmark's (stream_benchmark.py): the full-size
SAM 3 (--model when its weights load, else its architecture randomly initialised) with the
detector's scores rewritten so that each prompt has exactly its share of --point's objects; --tiny
runs the tests' tiny untrained model on the CPU, where the figures mean nothing about a GPU.
"""

from __future__ import annotations

import argparse
import math
import sys
from pathlib import Path

import torch
from stream_benchmark import (
    MEANINGLESS,
    PROMPT_TEXTS,
    Runner,
    environment,
    footage,
    force_detections,
    format_memory,
    load_models,
    make_engine,
    parse_checked,
    parse_grid,
    parse_resolution,
    write_report,
)
from tabulate import tabulate

from sam3_ros.engine.model_loading import resolve_device, resolve_dtype
from sam3_ros.engine.track_ids import TrackIdAllocator


def parse_cameras(text: str) -> list[int]:
    counts = [int(item) for item in text.split(",") if item.strip()]
    if not counts or min(counts) < 1:
        raise argparse.ArgumentTypeError(f"--cameras '{text}': camera counts of at least 1, e.g. 1,2,4")
    return counts


def run_cameras(model, tokenizer, runner: Runner, cameras: int, point: tuple[int, int], clip, args) -> dict:
    """`cameras` streams on `model`, each on its own part of `clip`, timed round by round."""
    prompts, objects = point
    track_ids = TrackIdAllocator()  # one for the node's cameras, as CameraGroup passes it
    streams = [make_engine(model, tokenizer, list(PROMPT_TEXTS[:prompts]), objects, track_ids) for _ in range(cameras)]
    rounds = args.warmup + args.frames
    # Camera c starts c * (clip length / cameras) frames into the clip: different images per round.
    offsets = [c * len(clip) // cameras for c in range(cameras)]
    round_frames = [[clip[(offset + r) % len(clip)] for offset in offsets] for r in range(rounds)]
    counts = [0] * cameras

    def one_round(frames):
        for index, (stream, frame) in enumerate(zip(streams, frames)):
            counts[index] = len(stream.process(frame).instances)

    result = runner.run(one_round, lambda: sum(counts) / cameras, round_frames, args.warmup)
    result["round_fps"] = result.pop("fps")
    result["fps_per_camera"] = result["round_fps"]
    result["fps_all_cameras"] = result["round_fps"] * cameras
    result["tracked_objects_per_camera"] = result.pop("tracked_objects")
    return {"cameras": cameras, **result}


def format_table(rows: list[dict]) -> str:
    headers = (
        "cameras",
        "round p50 ms",
        "p95 ms",
        "p99 ms",
        "FPS per camera",
        "FPS in all",
        "objects/camera",
        "device MiB start->end (peak)",
    )
    table = [
        (
            row["cameras"],
            row["latency_ms"]["p50"],
            row["latency_ms"]["p95"],
            row["latency_ms"]["p99"],
            row["fps_per_camera"],
            row["fps_all_cameras"],
            row["tracked_objects_per_camera"]["mean"],
            format_memory(row["memory_mib"]),
        )
        for row in rows
    ]
    return tabulate(table, headers, floatfmt=".1f", colalign=("right",) * len(headers))


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default="facebook/sam3", help="hub id or directory of SAM 3 weights")
    parser.add_argument("--tiny", action="store_true", help="the tiny untrained model on the CPU (figures mean nothing)")
    parser.add_argument("--device", default=None, help="auto (default; cpu with --tiny), cpu, cuda, cuda:N")
    parser.add_argument("--dtype", default="auto", help="auto (bf16 on GPU, fp32 on CPU), float32, bfloat16, float16")
    parser.add_argument("--resolution", type=parse_resolution, default=(1280, 720), help="camera resolution WxH")
    parser.add_argument("--cameras", type=parse_cameras, default=parse_cameras("1,2,4"), help="camera counts, e.g. 1,2,4")
    parser.add_argument("--point", type=parse_grid, default=parse_grid("1x5"), help="PROMPTSxOBJECTS per camera (one point)")
    parser.add_argument("--frames", type=int, default=60, help="timed rounds per camera count")
    parser.add_argument("--warmup", type=int, default=5, help="untimed rounds before them")
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: torch's choice)")
    parser.add_argument("--json", default=None, help="write the results here")
    args = parse_checked(parser, argv)
    if len(args.point) != 1:
        parser.error("--point takes one PROMPTSxOBJECTS")
    point = args.point[0]
    args.grid, args.real_layer_counts = args.point, False  # what load_models reads
    device = resolve_device(args.device or ("cpu" if args.tiny else "auto"))
    dtype = resolve_dtype(args.dtype, device)
    model, _, tokenizer, description = load_models(args, device, dtype)
    force_detections(model, math.ceil(point[1] / point[0]))
    meaningless = args.tiny or device.type != "cuda"
    if meaningless:
        print(MEANINGLESS)
    print(f"model: {description}; {device} {dtype}; point {point[0]}x{point[1]} per camera; {args.resolution[0]}x{args.resolution[1]}")
    clip = footage(args.resolution, max(args.warmup + args.frames, 8))
    runner = Runner(device)
    rows = []
    with torch.inference_mode():
        for cameras in args.cameras:
            rows.append(run_cameras(model, tokenizer, runner, cameras, point, clip, args))
            print(f"{cameras} camera(s): {rows[-1]['fps_all_cameras']:.1f} FPS in all", flush=True)
    print(format_table(rows))
    if args.json:
        write_report(
            Path(args.json),
            {
                "benchmark": "cameras_benchmark",
                "meaningless": meaningless,
                "model": {"description": description, "dtype": str(dtype).removeprefix("torch.")},
                "footage": {"video": "bikes.mp4", "resolution": list(args.resolution), "warmup": args.warmup, "frames": args.frames},
                "point": {"prompts": point[0], "objects": point[1]},
                "environment": environment(device),
                "command": " ".join(["cameras_benchmark.py", *(argv if argv is not None else sys.argv[1:])]),
                "rows": rows,
            },
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
