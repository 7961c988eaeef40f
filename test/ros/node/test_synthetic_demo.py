"""The demo on a synthetic scene, as a user runs it (`python -m sam3_ros.demo --scene synthetic`):
the installed node gets every frame of a held-out scene one at a time and its published tracks are
scored against the scene's ground truth. tiny-random sees nothing, so only the plumbing is checked
here: every frame answered, the scores and the video written."""

from __future__ import annotations

import json
import subprocess
import sys

FRAMES = 8


def test_the_synthetic_demo_scores_every_frame_the_node_answered(ros_domain_id, node_env, tmp_path):
    output = tmp_path / "output"
    command = [sys.executable, "-m", "sam3_ros.demo", "--model", "tiny-random", "--scene", "synthetic", "--frames", str(FRAMES)]

    # From another folder: the installed package, not the source tree, as in a ROS workspace.
    run = subprocess.run([*command, "--output", str(output)], cwd=tmp_path, env=node_env, capture_output=True, text=True, timeout=600)

    assert run.returncode == 0, f"{run.stdout}\n{run.stderr[-3000:]}"
    summary = json.loads((output / "summary.json").read_text())
    assert summary["scene"] == "synthetic test seed 0"
    assert summary["frames_published"] == summary["results_received"] == FRAMES
    # the phrases that name the scene's objects, and one that names none
    assert len(summary["prompts"]) >= 2 and len(set(summary["prompts"])) == len(summary["prompts"])
    overall = summary["quality"]["overall"]
    assert {"HOTA", "IDF1", "MOTA", "id_switches", "recall", "precision"} <= set(overall)
    assert "[demo] against the scene's ground truth: HOTA" in run.stdout
    assert (output / "demo.mp4").stat().st_size > 0


def test_prompts_of_ones_own_are_refused_on_a_synthetic_scene(tmp_path, node_env):
    command = [sys.executable, "-m", "sam3_ros.demo", "--scene", "synthetic", "--prompts", "red circle"]

    run = subprocess.run(command, cwd=tmp_path, env=node_env, capture_output=True, text=True, timeout=120)

    assert run.returncode == 2
    assert "--prompts is for --scene bikes" in run.stderr
