"""The soak script (benchmarks/soak.py) as CI runs it on every distro: the real node, a camera paced
by it (each frame once the last one's result arrived, at most 30 Hz, so that how loaded the machine
is does not change what a processed frame costs), an operator changing prompts and a viewer of every
output, until SOAK_PROCESSED frames were processed, with the node's RSS slope after SOAK_WARMUP processed frames bounded by RSS_BOUND MiB per
1,000 processed frames.

The bound separates a flat node (about 0.2 MiB per 1,000 on Kilted, the same on Jazzy since the
spin fix) from the growth Jazzy's rclpy gave before it (about 5 MiB per 1,000, ros2/rclpy#1371).
The first thousand processed frames are warm-up (torch's allocator, DDS buffers): the slope is
measured after them. The long soak (tens of thousands of frames) is run by hand (docs/memory.md).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

SOAK_SCRIPT = Path(__file__).resolve().parents[3] / "benchmarks" / "soak.py"
SOAK_PROCESSED = 3000
SOAK_WARMUP = 1000
PROMPT_EVERY = 300
RSS_BOUND = 1.0  # MiB per 1,000 processed frames
SLOPE = "rss slope after warm-up (MiB per 1,000 processed frames)"


@pytest.mark.timeout(1800)  # 3,000 frames at the tiny model's pace on two loaded cores
def test_the_node_stays_flat_over_thousands_of_frames_with_prompt_changes(ros_domain_id, tmp_path):
    record = tmp_path / "soak.json"
    command = [sys.executable, str(SOAK_SCRIPT), "--frames", "0", "--processed", str(SOAK_PROCESSED), "--warmup", str(SOAK_WARMUP)]
    command += [
        "--paced",
        "--prompt-every",
        str(PROMPT_EVERY),
        "--rss-bound",
        str(RSS_BOUND),
        "--json",
        str(record),
        "--node-log",
        str(tmp_path / "node.log"),
    ]
    env = dict(os.environ, SAM3_SOAK_ROS_DOMAIN_ID=str(ros_domain_id), HF_HUB_OFFLINE="1")

    run = subprocess.run(command, env=env, capture_output=True, text=True, timeout=1700)

    summary = json.loads(record.read_text())["summary"] if record.exists() else {}
    assert run.returncode == 0, f"{run.stdout}\n{run.stderr[-3000:]}"
    assert summary["processed (instances received)"] >= SOAK_PROCESSED
    published = summary["frames published"]
    assert summary["calls made"] == summary["calls answered"] == 2 * ((published - 1) // PROMPT_EVERY), summary
    assert summary[SLOPE] <= RSS_BOUND, f"the node's RSS grew by {summary[SLOPE]} MiB per 1,000 processed frames: {summary}"
    assert summary["node exit code"] == 0 and not summary["crashed"], summary
