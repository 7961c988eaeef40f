"""Throughput of sam3-ros-annotate-fleet: recordings and frames per second with 1, 2, ... workers.

    python benchmarks/fleet_throughput.py --recordings 4 --frames 60 --workers 1,2 --num-cpus 2

Copies bikes.mp4 into --recordings videos, starts one local Ray with --num-cpus cores, then per
worker count runs the fleet command (the tiny untrained model, one core per task) into a fresh
output root and prints its wall time (planning, worker start-up and model loading included; Ray's
own start-up, timed once, not) and recordings/s and frames/s over it.
"""

from __future__ import annotations

import argparse
import os
import shutil
import tempfile
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")

import ray  # noqa: E402

from sam3_ros.annotate.fleet import main  # noqa: E402
from sam3_ros.annotate.manifest import read_manifest  # noqa: E402
from sam3_ros.demo.sample_footage import bikes_video_path  # noqa: E402


def main_benchmark() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--recordings", type=int, default=4)
    parser.add_argument("--frames", type=int, default=60, help="frames annotated per recording (--max-frames)")
    parser.add_argument("--workers", default="1,2", help="comma-separated worker counts to compare")
    parser.add_argument("--num-cpus", type=int, default=2, help="cores of the local Ray")
    args = parser.parse_args()

    scratch = Path(tempfile.mkdtemp(prefix="fleet_throughput_"))
    try:
        inputs = scratch / "inputs"
        inputs.mkdir()
        for index in range(args.recordings):
            shutil.copy(bikes_video_path(), inputs / f"robot{index}.mp4")
        started = time.monotonic()
        ray.init(num_cpus=args.num_cpus, include_dashboard=False, log_to_driver=False)
        print(f"ray start-up: {time.monotonic() - started:.1f} s ({args.num_cpus} CPUs)")
        print(f"{'workers':>7} {'recordings':>10} {'frames':>7} {'wall s':>7} {'recordings/s':>12} {'frames/s':>9}")
        for workers in (int(text) for text in args.workers.split(",")):
            root = scratch / f"out_{workers}"
            command = [str(inputs), "--prompt", "person", "--prompt", "bicycle", "--model", "tiny-random"]
            command += ["--max-frames", str(args.frames), "--workers", str(workers), "--output", str(root)]
            started = time.monotonic()
            try:
                main(command)
            except SystemExit as exit_:
                raise SystemExit(f"the fleet command failed ({exit_.code}); see {root / 'manifest.json'}") from None
            wall = time.monotonic() - started
            manifest = read_manifest(root)
            frames = sum(entry.frames for entry in manifest.recordings)
            print(
                f"{workers:>7} {len(manifest.recordings):>10} {frames:>7} {wall:>7.1f} {len(manifest.recordings) / wall:>12.3f} {frames / wall:>9.1f}"
            )
    finally:
        ray.shutdown()
        shutil.rmtree(scratch, ignore_errors=True)


if __name__ == "__main__":
    main_benchmark()
