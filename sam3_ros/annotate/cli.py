"""sam3-ros-annotate: a video or a ROS 2 recording in, tracked concept-labelled annotations out.

    python -m sam3_ros.annotate INPUT --prompt person --prompt bicycle --output DIR
    ros2 run sam3_ros sam3-ros-annotate INPUT --topic /camera/image_raw --prompt pallet --output DIR

INPUT is a video file OpenCV reads, or a rosbag2 recording (a folder with metadata.yaml, or one
.mcap or .db3 file) whose sensor_msgs/Image or CompressedImage topic is named with --topic. The
live node's engine processes every frame, none dropped, and DIR receives:

  instances.mcap     sam3_ros/InstanceArray on /sam3/instances, stamped as the source frames
  annotations.json   YouTube-VIS layout: a category per prompt, a track per annotation, COCO RLE
  annotated.mp4      the debug overlay, for a quick look

While it runs, DIR holds a journal of finished frames and an engine checkpoint every
--checkpoint-every frames. Ctrl-C (or SIGTERM) finishes the frame in progress, checkpoints and
stops; after that, or after a crash or kill, the same command plus --resume continues from the
last checkpoint with the same track ids. The outputs are written from the journal at the end.
"""

from __future__ import annotations

import argparse
import datetime
import sys
from contextlib import closing
from itertools import chain, islice
from pathlib import Path

from tqdm import tqdm

from sam3_ros.annotate.checkpoint import Checkpoint, load_checkpoint, run_differences, save_checkpoint
from sam3_ros.annotate.journal import Journal, JournalEntry
from sam3_ros.annotate.mcap_export import INSTANCES_TOPIC, InstanceMcapWriter
from sam3_ros.annotate.recording_frames import RecordingError, open_recording
from sam3_ros.annotate.vis_annotations import VisAnnotations
from sam3_ros.engine.concept_tracker import ConceptTracker, TrackerSettings
from sam3_ros.engine.frame_preprocessing import FrameError
from sam3_ros.engine.model_loading import (
    DEFAULT_MODEL,
    MODEL_BANNERS,
    TRAINED_TINY_MODEL_NAME,
    ModelLoadError,
    load_sam3,
    resolve_device,
    resolve_dtype,
)
from sam3_ros.engine.prompt_registry import PromptError, PromptRegistry, PromptRequest
from sam3_ros.engine.tiny_model import TINY_MODEL_NAME
from sam3_ros.node.stop_requests import StopRequests
from sam3_ros.outputs.debug_overlay import draw_overlay
from sam3_ros.outputs.mp4_writer import Mp4Writer

PROG = "sam3-ros-annotate"
MCAP_NAME, JSON_NAME, VIDEO_NAME = "instances.mcap", "annotations.json", "annotated.mp4"
JOURNAL_NAME, CHECKPOINT_NAME = "journal.jsonl", "checkpoint.pt"
EXIT_STOPPED = 130  # what a shell reports for a program ended by Ctrl-C
ANNOTATING, WRITING = "annotating", "writing outputs"  # the phases of a run, as its progress bars name them

REFUSALS = (RecordingError, PromptError, ModelLoadError, FrameError)


class RunError(RuntimeError):
    """The output directory's state does not allow this run; the message says what to do."""


class Stopped(Exception):
    """A stop was requested; everything up to `frames_done` is checkpointed."""

    def __init__(self, frames_done: int):
        super().__init__(frames_done)
        self.frames_done = frames_done


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog=PROG, description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("input", type=Path, help="video file, rosbag2 folder, or .mcap/.db3 file")
    parser.add_argument("--output", type=Path, required=True, metavar="DIR", help="directory for the outputs (created if missing)")
    add_annotation_options(parser)
    parser.add_argument("--resume", action="store_true", help="continue the interrupted run in --output")
    return parser.parse_args(argv)


def add_annotation_options(parser: argparse.ArgumentParser) -> None:
    """How a recording is annotated: the options sam3-ros-annotate-fleet shares with this tool."""
    parser.add_argument(
        "--prompt", action="append", required=True, metavar="TEXT", help="a concept to track (noun phrase); repeat for more"
    )
    parser.add_argument("--topic", help="image topic of a recording (needed when it has more than one)")
    parser.add_argument(
        "--model",
        default=DEFAULT_MODEL,
        help=f"hub id or local directory of SAM 3; '{TINY_MODEL_NAME}' = untrained test model, '{TRAINED_TINY_MODEL_NAME}' = tiny model trained on synthetic shapes",
    )
    parser.add_argument("--device", default="auto", help="auto, cpu, cuda or cuda:N")
    parser.add_argument("--dtype", default="auto", help="auto, float32, bfloat16 or float16")
    parser.add_argument("--max-frames", type=positive_int, metavar="N", help="annotate only the first N frames")
    parser.add_argument(
        "--checkpoint-every", type=positive_int, default=100, metavar="N", help="frames between engine checkpoints (default 100)"
    )


def positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value


def _input_bytes(path: Path) -> int:
    files = [path] if path.is_file() else [f for f in path.rglob("*") if f.is_file()]
    return sum(f.stat().st_size for f in files)


def _say(message: str) -> None:
    print(f"{PROG}: {message}", file=sys.stderr, flush=True)


def terminal_bar(desc: str, total: int | None, initial: int = 0) -> tqdm:
    """The progress bar of a run in a terminal: frames/s and the time left, on stderr."""
    return tqdm(total=total, initial=initial, unit="frame", desc=desc, dynamic_ncols=True)


def validated_prompts(texts: list[str], settings: TrackerSettings) -> list[str]:
    """The prompt texts as the engine will use them; raises PromptError for one it refuses."""
    registry = PromptRegistry(settings.max_prompts, settings.max_prompt_length, settings.max_exemplars)
    return [request.text for request in registry.validate([PromptRequest(text) for text in texts])]


def annotate(args: argparse.Namespace, bar=terminal_bar) -> dict:
    """Run the whole job; returns a summary. Raises REFUSALS, RunError or Stopped.

    bar(desc, total, initial) makes the progress bar of each phase (ANNOTATING, then WRITING): a
    context manager with update(); sam3-ros-annotate-fleet's tasks report to the driver instead.
    """
    settings = TrackerSettings()
    prompts = validated_prompts(args.prompt, settings)
    recording = open_recording(args.input, args.topic)
    device = resolve_device(args.device)
    run = {
        "input": str(args.input.resolve()),
        "input_bytes": _input_bytes(args.input),
        "topic": recording.topic,
        "prompts": prompts,
        "model": args.model,
        "device": str(device),
        "dtype": str(resolve_dtype(args.dtype, device)),
        "max_frames": args.max_frames,
    }
    journal = Journal(args.output / JOURNAL_NAME)
    checkpoint_path = args.output / CHECKPOINT_NAME
    checkpoint = _checkpoint_to_resume(args.resume, run, journal, checkpoint_path)
    start = checkpoint.frames_done if checkpoint else 0

    with closing(recording.frames(start)) as source_frames:
        frames = islice(source_frames, None if args.max_frames is None else max(0, args.max_frames - start))
        # Read (and so check) the first frame before the model loads: bad input fails in a second.
        first = next(frames, None)
        if first is None and start == 0:
            raise RecordingError(f"'{args.input}' has no frames" + (f" on {recording.topic}" if recording.topic else ""))
        model, tokenizer = load_sam3(args.model, args.device, args.dtype)
        tracker = ConceptTracker(model, tokenizer, settings)
        tracker.replace_prompts([PromptRequest(text) for text in prompts])
        if checkpoint:
            try:
                tracker.restore(checkpoint.engine)
            except ValueError as error:
                raise RunError(
                    f"--resume: the checkpoint in {checkpoint_path.parent} cannot be continued: {error}; delete "
                    f"{JOURNAL_NAME} and {CHECKPOINT_NAME} there to start over"
                ) from error
            _say(f"resuming at frame {start} from {checkpoint_path}")

        total = recording.frame_count
        if args.max_frames is not None:
            total = min(total or args.max_frames, args.max_frames)
        args.output.mkdir(parents=True, exist_ok=True)

        def save(frames_done: int) -> None:
            save_checkpoint(checkpoint_path, Checkpoint(run, frames_done, journal.size, tracker.snapshot()))

        journal.start(keep_bytes=checkpoint.journal_bytes if checkpoint else 0)
        try:
            frames = chain([first] if first else [], frames)
            with bar(ANNOTATING, total, start) as frame_bar:
                frames_done = _track(frames, tracker, journal, save, start, frame_bar, args.checkpoint_every)
        finally:
            journal.close()

    summary = _write_outputs(args, recording, journal, tracker, frames_done, bar)
    # The checkpoint goes first: a kill between the two deletions leaves a journal without a
    # checkpoint, which a resumed run redoes from the first frame, rather than a checkpoint whose
    # journal is gone, which it would refuse.
    checkpoint_path.unlink()
    journal.remove()
    return {**summary, "resumed_at": start}


def _track(frames, tracker: ConceptTracker, journal: Journal, save, start: int, bar, checkpoint_every: int) -> int:
    """Process and journal every frame; returns how many are done.

    save(frames_done) checkpoints every `checkpoint_every` frames, after the last frame, and before
    a requested stop (then Stopped is raised).
    """
    frames_done = start
    with StopRequests() as stop:
        for source in frames:
            result = tracker.process(source.rgb, stamp=source.stamp_ns)
            journal.append(JournalEntry(source.index, source.stamp_ns, source.frame_id, result))
            frames_done = source.index + 1
            bar.update()
            if stop.requested:
                save(frames_done)
                raise Stopped(frames_done)
            if frames_done % checkpoint_every == 0:
                save(frames_done)
    if frames_done % checkpoint_every:
        save(frames_done)  # all frames done: a kill while writing the outputs redoes only the writing
    return frames_done


def _checkpoint_to_resume(resume: bool, run: dict, journal: Journal, checkpoint_path: Path) -> Checkpoint | None:
    if not resume:
        if journal.exists() or checkpoint_path.exists():
            raise RunError(
                f"{checkpoint_path.parent} holds an interrupted run: add --resume to continue it, or delete "
                f"{JOURNAL_NAME} and {CHECKPOINT_NAME} there to start over"
            )
        return None
    if not checkpoint_path.exists():
        _say(f"--resume: no checkpoint in {checkpoint_path.parent} yet, starting from the first frame")
        return None
    checkpoint = load_checkpoint(checkpoint_path)
    differences = run_differences(checkpoint.run, run)
    if differences:
        raise RunError(f"--resume: the checkpoint in {checkpoint_path.parent} is of another run ({'; '.join(differences)})")
    if journal.size < checkpoint.journal_bytes:
        raise RunError(f"--resume: {journal.path} is shorter than its checkpoint recorded; delete {CHECKPOINT_NAME} to start over")
    return checkpoint


def _write_outputs(args, recording, journal: Journal, tracker: ConceptTracker, frames_done: int, bar) -> dict:
    """Render the MCAP, the VIS JSON and the MP4 from the journal, with the source frames for the video."""
    output: Path = args.output
    untrained = args.model == TINY_MODEL_NAME
    info = {
        "description": f"{PROG}: SAM 3 concept tracking",
        "source": str(args.input),
        "topic": recording.topic,
        "model": args.model,
        "untrained": untrained,
        "date_created": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
    }
    vis = VisAnnotations(args.input.stem or args.input.name, tracker.active_prompts(), info)
    mcap = InstanceMcapWriter(output / MCAP_NAME)
    video = Mp4Writer(output / VIDEO_NAME, recording.fps)
    banner = MODEL_BANNERS.get(args.model, "")
    try:
        with closing(recording.frames()) as sources, bar(WRITING, frames_done) as output_bar:
            for entry, source in zip(journal.entries(), sources):
                if entry.frame != source.index:
                    raise RuntimeError(f"journal frame {entry.frame} does not match source frame {source.index}")
                mcap.write(entry)
                vis.add(entry)
                video.write(draw_overlay(source.rgb, entry.result, banner))
                output_bar.update()
    finally:
        mcap.close()
        video.close()
    if len(vis.stamps) != frames_done:
        raise RuntimeError(f"wrote {len(vis.stamps)} frames but {frames_done} were annotated")
    vis.write(output / JSON_NAME)
    return {"frames": frames_done, "tracks": len(vis.tracks), "output": output}


def main(argv=None) -> None:
    args = parse_args(argv)
    try:
        summary = annotate(args)
    except (*REFUSALS, RunError) as error:
        raise SystemExit(f"{PROG}: {error}") from None
    except Stopped as stopped:
        _say(f"stopped after {stopped.frames_done} frames; add --resume to the same command to continue")
        raise SystemExit(EXIT_STOPPED) from None
    except KeyboardInterrupt:
        _say("interrupted; add --resume to the same command to continue from the last checkpoint")
        raise SystemExit(EXIT_STOPPED) from None
    output = summary["output"]
    _say(
        f"{summary['frames']} frames, {summary['tracks']} tracks -> {output / MCAP_NAME} ({INSTANCES_TOPIC}), "
        f"{output / JSON_NAME}, {output / VIDEO_NAME}"
    )
