"""benchmarks/stream_benchmark.py in its tiny CPU mode, end to end: it runs and reports what it documents."""

import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path

BENCHMARK = Path(__file__).resolve().parents[2] / "benchmarks" / "stream_benchmark.py"
PERCENTILES = {"p50", "p95", "p99", "mean"}


def test_tiny_benchmark_runs_and_writes_both_implementations(tmp_path):
    out = tmp_path / "bench.json"
    command = [
        sys.executable,
        str(BENCHMARK),
        "--tiny",
        "--frames",
        "6",
        "--warmup",
        "2",
        "--grid",
        "1x1,2x4",
        "--resolution",
        "320x180",
        "--threads",
        "1",
        "--profile",
        "--json",
        str(out),
    ]
    run = subprocess.run(command, capture_output=True, text=True, timeout=300, env={**os.environ, "HF_HUB_OFFLINE": "1"})
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    assert "mean nothing" in run.stdout  # the tiny mode says so, loudly
    assert "engine/plain" in run.stdout

    report = json.loads(out.read_text())
    assert report["meaningless"] is True
    assert report["model"]["vision_backend"] == "pytorch"
    assert report["footage"] == {"video": "bikes.mp4", "resolution": [320, 180], "warmup": 2, "frames": 6}
    assert {"torch", "transformers", "device", "gpu", "tensorrt"} <= report["environment"].keys()
    assert report["object_control"] in run.stdout
    assert report["plain_processor"] in run.stdout  # which processor the plain loop used is printed
    # transformers' own processor wherever torchvision lets it load (the full torch set, as in CI)
    own = "transformers' own Sam3VideoProcessor" if importlib.util.find_spec("torchvision") else "emulated in torch"
    assert own in report["plain_processor"]
    assert [(p["prompts"], p["objects"]) for p in report["points"]] == [(1, 1), (2, 4)]
    for point in report["points"]:
        for impl in ("engine", "plain"):
            result = point[impl]
            assert set(result["latency_ms"]) == PERCENTILES
            assert 0 < result["latency_ms"]["p50"] <= result["latency_ms"]["p95"] <= result["latency_ms"]["p99"]
            assert result["fps"] > 0 and result["frames"] == 6
            assert result["memory_mib"] == {"start": None, "end": None, "peak": None}  # n/a on the CPU
            # the thresholds and caps reach the asked-for number of objects in both implementations
            assert result["tracked_objects"]["max"] == point["objects"]
        assert point["speed_ratio"] == point["engine"]["fps"] / point["plain"]["fps"]
        stages = {row["stage"] for row in point["engine_profile"]}
        assert {"vision backbone", "detector (runs once per prompt)"} <= stages
