#!/usr/bin/env python3
"""Train a tiny SAM 3 from scratch on the CPU on synthetic scenes (sam3_ros.synthetic).

Dev tooling, not run by CI. See docs/training.md for the commands, the curriculum and the figures.

    python tools/train_tiny_sam3.py                      # train (resumes from --out's latest checkpoint)
    python tools/train_tiny_sam3.py --eval               # recall/precision of the latest checkpoint
    python tools/train_tiny_sam3.py --export DIR         # calibrate thresholds, save_pretrained to DIR with a model card
    python tools/train_tiny_sam3.py --export sam3_ros/models/tiny-synthetic   # the packaged model:=tiny-synthetic

Stage 1 trains the detector: DETR-style set losses on one prompt per sample. Stage 2
(`--tracker-every K`, added to a run at any time, e.g. on resume) also trains the tracker every K
steps on short prompted clips, SAM 2-style, on the detector's vision features. The model is transformers' plain Sam3VideoModel built from the project's tiny config
(tools/tiny_sam3_training/model_setup.py); a checkpoint holds the whole model, so the exported
directory loads as a StreamingSam3VideoModel.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import sys
import time
from collections import defaultdict
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")  # the optional `kernels` package would try the hub
sys.path.insert(1, str(Path(__file__).resolve().parents[1]))  # sam3_ros from the source tree

import torch  # noqa: E402
from tiny_sam3_training.data import PROMPT_KINDS, tracking_clips, training_batch  # noqa: E402
from tiny_sam3_training.detector_losses import AuxiliaryOutputs, detector_losses  # noqa: E402
from tiny_sam3_training.evaluation import Evaluation, evaluate  # noqa: E402
from tiny_sam3_training.model_setup import build_model, tokenize  # noqa: E402
from tiny_sam3_training.tracker_training import tracker_losses, tracker_parameters  # noqa: E402
from transformers import AutoTokenizer, Sam3VideoConfig  # noqa: E402

from sam3_ros.engine.streaming_sam3 import StreamingSam3VideoModel  # noqa: E402
from sam3_ros.engine.tiny_model import build_tiny_tokenizer  # noqa: E402
from sam3_ros.synthetic.splits import TEST_SEEDS, VALIDATION_SEEDS  # noqa: E402

DEFAULT_OUT = Path(__file__).resolve().parents[1] / "output" / "training"
CHECKPOINT = "checkpoint-latest.pt"


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="checkpoints and logs (default: %(default)s)")
    parser.add_argument("--steps", type=int, default=1_000_000, help="stop after this many optimiser steps in all")
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--lr", type=float, default=4e-4, help="AdamW learning rate after warm-up (also on resume)")
    parser.add_argument("--warmup", type=int, default=300, help="steps of linear learning-rate warm-up")
    parser.add_argument("--clip", type=float, default=1.0, help="gradient norm clip")
    parser.add_argument("--threads", type=int, default=1, help="torch threads (default 1: leave a core free)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the initial weights")
    parser.add_argument("--log-every", type=int, default=50, help="print mean losses every N steps")
    parser.add_argument("--checkpoint-minutes", type=float, default=5.0)
    parser.add_argument("--eval-minutes", type=float, default=20.0, help="a quick validation every N minutes of training (0: never)")
    parser.add_argument("--eval-frames", type=int, default=100, help="validation frames of the quick evaluation")
    parser.add_argument(
        "--init-from",
        type=Path,
        metavar="CHECKPOINT",
        help="start a new run (empty --out) from this checkpoint's weights where shapes agree",
    )
    parser.add_argument("--tracker-every", type=int, default=0, help="a tracker step on clips every K detector steps (0: detector only)")
    parser.add_argument("--clip-batch", type=int, default=4, help="clips per tracker step")
    parser.add_argument("--clip-length", type=int, default=4, help="frames per clip, the prompted one included")
    parser.add_argument("--eval", action="store_true", help="evaluate the latest checkpoint: calibrate on validation, report on test")
    parser.add_argument("--export", type=Path, metavar="DIR", help="calibrate, then write the model and tokenizer to DIR")
    parser.add_argument("--calibration-frames", type=int, default=300, help="validation frames for threshold calibration")
    parser.add_argument("--test-frames", type=int, default=300, help="test frames reported by --eval")
    parser.add_argument("--test-clips", type=int, default=30, help="test clips per prompt kind for the tracker figures of --eval")
    parser.add_argument("--test-clip-length", type=int, default=8)
    return parser.parse_args(argv)


# --- checkpoints -------------------------------------------------------------------------------


def save_checkpoint(out: Path, model, optimizer, tracker_optimizer, step: int, next_clip: int) -> None:
    """Atomically: the latest checkpoint is always whole, even if the run is killed mid-write."""
    out.mkdir(parents=True, exist_ok=True)
    state = {
        "model": model.state_dict(),
        "optimizer": optimizer.state_dict(),
        "tracker_optimizer": tracker_optimizer.state_dict(),
        "step": step,
        "next_clip": next_clip,
        "config": model.config.to_dict(),
        "torch_rng": torch.get_rng_state(),
    }
    partial = out / (CHECKPOINT + ".partial")
    torch.save(state, partial)
    partial.replace(out / CHECKPOINT)


def load_model(out: Path, seed: int, init_from: Path | None = None):
    """(model, checkpoint state or None): from --out's latest checkpoint, else freshly initialised
    (with the weights of `init_from` wherever their shapes agree with this script's model)."""
    path = out / CHECKPOINT
    if path.exists():
        state = torch.load(path, map_location="cpu", weights_only=False)
        model = build_model(Sam3VideoConfig.from_dict(state["config"]))
        model.load_state_dict(state["model"])
        return model, state
    torch.manual_seed(seed)
    model = build_model()
    if init_from is not None:
        own = model.state_dict()
        weights = torch.load(init_from, map_location="cpu", weights_only=False)["model"]
        kept = {name: value for name, value in weights.items() if name in own and own[name].shape == value.shape}
        model.load_state_dict(kept, strict=False)
        print(f"initialised from {init_from}: {len(kept)} of {len(own)} tensors; new: {sorted(set(own) - set(kept))}", flush=True)
    return model, None


# --- training ----------------------------------------------------------------------------------


class RunningMeans:
    """Means of the logged values since the last print (tracker terms come only every K steps)."""

    def __init__(self):
        self.sums: dict[str, float] = defaultdict(float)
        self.counts: dict[str, int] = defaultdict(int)

    def add(self, name: str, value: float) -> None:
        self.sums[name] += value
        self.counts[name] += 1

    def line(self) -> str:
        text = " ".join(f"{name} {total / self.counts[name]:.3f}" for name, total in self.sums.items())
        self.sums.clear()
        self.counts.clear()
        return text


def train(args: argparse.Namespace) -> None:
    model, state = load_model(args.out, args.seed, args.init_from)
    detector = model.detector_model.train()
    auxiliary = AuxiliaryOutputs(detector)
    model.tracker_model.train()
    model.tracker_neck.train()
    tokenizer = build_tiny_tokenizer()
    optimizer = torch.optim.AdamW(detector.parameters(), lr=args.lr, weight_decay=0.05)
    tracker_optimizer = torch.optim.AdamW(tracker_parameters(model), lr=args.lr, weight_decay=0.05)
    step = next_clip = 0
    if state is not None:
        optimizer.load_state_dict(state["optimizer"])
        if "tracker_optimizer" in state:
            tracker_optimizer.load_state_dict(state["tracker_optimizer"])
        torch.set_rng_state(state["torch_rng"])
        step, next_clip = state["step"], state.get("next_clip", 0)
        print(f"resumed from {args.out / CHECKPOINT} at step {step}", flush=True)
    parameters = sum(p.numel() for p in model.parameters())
    stages = "detector" + (f" + tracker every {args.tracker_every} steps" if args.tracker_every else "")
    print(
        f"training the {stages}: {parameters / 1e6:.2f} M parameters, batch {args.batch}, {args.threads} thread(s), out {args.out}",
        flush=True,
    )

    stop = []
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: stop.append(True))
    means = RunningMeans()
    last_checkpoint = last_eval = window_start = time.monotonic()
    while step < args.steps and not stop:
        warmup = min(1.0, (step + 1) / args.warmup)
        for group in optimizer.param_groups + tracker_optimizer.param_groups:
            group["lr"] = args.lr * warmup
        pixels, targets = training_batch(step * args.batch, args.batch)
        text = tokenize(tokenizer, [t.phrase for t in targets])
        outputs = detector(pixel_values=pixels, input_ids=text.input_ids, attention_mask=text.attention_mask)
        losses = detector_losses(outputs, targets, auxiliary.layers())
        optimizer.zero_grad(set_to_none=True)
        losses["total"].backward()
        means.add("grad_norm", float(torch.nn.utils.clip_grad_norm_(detector.parameters(), args.clip)))
        optimizer.step()
        if args.tracker_every and step % args.tracker_every == 0:
            clip, next_clip = tracking_clips(next_clip, args.clip_batch, args.clip_length)
            track, mean_iou = tracker_losses(model, clip)
            tracker_optimizer.zero_grad(set_to_none=True)
            track["track_total"].backward()
            torch.nn.utils.clip_grad_norm_(tracker_parameters(model), args.clip)
            tracker_optimizer.step()
            losses.update(track)
            means.add("track_iou_visible", mean_iou)
        step += 1
        for name, value in losses.items():
            means.add(name, float(value.detach()))
        if step % args.log_every == 0:
            elapsed = time.monotonic() - window_start
            print(f"step {step} | {1000 * elapsed / args.log_every:.0f} ms/step | {means.line()}", flush=True)
            window_start = time.monotonic()
        now = time.monotonic()
        if now - last_checkpoint >= 60 * args.checkpoint_minutes:
            save_checkpoint(args.out, model, optimizer, tracker_optimizer, step, next_clip)
            last_checkpoint = now
        if args.eval_minutes and now - last_eval >= 60 * args.eval_minutes:
            started = time.monotonic()
            evaluation = evaluate(detector, tokenizer, VALIDATION_SEEDS[: args.eval_frames], model.config.det_nms_thresh)
            print(
                f"eval step {step} ({time.monotonic() - started:.0f} s) best {evaluation.summary(evaluation.best_threshold())}", flush=True
            )
            print(f"eval step {step} at 0.5 {evaluation.summary(0.5)}", flush=True)
            last_eval = window_start = time.monotonic()
    save_checkpoint(args.out, model, optimizer, tracker_optimizer, step, next_clip)
    print(f"stopped at step {step}; checkpoint {args.out / CHECKPOINT}", flush=True)


# --- evaluation, calibration, export -----------------------------------------------------------


def calibrate(model, tokenizer, frames: int) -> tuple[dict[str, float], Evaluation]:
    """Thresholds from the validation split: detections at the best F1, new tracks at the best F0.5
    (a new track costs more when wrong than a missed frame), never below the detection threshold."""
    evaluation = evaluate(model.detector_model, tokenizer, VALIDATION_SEEDS[:frames], model.config.det_nms_thresh)
    detection = evaluation.best_threshold(beta=1.0)
    new_track = max(detection, evaluation.best_threshold(beta=0.5))
    return {"score_threshold_detection": detection, "new_det_thresh": new_track}, evaluation


@torch.no_grad()
def evaluate_tracker(model, seeds: range, clips: int, length: int) -> str:
    """Mean IoU of the tracked mask with the visible object, frames after the prompt, per prompt kind."""
    model.eval()
    results = []
    for kind in PROMPT_KINDS:
        clip, _ = tracking_clips(0, clips, length, seed_start=seeds.start, prompt_kind=kind)
        losses, mean_iou = tracker_losses(model, clip)
        results.append(f"{kind} IoU {mean_iou:.3f} (object-score BCE {float(losses['track_object']):.3f})")
    return "; ".join(results)


def run_eval(args: argparse.Namespace) -> None:
    model, state = load_model(args.out, args.seed)
    step = state["step"] if state else 0
    tokenizer = build_tiny_tokenizer()
    thresholds, validation = calibrate(model, tokenizer, args.calibration_frames)
    print(f"step {step} validation ({args.calibration_frames} frames): best {validation.summary(thresholds['score_threshold_detection'])}")
    print(f"step {step} validation at 0.5: {validation.summary(0.5)}")
    test = evaluate(model.detector_model, tokenizer, TEST_SEEDS[: args.test_frames], model.config.det_nms_thresh)
    for name, threshold in thresholds.items():
        print(f"step {step} test ({args.test_frames} frames) at {name}: {test.summary(threshold)}")
    print(f"step {step} test at 0.5: {test.summary(0.5)}")
    tracking = evaluate_tracker(model, TEST_SEEDS, args.test_clips, args.test_clip_length)
    print(f"step {step} tracker ({args.test_clips} test clips of {args.test_clip_length} frames per prompt kind): {tracking}")


MODEL_CARD = """# tiny-synthetic: a tiny SAM 3 trained on synthetic coloured shapes

`model:=tiny-synthetic` in sam3_ros. A SAM 3 (transformers' `Sam3VideoModel`, the project's tiny
config: {parameters:,} parameters) trained from scratch on the CPU with `tools/train_tiny_sam3.py`
on `sam3_ros.synthetic` scenes, never on real images: it knows the phrases of that vocabulary
(colours red, green, blue, yellow; shapes circle, square, triangle: "red circle", "triangle", ...)
and nothing else. It exists so that sam3_ros's tests, benchmarks and demo can show tracking that
means something on a machine without SAM 3's gated weights; it is no substitute for them.

- Training: {step:,} optimiser steps (docs/training.md has the commands, the curriculum and the
  figures along the way); the training scenes' seeds never overlap the validation (1000-1999) and
  test (0-999) seeds.
- Thresholds calibrated on {frames} validation frames (in config.json and calibration.json):
  detection {detection:.2f} (best F1), new tracks {new_track:.2f} (best F0.5).
- Validation at those thresholds: {validation}.
- Licence: Apache-2.0, as sam3_ros.
"""


def export(args: argparse.Namespace) -> None:
    model, state = load_model(args.out, args.seed)
    tokenizer = build_tiny_tokenizer()
    thresholds, validation = calibrate(model, tokenizer, args.calibration_frames)
    for name, value in thresholds.items():
        setattr(model.config, name, value)
    model.save_pretrained(args.export)
    tokenizer.save_pretrained(args.export)
    figures = validation.summary(thresholds["score_threshold_detection"])
    (args.export / "calibration.json").write_text(json.dumps({**thresholds, "validation": figures}, indent=2))
    (args.export / "README.md").write_text(
        MODEL_CARD.format(
            parameters=sum(p.numel() for p in model.parameters()),
            step=state["step"] if state else 0,
            frames=args.calibration_frames,
            detection=thresholds["score_threshold_detection"],
            new_track=thresholds["new_det_thresh"],
            validation=figures,
        )
    )
    loaded = StreamingSam3VideoModel.from_pretrained(args.export)
    AutoTokenizer.from_pretrained(args.export)
    assert loaded.config.score_threshold_detection == thresholds["score_threshold_detection"]
    print(f"exported to {args.export}: {thresholds}; it loads as StreamingSam3VideoModel and AutoTokenizer")


def main(argv=None) -> None:
    args = parse_args(argv)
    torch.set_num_threads(args.threads)
    if args.export:
        export(args)
    elif args.eval:
        run_eval(args)
    else:
        train(args)


if __name__ == "__main__":
    main()
