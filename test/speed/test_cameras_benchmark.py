"""benchmarks/cameras_benchmark.py in its tiny CPU mode, end to end: it runs and reports what it documents."""

import json
import os
import subprocess
import sys
from pathlib import Path

BENCHMARK = Path(__file__).resolve().parents[2] / "benchmarks" / "cameras_benchmark.py"


def test_tiny_cameras_benchmark_runs_one_and_two_cameras_on_one_model(tmp_path):
    out = tmp_path / "cameras.json"
    command = [sys.executable, str(BENCHMARK), "--tiny", "--cameras", "1,2", "--frames", "3", "--warmup", "1"]
    command += ["--resolution", "320x180", "--threads", "1", "--json", str(out)]

    run = subprocess.run(command, capture_output=True, text=True, timeout=300, env={**os.environ, "HF_HUB_OFFLINE": "1"})

    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    assert "mean nothing" in run.stdout and "FPS per camera" in run.stdout
    report = json.loads(out.read_text())
    assert report["meaningless"] is True and report["point"] == {"prompts": 1, "objects": 5}
    assert [row["cameras"] for row in report["rows"]] == [1, 2]
    for row in report["rows"]:
        assert row["frames"] == 3 and row["latency_ms"]["p50"] > 0
        assert row["fps_all_cameras"] == row["fps_per_camera"] * row["cameras"]
