"""The tracking-quality metrics on ground truth and on ground truth with its ids spoiled, and the benchmark end to end."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from sam3_ros.synthetic import generate_sequence
from sam3_ros.synthetic.tracking_metrics import evaluate_prompt, frame_overlap, occlusion_events, summarise

BENCHMARK = Path(__file__).resolve().parents[2] / "benchmarks" / "tracking_quality.py"
SEED, FRAMES = 0, 48  # a test seed whose blue circles are each hidden by nearer objects and come back


@pytest.fixture(scope="module")
def scene_and_frames():
    sequence = generate_sequence(SEED, num_frames=FRAMES)
    return sequence.scene, [truth for _, truth in sequence]


def truth_of(frames, phrase):
    return [{obj.obj_id: obj.mask for obj in frame.matching(phrase)} for frame in frames]


def evaluate(scene, frames, phrase, prediction):
    named = {obj_id for masks in truth_of(frames, phrase) for obj_id in masks}
    events = [event for event in occlusion_events(scene, frames) if event.obj_id in named]
    overlaps = [frame_overlap(truth, predicted) for truth, predicted in zip(truth_of(frames, phrase), prediction)]
    return summarise([evaluate_prompt(overlaps, events)])


def test_ground_truth_as_the_prediction_scores_perfectly(scene_and_frames):
    scene, frames = scene_and_frames
    for phrase in ("circle", "blue circle", "green square"):
        figures = evaluate(scene, frames, phrase, truth_of(frames, phrase))
        assert figures["HOTA"] == pytest.approx(1.0) and figures["DetA"] == pytest.approx(1.0) and figures["AssA"] == pytest.approx(1.0)
        assert figures["LocA"] == pytest.approx(1.0)
        assert figures["IDF1"] == 1.0 and figures["MOTA"] == 1.0 and figures["id_switches"] == 0
        assert figures["recall"] == 1.0 and figures["precision"] == 1.0
    occluded = evaluate(scene, frames, "blue circle", truth_of(frames, "blue circle"))
    assert occluded["counts"]["occlusion_events"] >= 2 and occluded["occlusion_id_kept_share"] == 1.0


def test_swapped_ids_and_an_id_changed_by_an_occlusion_are_counted(scene_and_frames):
    scene, frames = scene_and_frames
    truth = truth_of(frames, "circle")
    half = FRAMES // 2
    both = [obj_id for obj_id in truth[0] if obj_id in truth[half] and obj_id in truth[-1]]
    first, second = both[:2]
    rename = {first: second, second: first}
    swapped = truth[:half] + [{rename.get(obj_id, obj_id): mask for obj_id, mask in masks.items()} for masks in truth[half:]]
    figures = evaluate(scene, frames, "circle", swapped)
    assert figures["IDF1"] < 0.95 and figures["id_switches"] >= 2 and figures["AssA"] < 1.0 and figures["HOTA"] < 1.0
    assert figures["recall"] == 1.0 and figures["precision"] == 1.0  # the masks are all still right

    event = next(e for e in occlusion_events(scene, frames) if e.obj_id in truth[0])
    renamed_after = [
        {(999 if obj_id == event.obj_id and index > event.last_hidden else obj_id): mask for obj_id, mask in masks.items()}
        for index, masks in enumerate(truth)
    ]
    figures = evaluate(scene, frames, "circle", renamed_after)
    counts = figures["counts"]
    assert counts["occlusions_tracked_before"] == counts["occlusion_events"] >= 1
    assert counts["occlusion_ids_kept"] == counts["occlusion_events"] - 1  # that event lost its id, any other kept it
    assert figures["id_switches"] == 1


def test_the_benchmark_runs_end_to_end_and_writes_its_record(tmp_path):
    out = tmp_path / "quality.json"
    command = [sys.executable, str(BENCHMARK), "--sequences", "1", "--frames", "6", "--trackers", "engine,per-frame", "--threads", "1"]
    run = subprocess.run(
        [*command, "--json", str(out)], capture_output=True, text=True, timeout=240, env={**os.environ, "HF_HUB_OFFLINE": "1"}
    )
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    assert "UNTRAINED" in run.stdout and "HOTA" in run.stdout

    record = json.loads(out.read_text())
    assert {"benchmark", "date", "command", "machine", "versions", "arguments", "sequences", "summary"} <= record.keys()
    assert record["benchmark"] == "tracking_quality" and record["untrained"] is True
    assert {"trackeval", "motmetrics", "torch", "transformers"} <= record["versions"].keys()
    [sequence] = record["sequences"]
    assert sequence["seed"] == 0 and sequence["present_prompts"] and sequence["absent_prompt"] not in sequence["present_prompts"]
    assert list(record["summary"]) == ["engine", "per-frame"]
    figures = {"HOTA", "DetA", "AssA", "LocA", "IDF1", "MOTA", "id_switches", "recall", "precision", "occlusion_id_kept_share"}
    for tracker in record["summary"].values():
        assert {"overall", "absent_prompts", "per_prompt", "ms_per_frame"} <= tracker.keys()
        assert figures <= tracker["overall"].keys() and figures <= tracker["absent_prompts"].keys()
        assert list(tracker["per_prompt"]) == sequence["present_prompts"]
        assert tracker["overall"]["counts"]["num_objects"] > 0 and tracker["absent_prompts"]["HOTA"] is None
