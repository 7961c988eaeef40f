"""The engine's frame rate against an earlier commit's, side by side on this machine in one run.

    python benchmarks/compare_engines.py                       # baseline 8ea19e7, 3x10, tiny model
    python benchmarks/compare_engines.py --baseline main --rounds 3 --frames 30

The baseline commit is checked out into a temporary git worktree (removed afterwards). Each tree
runs its own benchmarks/stream_benchmark.py with the same arguments (--tiny, the grid point,
resolution, frames, threads), alternately: baseline, current, baseline, current, ... (--rounds
pairs), so that both see the same machine load over time, the same frames (bikes.mp4) and the same
weights (the tiny model is built from a fixed seed). Both use this checkout's virtual environment
and colcon build (messages); each tree's source comes first on PYTHONPATH, so each runs its own
engine. Module paths differ between commits (sam3_ros.concept_tracker before the layout change,
sam3_ros.engine.concept_tracker after): running each tree's own benchmark script covers that.

Printed: per run the engine's and the plain transformers loop's FPS; per tree the median over its
runs; the ratio current / baseline. The plain loop is the same code in both trees, so its ratio
should be close to 1: it shows whether the comparison was fair (a drifting machine shows there).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def git(*args: str) -> str:
    return subprocess.run(["git", "-C", str(ROOT), *args], check=True, capture_output=True, text=True).stdout.strip()


def run_tree(tree: Path, benchmark_args: list[str], out: Path) -> dict:
    """One stream_benchmark.py run of `tree`'s own script, with `tree` first on PYTHONPATH."""
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "PYTHONPATH": os.pathsep.join(filter(None, [str(tree), os.environ.get("PYTHONPATH")]))}
    command = [sys.executable, str(tree / "benchmarks" / "stream_benchmark.py"), *benchmark_args, "--json", str(out)]
    run = subprocess.run(command, capture_output=True, text=True, env=env, cwd=tree)
    if run.returncode != 0:
        raise SystemExit(f"{tree}: stream_benchmark.py failed\n{run.stdout[-2000:]}\n{run.stderr[-3000:]}")
    point = json.loads(out.read_text())["points"][0]
    return {"engine": point["engine"]["fps"], "plain": point["plain"]["fps"], "objects": point["engine"]["tracked_objects"]["mean"]}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--baseline", default="8ea19e7", help="commit to compare against (default 8ea19e7)")
    parser.add_argument("--point", default="3x10", help="PROMPTSxOBJECTS (default 3x10)")
    parser.add_argument("--resolution", default="1280x720")
    parser.add_argument("--frames", type=int, default=20, help="timed frames per run")
    parser.add_argument("--warmup", type=int, default=5)
    parser.add_argument("--rounds", type=int, default=2, help="baseline/current pairs (default 2: A B A B)")
    parser.add_argument("--threads", type=int, default=1, help="torch CPU threads in both (default 1)")
    args = parser.parse_args(argv)
    benchmark_args = [
        "--tiny",
        "--grid",
        args.point,
        "--resolution",
        args.resolution,
        "--frames",
        str(args.frames),
        "--warmup",
        str(args.warmup),
        "--threads",
        str(args.threads),
    ]
    baseline_commit = git("rev-parse", "--short", args.baseline)
    current = (
        f"{git('rev-parse', '--short', 'HEAD')}{' + uncommitted changes' if git('status', '--porcelain', '--untracked-files=no') else ''}"
    )
    print(f"baseline {baseline_commit} against this tree ({current}); stream_benchmark.py {' '.join(benchmark_args)}")

    results: dict[str, list[dict]] = {"baseline": [], "current": []}
    with tempfile.TemporaryDirectory(prefix="sam3_compare_") as scratch:
        baseline_tree = Path(scratch) / "baseline"
        git("worktree", "add", "--detach", str(baseline_tree), baseline_commit)
        try:
            for round_index in range(args.rounds):
                for name, tree in (("baseline", baseline_tree), ("current", ROOT)):
                    result = run_tree(tree, benchmark_args, Path(scratch) / f"{name}{round_index}.json")
                    results[name].append(result)
                    print(
                        f"round {round_index + 1} {name:<8}: engine {result['engine']:6.2f} FPS, plain loop "
                        f"{result['plain']:6.2f} FPS ({result['objects']:.1f} objects)",
                        flush=True,
                    )
        finally:
            git("worktree", "remove", "--force", str(baseline_tree))

    medians = {name: {impl: statistics.median(r[impl] for r in runs) for impl in ("engine", "plain")} for name, runs in results.items()}
    print(f"\nmedian of {args.rounds} runs each, tiny model, {args.point} at {args.resolution}:")
    for impl in ("engine", "plain"):
        ratio = medians["current"][impl] / medians["baseline"][impl]
        label = "engine" if impl == "engine" else "plain loop (same code in both: the fairness check)"
        print(
            f"  {label:<52} baseline {medians['baseline'][impl]:6.2f} FPS  current {medians['current'][impl]:6.2f} FPS"
            f"  current/baseline {ratio:.2f}x"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
