"""sam3-ros-annotate-fleet: many recordings annotated on Ray, one task (and one engine) per recording.

    python -m sam3_ros.annotate.fleet /data/bags '/data/videos/**/*.mp4' --prompt person --output /data/annotations
    RAY_ADDRESS=head-node:6379 sam3-ros-annotate-fleet /shared/bags --prompt pallet --output /shared/annotations

INPUT is a video file, a rosbag2 recording (a folder with metadata.yaml, or one .mcap or .db3
file), a folder that is searched for recordings, or a glob pattern. Each recording is annotated
exactly as `sam3-ros-annotate --resume` does it (same options, same outputs) into its own folder
OUTPUT/NAME/ (NAME: the recording's name without suffix, -2, -3... when names repeat), and
OUTPUT/manifest.json lists every recording with its status, figures and output files.

With no --ray-address (and no RAY_ADDRESS), Ray starts inside this command (its own, even where
`ray start` runs one on this machine) and uses this machine's GPUs (one per task) or, without
CUDA, its cores. A recording that cannot be read fails alone; a task whose worker dies is retried
by Ray and resumes from its checkpoint; running the same command again skips finished recordings
and resumes the others. Ctrl-C (or SIGTERM) asks every task to
finish its frame and checkpoint, then stops; a second Ctrl-C stops at once.
"""

from __future__ import annotations

import argparse
import logging
import os
import signal
import socket
import sys
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

import ray
from ray.exceptions import RayError, RayTaskError, TaskCancelledError
from tqdm import tqdm

from sam3_ros.annotate.checkpoint import run_differences
from sam3_ros.annotate.cli import (
    EXIT_STOPPED,
    JSON_NAME,
    MCAP_NAME,
    VIDEO_NAME,
    add_annotation_options,
    positive_int,
    validated_prompts,
)
from sam3_ros.annotate.fleet_inputs import InputError, find_recordings, output_names
from sam3_ros.annotate.fleet_task import ProgressBoard, annotate_recording
from sam3_ros.annotate.manifest import (
    FINISHED,
    MANIFEST_NAME,
    Manifest,
    ManifestError,
    RecordingEntry,
    read_manifest,
)
from sam3_ros.annotate.recording_frames import RecordingError, open_recording
from sam3_ros.engine.concept_tracker import TrackerSettings
from sam3_ros.engine.prompt_registry import PromptError

PROG = "sam3-ros-annotate-fleet"
OUTPUT_FILES = (MCAP_NAME, JSON_NAME, VIDEO_NAME)
POLL_S = 0.5
CONNECT_TIMEOUT_S = 10
EXIT_FAILED = 1


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog=PROG, description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("inputs", nargs="+", metavar="INPUT", help="recordings, folders to search, or glob patterns (quote them)")
    parser.add_argument("--output", type=Path, required=True, metavar="ROOT", help="output root: a folder per recording and manifest.json")
    add_annotation_options(parser)
    ray_options = parser.add_argument_group("Ray")
    ray_options.add_argument(
        "--ray-address",
        default=os.environ.get("RAY_ADDRESS"),
        help="join this Ray cluster: HEAD:PORT, or auto for the one `ray start` runs here (default: $RAY_ADDRESS; none: start Ray here)",
    )
    ray_options.add_argument("--num-cpus", type=positive_int, metavar="N", help="cores the Ray started here may use (default: all)")
    ray_options.add_argument(
        "--workers", type=positive_int, metavar="N", help="at most N recordings at once (default: as many as the GPUs or cores allow)"
    )
    ray_options.add_argument(
        "--gpus-per-task", type=float, metavar="G", help="GPUs per recording (default: 1 where the cluster has GPUs, else 0)"
    )
    ray_options.add_argument(
        "--cpus-per-task", type=float, default=1.0, metavar="C", help="cores per recording (default 1; on the CPU also its torch threads)"
    )
    ray_options.add_argument(
        "--retries", type=int, default=3, metavar="N", help="times a recording is retried when its worker dies (default 3)"
    )
    args = parser.parse_args(argv)
    if args.ray_address and args.num_cpus:
        parser.error("--num-cpus is for the Ray started here; a cluster's nodes declare their own (ray start --num-cpus)")
    return args


class FleetError(RuntimeError):
    """The command cannot start; the message says why and what to do."""


@dataclass
class Planned:
    entry: RecordingEntry
    frames: int  # expected frames to annotate (0 when the recording does not say)


@dataclass
class Plan:
    manifest: Manifest
    named: list[RecordingEntry]  # the entries of the recordings this command names
    to_run: list[Planned]


def _settings(args: argparse.Namespace, prompts: list[str]) -> dict:
    """What the outputs depend on: a root holds recordings annotated with one set of these."""
    return {
        "prompts": prompts,
        "topic": args.topic,
        "model": args.model,
        "device": args.device,
        "dtype": args.dtype,
        "max_frames": args.max_frames,
    }


def plan(args: argparse.Namespace) -> Plan:
    """The manifest of this run and the recordings to annotate; raises FleetError."""
    try:
        prompts = validated_prompts(args.prompt, TrackerSettings())
        recordings = find_recordings(args.inputs)
    except (PromptError, InputError) as error:
        raise FleetError(str(error)) from None
    root = args.output.resolve()
    root.mkdir(parents=True, exist_ok=True)
    settings = _settings(args, prompts)
    try:
        earlier = read_manifest(root)
    except ManifestError as error:
        raise FleetError(str(error)) from None
    if earlier and earlier.settings != settings:
        raise FleetError(
            f"{root} holds annotations made with other settings ({'; '.join(run_differences(earlier.settings, settings))}); "
            "choose another --output"
        )
    earlier_entries = {Path(entry.input): entry for entry in earlier.recordings} if earlier else {}
    names = output_names(recordings, {path: Path(entry.output).name for path, entry in earlier_entries.items()})

    entries, to_run = [], []
    for recording in recordings:
        output = root / names[recording]
        before = earlier_entries.get(recording)
        if before and before.status in FINISHED and all((output / name).is_file() for name in OUTPUT_FILES):
            entries.append(RecordingEntry(**{**vars(before), "status": "skipped", "attempts": 0}))
            continue
        entry = RecordingEntry(str(recording), str(output))
        entries.append(entry)
        try:
            frames = open_recording(recording, args.topic).frame_count or 0
        except RecordingError as error:
            entry.status, entry.reason = "failed", str(error)
            continue
        to_run.append(Planned(entry, min(frames, args.max_frames or frames)))
    # The manifest describes the root: recordings of earlier runs that this command does not name
    # stay listed as they were.
    others = [entry for path, entry in earlier_entries.items() if path not in names]
    return Plan(Manifest(settings, entries + others), entries, to_run)


def _recording_args(args: argparse.Namespace, entry: RecordingEntry) -> argparse.Namespace:
    """The single tool's arguments for one recording: the shared options, its input and output."""
    return argparse.Namespace(**{**vars(args), "input": Path(entry.input), "output": Path(entry.output)})


def _connect(args: argparse.Namespace) -> bool:
    """Start or join Ray; True when this command started it (and so shuts it down). Raises FleetError."""
    if ray.is_initialized():  # a caller (a notebook, the tests) already chose the cluster
        return False
    if args.ray_address:
        _check_reachable(args.ray_address)
    try:
        ray.init(
            # "local": a new Ray even where `ray start` left a cluster's address in /tmp/ray
            # (address=None would join that one, and refuse --num-cpus).
            address=args.ray_address or "local",
            num_cpus=args.num_cpus,
            include_dashboard=False,
            log_to_driver=False,  # the workers' own bars and logs stay in Ray's log folder
            logging_level=logging.WARNING,
        )
    except (OSError, RuntimeError, ValueError) as error:
        reason = " ".join(str(error).split()).rstrip(".")
        if args.ray_address:
            raise FleetError(_join_failure(args.ray_address, reason)) from None
        raise FleetError(f"cannot start Ray on this machine: {reason}; Ray's logs: /tmp/ray/session_latest/logs") from None
    return not args.ray_address


def _check_reachable(address: str) -> None:
    """Refuses at once an address where nothing answers: Ray itself retries it for about 14 minutes."""
    parts = urlsplit(address if "://" in address else f"//{address}")
    try:
        host, port = parts.hostname, parts.port
    except ValueError:  # not HOST:PORT; ray.init says what is wrong with it
        return
    if not (host and port):  # "auto" (the cluster `ray start` started on this machine), or malformed
        return
    try:
        socket.create_connection((host, port), timeout=CONNECT_TIMEOUT_S).close()
    except OSError as error:
        raise FleetError(_join_failure(address, f"nothing answers at {host}:{port} ({error})")) from None


def _join_failure(address: str, reason: str) -> str:
    return (
        f"cannot join the Ray cluster at {address}: {reason}; check the address (--ray-address, else $RAY_ADDRESS: "
        f"the head node's HOST:PORT, port 6379 unless its `ray start --head --port` chose another), that the cluster "
        f"is up (`ray status` on the head node) and that it runs Ray {ray.__version__} as this machine does"
    )


class FleetRun:
    """The driver: submits the tasks, follows them, keeps the manifest and the progress bar."""

    def __init__(self, args: argparse.Namespace, manifest: Manifest, to_run: list[Planned]):
        self.args, self.manifest, self.root = args, manifest, args.output.resolve()
        self.waiting = list(to_run)
        self.in_flight: dict[ray.ObjectRef, Planned] = {}
        self.finished: dict[str, int] = {}  # input -> frames annotated by this run
        self.outcomes = Counter()
        self.expected = {planned.entry.input: planned.frames for planned in to_run}
        gpus = args.gpus_per_task
        if gpus is None:
            gpus = 1.0 if ray.cluster_resources().get("GPU", 0) > 0 and args.device != "cpu" else 0.0
        self.task = ray.remote(annotate_recording).options(num_cpus=args.cpus_per_task, num_gpus=gpus, max_retries=args.retries)
        self.board = ray.remote(ProgressBoard).options(num_cpus=0).remote()
        self.bar = tqdm(total=sum(self.expected.values()), unit="frame", desc=f"{len(to_run)} recordings", dynamic_ncols=True)
        self.progress = {}

    def run(self) -> None:
        while self.waiting or self.in_flight:
            while self.waiting and len(self.in_flight) < (self.args.workers or len(self.waiting) + len(self.in_flight)):
                planned = self.waiting.pop(0)
                planned.entry.status = "running"
                self.in_flight[self.task.remote(_recording_args(self.args, planned.entry), self.board)] = planned
                self.manifest.write(self.root)
            self._collect()

    def stop(self) -> None:
        """After Ctrl-C: every running task finishes its frame, checkpoints and returns."""
        tqdm.write(f"{PROG}: stopping: each running recording finishes its frame and checkpoints (Ctrl-C again: at once)", file=sys.stderr)
        self.waiting.clear()
        for ref in self.in_flight:
            ray.cancel(ref)
        try:
            while self.in_flight:
                self._collect()
        except KeyboardInterrupt:
            for ref, planned in self.in_flight.items():
                ray.cancel(ref, force=True)
                self._record(planned, {"status": "stopped", "reason": "killed by a second Ctrl-C; resumes from its last checkpoint"})
            self.in_flight.clear()

    def _collect(self) -> None:
        ready, _ = ray.wait(list(self.in_flight), num_returns=len(self.in_flight), timeout=POLL_S)
        self.progress = ray.get(self.board.read.remote())
        for ref in ready:
            self._record(self.in_flight.pop(ref), self._outcome(ref))
        self._update_bar()

    @staticmethod
    def _outcome(ref: ray.ObjectRef) -> dict:
        try:
            return ray.get(ref)
        except TaskCancelledError:
            return {"status": "stopped", "reason": "stopped before it started, or while its model loaded"}
        except RayTaskError as error:  # raised by the task itself
            return {"status": "failed", "reason": f"{type(error.cause).__name__}: {error.cause}"}
        except RayError as error:  # its worker died on every try, Ray's memory monitor killed it, ...
            return {"status": "failed", "reason": f"{type(error).__name__}: {str(error).strip().splitlines()[0]}"}

    def _record(self, planned: Planned, outcome: dict) -> None:
        entry, progress = planned.entry, self.progress.get(planned.entry.input)
        entry.status, entry.reason = outcome["status"], outcome.get("reason")
        entry.attempts = progress.attempts if progress else 0
        entry.frames, entry.tracks, entry.resumed_at = outcome.get("frames"), outcome.get("tracks"), outcome.get("resumed_at")
        entry.files = [str(Path(entry.output) / name) for name in OUTPUT_FILES] if entry.status == "done" else []
        self.finished[entry.input] = progress.processed_all if progress else 0
        self.outcomes[entry.status] += 1
        tqdm.write(_outcome_line(entry), file=sys.stderr)
        self.manifest.write(self.root)

    def _update_bar(self) -> None:
        """Frames annotated by this run, out of those plus what is still to do; frames/s, time left."""
        done = sum(self.finished.values())
        remaining = 0
        for planned in [*self.waiting, *self.in_flight.values()]:
            progress = self.progress.get(planned.entry.input)
            if progress:
                done += progress.processed_all
                remaining += max(0, planned.frames - progress.initial - progress.processed)
            else:
                remaining += planned.frames
        self.bar.total = done + remaining
        self.bar.update(done - self.bar.n)
        self.bar.set_postfix_str(f"done {self.outcomes['done']}, failed {self.outcomes['failed']}", refresh=True)

    def close(self) -> None:
        self.bar.close()
        ray.kill(self.board)


def _outcome_line(entry: RecordingEntry) -> str:
    if entry.status == "done":
        return f"done     {entry.input} -> {entry.output}: {entry.frames} frames, {entry.tracks} tracks"
    if entry.status == "failed":
        return f"failed   {entry.input}: {entry.reason}"
    return f"stopped  {entry.input} after {entry.frames or 'its last checkpointed'} frames; the next run resumes it"


def _interrupt(signum, frame) -> None:
    raise KeyboardInterrupt


def main(argv=None) -> None:
    args = parse_args(argv)
    previous_sigterm = signal.signal(signal.SIGTERM, _interrupt)  # a stop request like Ctrl-C: checkpoint, then exit
    try:
        _run(args)
    except FleetError as error:
        raise SystemExit(f"{PROG}: {error}") from None
    except KeyboardInterrupt:  # before any task started
        raise SystemExit(EXIT_STOPPED) from None
    finally:
        signal.signal(signal.SIGTERM, previous_sigterm)


def _run(args: argparse.Namespace) -> None:
    planned = plan(args)
    manifest, to_run = planned.manifest, planned.to_run
    root = args.output.resolve()
    manifest.write(root)
    for entry in planned.named:
        if entry.status == "failed":
            print(_outcome_line(entry), file=sys.stderr)
    stopped = False
    if to_run:
        started_ray = _connect(args)
        try:
            fleet = FleetRun(args, manifest, to_run)
            try:
                fleet.run()
            except KeyboardInterrupt:
                stopped = True
                fleet.stop()
            finally:
                fleet.close()
                manifest.write(root)
        finally:
            if started_ray:
                ray.shutdown()
    statuses = [entry.status for entry in planned.named]
    counts = {status: statuses.count(status) for status in ("done", "skipped", "failed", "stopped", "pending")}
    print(f"{PROG}: " + ", ".join(f"{n} {status}" for status, n in counts.items()) + f" -> {root / MANIFEST_NAME}", file=sys.stderr)
    if stopped:
        print(f"{PROG}: stopped; run the same command again to resume", file=sys.stderr)
        raise SystemExit(EXIT_STOPPED)
    if counts["failed"]:
        raise SystemExit(EXIT_FAILED)


if __name__ == "__main__":
    main()
