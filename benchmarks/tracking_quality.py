"""Tracking quality on held-out synthetic sequences: the engine, transformers' streaming loop and a per-frame detector.

    python benchmarks/tracking_quality.py --threads 1                       # tiny-random, 8 test sequences x 48 frames
    python benchmarks/tracking_quality.py --model output/tiny-sam3-shapes --sequences 50 --json quality.json
    python benchmarks/tracking_quality.py --sequences 1 --frames 6 --trackers engine,per-frame   # it runs
    python benchmarks/tracking_quality.py --model tiny-synthetic --trackers engine,node   # the node over ROS too

Sequences: `sam3_ros.synthetic.generate_sequence` of the first --sequences seeds of a held-out
split (docs/training.md: test seeds 0-999, validation 1000-1999), --frames frames at --resolution.
Prompts: each phrase of the vocabulary that names an object seen in the sequence, and one phrase
that names none (drawn from the seed), all tracked at once in one session per sequence and tracker.
A seed's scene depends on --frames too (motion is drawn frame by frame): compare runs of one length.

Trackers (--trackers; default all but node), each on the same frames and weights:
- engine: sam3_ros's ConceptTracker with its default settings (the model's own thresholds);
- transformers: transformers' documented streaming loop on a plain Sam3VideoModel (plain_transformers_loop.py);
- per-frame: the detector alone on every frame (upstream's `run_detection`: score threshold and mask
  NMS of the model), its masks given ids by one-to-one mask-IoU matching (Hungarian, IoU >= 0.3) with
  the previous frame's, a new id where none matches: what a simple per-frame SAM 3 wrapper does.
- node: the installed sam3_ros node (config/sam3.yaml, the phrases as its prompts), one per
  sequence, sent each frame over ROS and waited for, its published instances decoded: what a robot
  subscribing to ~/instances gets (ROS_DOMAIN_ID from the environment).
The first three run the same detection NMS and mask hole filling (`load_sam3` installs them
process-wide; the node installs the same in its own process).

Figures (sam3_ros.synthetic.tracking_metrics), all on masks at the frame's resolution: HOTA, DetA,
AssA, LocA (TrackEval), IDF1, MOTA, ID switches (motmetrics), detection recall and precision at
IoU >= 0.5, and the share of occlusions (an object inside the frame showing under 10 % of itself
behind nearer ones, then seen again) after which the object has the id it had before. Per present
prompt over the sequences that have it, for the absent prompts (false positives only), and overall.
--model tiny-random (default) is untrained: its figures only show that the benchmark works.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib.metadata
import itertools
import os
import platform
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from plain_transformers_loop import PlainStreamingLoop, plain_copy, processor_kind
from stream_benchmark import parse_resolution, write_report
from transformers import Sam3VideoModel

from sam3_ros.engine.concept_tracker import ConceptTracker, TrackerSettings
from sam3_ros.engine.model_loading import load_sam3
from sam3_ros.engine.tiny_model import TINY_MODEL_NAME, UNTRAINED_BANNER
from sam3_ros.synthetic import generate_sequence
from sam3_ros.synthetic.evaluation import Step, Tracks, concept_tracker_step, run_tracker, sequence_prompts, tracker_summary
from sam3_ros.synthetic.splits import TEST_SEEDS, VALIDATION_SEEDS
from sam3_ros.synthetic.tracking_metrics import Masks, mask_ious, occlusion_events, one_to_one

SPLITS = {"test": TEST_SEEDS, "validation": VALIDATION_SEEDS}
# The usual threshold of IoU trackers; below the metrics' 0.5 so that a small, fast object still links.
LINK_IOU = 0.3


@dataclass(frozen=True)
class Models:
    engine: torch.nn.Module  # StreamingSam3VideoModel
    plain: Sam3VideoModel  # the same weights in transformers' own class
    tokenizer: object


def engine_tracker(models: Models, phrases: list[str]) -> Step:
    return concept_tracker_step(ConceptTracker(models.engine, models.tokenizer, TrackerSettings()), phrases)


def transformers_tracker(models: Models, phrases: list[str]) -> Step:
    loop = PlainStreamingLoop(models.plain, models.tokenizer, phrases)

    def step(frame: np.ndarray) -> Tracks:
        output = loop.step(frame)
        masks = dict(zip(output["object_ids"].tolist(), output["masks"].cpu().numpy()))
        tracks: Tracks = {phrase: {} for phrase in phrases}
        for phrase, obj_ids in output["prompt_to_obj_ids"].items():
            tracks[phrase] = {obj_id: masks[obj_id] for obj_id in obj_ids}
        return tracks

    return step


def linked(previous: Masks, masks: list[np.ndarray], new_ids: Iterator[int]) -> dict[int, np.ndarray]:
    """This frame's masks with ids: that of the previous frame's mask each one matches (one to one, IoU >= LINK_IOU), else a new one."""
    previous_ids = list(previous)
    inherited = {col: previous_ids[row] for row, col in one_to_one(mask_ious(list(previous.values()), masks), LINK_IOU)}
    return {inherited[index] if index in inherited else next(new_ids): mask for index, mask in enumerate(masks)}


def per_frame_tracker(models: Models, phrases: list[str]) -> Step:
    # The plain loop only for its documented processor and a session holding the prompts' tokens;
    # the video model itself never runs, only its detector.
    loop = PlainStreamingLoop(models.plain, models.tokenizer, phrases)
    dtype = next(models.plain.parameters()).dtype
    new_ids = itertools.count(1)
    tracks: Tracks = {phrase: {} for phrase in phrases}

    @torch.inference_mode()
    def step(frame: np.ndarray) -> Tracks:
        inputs = loop.processor(images=frame, device=loop.device, return_tensors="pt")
        vision_embeds = models.plain.detector_model.get_vision_features(pixel_values=inputs.pixel_values.to(dtype))
        for prompt_id, detections in models.plain.run_detection(loop.session, vision_embeds).items():
            # as the processor's postprocess_outputs: bilinear to the frame's size, logits > 0, empty masks dropped
            logits = F.interpolate(detections["mask"][:, None].float(), size=frame.shape[:2], mode="bilinear", align_corners=False)
            masks = [mask for mask in (logits[:, 0] > 0).cpu().numpy() if mask.any()]
            phrase = loop.session.prompts[prompt_id]
            tracks[phrase] = linked(tracks[phrase], masks, new_ids)
        return dict(tracks)

    return step


REPO = Path(__file__).resolve().parents[1]
NODE_IMAGE_TOPIC = "/tracking_quality/image_raw"


@contextlib.contextmanager
def node_tracker(model: str, phrases: list[str], log_path: Path) -> Iterator[Step]:
    """The installed node as a tracker: started with the phrases as its prompts (config/sam3.yaml
    otherwise), sent each frame over ROS and waited for (sam3_ros.demo.paced_camera), its published
    instances decoded; one node per sequence, as the engine gets one session per sequence."""
    from rclpy.node import Node

    from sam3_ros.demo.paced_camera import PacedCamera
    from sam3_ros.node.node_process import NodeProcess

    parameters = {"model": model, "prompts": phrases}
    node = NodeProcess(log_path, params_file=REPO / "config" / "sam3.yaml", parameters=parameters, remappings={"image": NODE_IMAGE_TOPIC})
    client = Node("tracking_quality_camera")
    try:
        camera = PacedCamera(client, NODE_IMAGE_TOPIC)
        if not camera.wait_for_node(timeout=300):
            raise RuntimeError(f"the node did not subscribe to {NODE_IMAGE_TOPIC} within 300 s: see {log_path}")
        yield camera.step(phrases)
    finally:
        client.destroy_node()
        node.stop(timeout=10)


TRACKERS = {"engine": engine_tracker, "transformers": transformers_tracker, "per-frame": per_frame_tracker, "node": None}


COLUMNS = ("HOTA", "DetA", "AssA", "LocA", "IDF1", "MOTA", "id_switches", "recall", "precision")


def format_row(label: str, tracker: str, summary: dict) -> str:
    cells = [
        "-" if summary[name] is None else f"{summary[name]:.3f}" if isinstance(summary[name], float) else str(summary[name])
        for name in COLUMNS
    ]
    counts = summary["counts"]
    occlusions = f"{counts['occlusion_ids_kept']}/{counts['occlusions_tracked_before']} of {counts['occlusion_events']}"
    return f"{label:<16} {tracker:<13} " + " ".join(f"{cell:>9}" for cell in cells) + f" {counts['false_positives']:>6} {occlusions:>13}"


def format_tables(summary: dict) -> str:
    header = f"{'prompts':<16} {'tracker':<13} " + " ".join(f"{name[:9]:>9}" for name in COLUMNS) + f" {'FP':>6} {'occl. kept':>13}"
    lines = [header, "-" * len(header)]
    for tracker, figures in summary.items():
        lines.append(format_row("all", tracker, figures["overall"]))
        lines.append(format_row("absent", tracker, figures["absent_prompts"]))
    lines += ["", header, "-" * len(header)]
    phrases = list(dict.fromkeys(phrase for figures in summary.values() for phrase in figures["per_prompt"]))
    for phrase in phrases:
        for tracker, figures in summary.items():
            lines.append(format_row(phrase, tracker, figures["per_prompt"][phrase]))
    lines.append("occl. kept: occlusions after which the id is the one before / occlusions the tracker had the object before, of all")
    lines += [f"{tracker}: {figures['ms_per_frame']:.1f} ms per frame in the tracker" for tracker, figures in summary.items()]
    return "\n".join(lines)


def parse_trackers(text: str) -> list[str]:
    names = [name.strip() for name in text.split(",") if name.strip()]
    unknown = [name for name in names if name not in TRACKERS]
    if unknown or not names:
        raise argparse.ArgumentTypeError(f"unknown tracker(s) {', '.join(unknown) or '(none given)'}: choose from {', '.join(TRACKERS)}")
    return names


def record(args, model, sequences: list[dict], summary: dict) -> dict:
    device = next(model.parameters()).device
    return {
        "benchmark": "tracking_quality",
        "date": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "command": " ".join([Path(sys.argv[0]).name, *sys.argv[1:]]),
        "machine": {
            "cpus": os.cpu_count(),
            "platform": platform.platform(),
            "device": str(device),
            "gpu": torch.cuda.get_device_name(device) if device.type == "cuda" else None,
            "torch_threads": torch.get_num_threads(),
        },
        "versions": {
            "python": platform.python_version(),
            **{name: importlib.metadata.version(name) for name in ("torch", "transformers", "numpy", "trackeval", "motmetrics")},
        },
        "arguments": {key: str(value) if isinstance(value, Path) else value for key, value in vars(args).items()},
        "untrained": args.model == TINY_MODEL_NAME,
        "mask_kernels": model.mask_kernels,
        "plain_processor": processor_kind(),
        "sequences": sequences,
        "summary": summary,
    }


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default=TINY_MODEL_NAME, help=f"{TINY_MODEL_NAME} (default) or a directory of exported SAM 3 weights")
    parser.add_argument(
        "--trackers",
        type=parse_trackers,
        default=[name for name in TRACKERS if name != "node"],
        help=f"comma-separated, of {','.join(TRACKERS)}",
    )
    parser.add_argument("--split", choices=SPLITS, default="test", help="held-out seeds: test 0-999 (default), validation 1000-1999")
    parser.add_argument("--sequences", type=int, default=8, help="the split's first N seeds")
    parser.add_argument("--frames", type=int, default=48, help="frames per sequence")
    parser.add_argument("--resolution", type=parse_resolution, default=(320, 240), help="frame size WxH")
    parser.add_argument("--device", default="auto", help="auto, cpu, cuda, cuda:N")
    parser.add_argument("--dtype", default="auto", help="auto (bf16 on GPU, fp32 on CPU), float32, bfloat16, float16")
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: torch's choice)")
    parser.add_argument("--json", type=Path, default=None, help="write the record here")
    args = parser.parse_args(argv)
    seeds = SPLITS[args.split]
    if not 1 <= args.sequences <= len(seeds) or args.frames < 1:
        parser.error(f"--sequences must be 1..{len(seeds)} and --frames at least 1")
    if args.threads:
        torch.set_num_threads(args.threads)

    log_dir = Path(tempfile.mkdtemp(prefix="tracking_quality_"))
    if "node" in args.trackers:
        import rclpy

        from sam3_ros.node.node_process import use_large_image_transport

        use_large_image_transport()  # this process's camera and the node alike
        rclpy.init()
        print(f"node: the installed node with config/sam3.yaml on ROS_DOMAIN_ID {os.environ.get('ROS_DOMAIN_ID', '0')}; logs in {log_dir}")
    engine_model, tokenizer = load_sam3(args.model, device=args.device, dtype=args.dtype)
    models = Models(engine_model, plain_copy(engine_model), tokenizer)
    if args.model == TINY_MODEL_NAME:
        print(f"*** {UNTRAINED_BANNER}: these figures only show that the benchmark works ***")
    # process-wide (transformers keeps it in a module global): every tracker runs the same NMS and hole filling
    print(f"detection NMS and hole filling: {engine_model.mask_kernels}; plain loop: {processor_kind()}")
    width, height = args.resolution
    results = {name: [] for name in args.trackers}
    seconds = dict.fromkeys(args.trackers, 0.0)
    sequences = []
    for seed in seeds[: args.sequences]:
        sequence = generate_sequence(seed, width, height, args.frames)
        images, frames = map(list, zip(*sequence))
        prompts = sequence_prompts(seed, frames)
        events = occlusion_events(sequence.scene, frames)
        sequences.append(
            {"seed": seed, "present_prompts": prompts.present, "absent_prompt": prompts.absent, "occlusion_events": len(events)}
        )
        print(
            f"seed {seed}: {', '.join(prompts.present)}; absent: {prompts.absent}; {len(events)} occlusion event(s) of any object",
            flush=True,
        )
        phrases = [*prompts.present, prompts.absent]
        for name in args.trackers:
            if name == "node":
                running = node_tracker(args.model, phrases, log_dir / f"node-seed-{seed}.log")
            else:
                running = contextlib.nullcontext(TRACKERS[name](models, phrases))
            with running as step:
                sequence_results, sequence_seconds = run_tracker(step, images, frames, prompts, events)
            results[name] += sequence_results
            seconds[name] += sequence_seconds
    total_frames = args.sequences * args.frames
    summary = {name: tracker_summary(results[name], seconds[name], total_frames) for name in args.trackers}
    print()
    print(format_tables(summary))
    if args.json:
        write_report(args.json, record(args, engine_model, sequences, summary))
    if "node" in args.trackers:
        rclpy.try_shutdown()
    return 0


if __name__ == "__main__":
    sys.exit(main())
