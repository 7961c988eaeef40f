"""Per steady-state frame: aten operators on the accelerator and host syncs, the engine against the plain loop.

    python benchmarks/launch_count.py                                  # CPU, a few minutes
    python benchmarks/launch_count.py --grid 1x1,3x10 --json output/launches.json
    python benchmarks/launch_count.py --device cuda --architecture full  # on a GPU machine

The same engine (ConceptTracker) and plain transformers streaming loop, frames (bikes.mp4 at
--resolution), object forcing and caps as benchmarks/stream_benchmark.py, at each grid point
PROMPTSxOBJECTS. After --warmup frames (enough for the tracker's memory bank and object pointers
to fill, so the counts stop growing), each of --frames frames is counted on its own (see
launch_counter.py for what is counted and what is not): aten calls with a tensor on the
accelerator (`device ops`, a proxy for kernel launches: each costs host time in eager mode),
aten calls on host tensors only, and the calls that make the host wait for the device, by kind
and by the source line that issues them. Counts are deterministic: the same run gives the same
figures. The figures are per frame (the mean over the counted frames; the JSON has min and max).

The model (default) is the real-layer-count tiny SAM 3: the tiny model's widths with the
full-size model's layer counts (stream_benchmark.build_real_layer_count_tiny_sam3), so the loops
and layers that issue operators are the full-size model's while the arithmetic stays small enough
for a CPU. On the CPU the accelerator is emulated (launch_counter.EmulatedAccelerator); with
--device cuda the model runs on the GPU and the counter only observes. --architecture full counts
the full-size architecture (random weights unless --model loads; for a GPU).
"""

from __future__ import annotations

import argparse
import math
import sys
from contextlib import nullcontext
from pathlib import Path
from types import SimpleNamespace

from launch_counter import EmulatedAccelerator, ObservedAccelerator
from stream_benchmark import (
    PROMPT_TEXTS,
    environment,
    footage,
    force_detections,
    load_models,
    make_engine,
    make_plain,
    parse_checked,
    parse_grid,
    parse_resolution,
    write_report,
)

from sam3_ros.engine.model_loading import resolve_device, resolve_dtype

IMPLEMENTATIONS = ("engine", "plain")
DEFAULT_GRID = "1x1,1x5,3x10,5x30"
# Steady state: the counts stop changing once the tracker's memory bank (num_maskmem = 7 frames)
# and its object-pointer window (16 frames) are full: 20 frames.
DEFAULT_WARMUP = 20


def count_frames(counter, step, tracked_objects, frames, warmup: int) -> dict:
    """Run `step` on every frame; count each frame after the first `warmup` on its own."""
    for frame in frames[:warmup]:
        step(frame)
    per_frame = []
    objects = []
    for frame in frames[warmup:]:
        with nullcontext() if counter.whole_run else counter:
            counter.start_frame()
            step(frame)
            per_frame.append(counter.end_frame())
        objects.append(tracked_objects())
    return summarise(per_frame, objects)


def summarise(per_frame, objects) -> dict:
    frames = len(per_frame)

    def mean(values):
        return sum(values) / frames

    kinds = sorted({kind for counts in per_frame for kind in counts.syncs})
    sites: dict[tuple[str, str], int] = {}
    for counts in per_frame:
        for key, calls in counts.sync_sites.items():
            sites[key] = sites.get(key, 0) + calls
    device_ops = [counts.device_ops for counts in per_frame]
    syncs = [counts.total_syncs for counts in per_frame]
    return {
        "device_ops": mean(device_ops),
        "device_ops_min_max": [min(device_ops), max(device_ops)],
        "device_ops_decomposed": mean([counts.device_ops_decomposed for counts in per_frame]),
        "host_ops": mean([counts.host_ops for counts in per_frame]),
        "syncs": mean(syncs),
        "syncs_min_max": [min(syncs), max(syncs)],
        "syncs_by_kind": {kind: mean([counts.syncs[kind] for counts in per_frame]) for kind in kinds},
        "host_to_device_async": mean([counts.host_to_device_async for counts in per_frame]),
        "sync_sites": [
            {"kind": kind, "site": site, "per_frame": calls / frames}
            for (kind, site), calls in sorted(sites.items(), key=lambda item: (-item[1], item[0]))
        ],
        "tracked_objects": {"min": min(objects), "max": max(objects)},
        "frames": frames,
    }


def count_point(counter, models, tokenizer, frames, prompts: int, objects: int, warmup: int) -> dict:
    engine_model, plain_model = models
    texts = list(PROMPT_TEXTS[:prompts])
    forcing = [force_detections(model, math.ceil(objects / prompts)) for model in models]
    try:
        engine = make_engine(engine_model, tokenizer, texts, objects)
        engine_counts = count_frames(counter, engine.process, lambda: len(engine.session.obj_ids), frames, warmup)
        plain = make_plain(plain_model, tokenizer, texts, objects)
        plain_counts = count_frames(counter, plain.step, plain.tracked_objects, frames, warmup)
    finally:
        for handle in forcing:
            handle.remove()
    return {"prompts": prompts, "objects": objects, "prompt_texts": texts, "engine": engine_counts, "plain": plain_counts}


def format_table(points: list[dict]) -> str:
    header = f"{'point':<6} {'impl':<7} {'objects':>7} {'device ops':>11} {'host ops':>9} {'syncs':>6}  syncs by kind"
    lines = [header, "-" * 100]
    for point in points:
        for impl in IMPLEMENTATIONS:
            result = point[impl]
            kinds = ", ".join(f"{kind} {calls:g}" for kind, calls in result["syncs_by_kind"].items())
            lines.append(
                f"{point['prompts']}x{point['objects']:<4} {impl:<7} {result['tracked_objects']['max']:>7} "
                f"{result['device_ops']:>11,.0f} {result['host_ops']:>9,.0f} {result['syncs']:>6g}  {kinds}"
            )
    return "\n".join(lines)


def format_sites(points: list[dict], rows: int) -> str:
    lines = []
    for point in points:
        for impl in IMPLEMENTATIONS:
            lines.append(f"\n{impl} at {point['prompts']}x{point['objects']}: where the syncs are issued (per frame)")
            for site in point[impl]["sync_sites"][:rows]:
                lines.append(f"  {site['per_frame']:>6g}  {site['kind']:<24} {site['site']}")
    return "\n".join(lines)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--grid", type=parse_grid, default=parse_grid(DEFAULT_GRID), help="PROMPTSxOBJECTS,...")
    parser.add_argument("--resolution", type=parse_resolution, default=(1280, 720), help="camera resolution WxH")
    parser.add_argument("--warmup", type=int, default=DEFAULT_WARMUP, help="uncounted frames first (memory fills up)")
    parser.add_argument("--frames", type=int, default=2, help="counted frames per point and implementation")
    parser.add_argument(
        "--architecture",
        choices=("real-layer-counts", "tiny", "full"),
        default="real-layer-counts",
        help="the real-layer-count tiny model (default), the tests' tiny model (fewer layers: quick, for CI) or the full-size architecture",
    )
    parser.add_argument("--model", default="facebook/sam3", help="with --architecture full: weights to load if present")
    parser.add_argument("--device", default="cpu", help="cpu (the accelerator emulated) or cuda[:N] (observed)")
    parser.add_argument("--dtype", default="float32", help="float32, bfloat16, float16")
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: torch's choice)")
    parser.add_argument("--sites", type=int, default=8, help="sync sites printed per point and implementation")
    parser.add_argument("--json", type=Path, default=None, help="write the results here")
    args = parse_checked(parser, argv)

    device = resolve_device(args.device)
    dtype = resolve_dtype(args.dtype, device)
    counter = EmulatedAccelerator() if device.type == "cpu" else ObservedAccelerator(device)
    model_args = SimpleNamespace(
        tiny=args.architecture != "full",
        real_layer_counts=args.architecture == "real-layer-counts",
        # The detector's query count (the most objects per prompt over the grid) changes a few
        # operators: built for the default grid too, a point's counts do not depend on the others.
        grid=args.grid + parse_grid(DEFAULT_GRID),
        model=args.model,
    )
    engine_model, plain_model, tokenizer, description = load_models(model_args, device, dtype)
    frames = footage(args.resolution, args.warmup + args.frames)
    how = "emulated on the CPU" if device.type == "cpu" else f"observed on {device}"
    print(f"model: {description}, {dtype}, {engine_model.config.image_size} px input; accelerator {how}")
    print(
        f"footage: bikes.mp4 at {args.resolution[0]}x{args.resolution[1]}, {args.warmup} warm-up + {args.frames} counted frames per point"
    )

    points = []
    with counter if counter.whole_run else nullcontext():
        models = (counter.to_accelerator(engine_model), counter.to_accelerator(plain_model))
        for prompts, objects in args.grid:
            point = count_point(counter, models, tokenizer, frames, prompts, objects, args.warmup)
            points.append(point)
            print(
                f"{prompts}x{objects}: engine {point['engine']['device_ops']:,.0f} ops {point['engine']['syncs']:g} syncs, "
                f"plain {point['plain']['device_ops']:,.0f} ops {point['plain']['syncs']:g} syncs",
                flush=True,
            )

    print(format_sites(points, args.sites))
    print()
    print(format_table(points))
    if args.json:
        report = {
            "environment": environment(device),
            "model": {"description": description, "dtype": str(dtype).removeprefix("torch."), "image_size": engine_model.config.image_size},
            "accelerator": how,
            "footage": {"video": "bikes.mp4", "resolution": list(args.resolution), "warmup": args.warmup, "frames": args.frames},
            "points": points,
        }
        write_report(args.json, report)
    return 0


if __name__ == "__main__":
    sys.exit(main())
