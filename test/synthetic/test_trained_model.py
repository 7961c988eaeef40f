"""tiny-synthetic, the packaged tiny SAM 3 trained on synthetic shapes (docs/training.md), sees them.

On held-out test scenes the tracking-quality benchmark scores it as a user would get it
(`model:=tiny-synthetic`: from_pretrained of the packaged folder, its calibrated thresholds). The
floors sit at about half of what the committed model scores on these frames (per frame: HOTA
0.40, recall 0.56, precision 0.37, LocA 0.77; the engine: HOTA 0.28, IDF1 0.27, recall 0.28,
precision 0.25; more in docs/training.md), so they
fail on a model that stopped seeing (weights not loaded, a broken loading path, a regression in
the detector's use) rather than on noise; tiny-random scores zero on all of them.
"""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from sam3_ros.engine.concept_tracker import ConceptTracker, TrackerSettings
from sam3_ros.engine.model_loading import PACKAGED_MODELS, TRAINED_TINY_MODEL_NAME, load_sam3
from sam3_ros.synthetic import generate_sequence
from sam3_ros.synthetic.evaluation import concept_tracker_step, run_tracker, sequence_prompts, tracker_summary
from sam3_ros.synthetic.splits import TEST_SEEDS
from sam3_ros.synthetic.tracking_metrics import occlusion_events

BENCHMARK = Path(__file__).resolve().parents[2] / "benchmarks" / "tracking_quality.py"
SEQUENCES, FRAMES = 2, 12


def test_the_packaged_model_is_installed_with_its_card_and_calibration():
    folder = PACKAGED_MODELS[TRAINED_TINY_MODEL_NAME]
    assert {"config.json", "model.safetensors", "tokenizer.json", "calibration.json", "README.md"} <= {p.name for p in folder.iterdir()}
    calibration = json.loads((folder / "calibration.json").read_text())
    config = json.loads((folder / "config.json").read_text())
    assert config["score_threshold_detection"] == calibration["score_threshold_detection"]


@pytest.fixture(scope="module")
def quality(tmp_path_factory) -> dict:
    """The benchmark's overall figures per tracker: the detector alone per frame, and the engine."""
    record = tmp_path_factory.mktemp("quality") / "quality.json"
    command = [sys.executable, str(BENCHMARK), "--model", TRAINED_TINY_MODEL_NAME, "--trackers", "per-frame,engine"]
    command += ["--sequences", str(SEQUENCES), "--frames", str(FRAMES), "--threads", "1", "--json", str(record)]
    run = subprocess.run(command, env=dict(os.environ, HF_HUB_OFFLINE="1"), capture_output=True, text=True, timeout=600)
    assert run.returncode == 0, run.stdout + run.stderr[-3000:]
    return {tracker: figures["overall"] for tracker, figures in json.loads(record.read_text())["summary"].items()}


def test_per_frame_detections_find_and_segment_the_shapes_each_phrase_names(quality):
    detector = quality["per-frame"]
    assert detector["recall"] >= 0.25, detector
    assert detector["precision"] >= 0.2, detector
    assert detector["LocA"] >= 0.6, detector  # matched masks overlap their objects well
    assert detector["HOTA"] >= 0.15, detector


def test_the_engine_tracks_the_shapes_with_ids_that_hold(quality):
    engine = quality["engine"]
    assert engine["HOTA"] >= 0.12, engine
    assert engine["IDF1"] >= 0.1, engine
    assert engine["recall"] >= 0.1 and engine["precision"] >= 0.1, engine


@pytest.fixture(scope="module")
def tiny_synthetic():
    return load_sam3(TRAINED_TINY_MODEL_NAME, device="cpu", dtype="float32")


@pytest.mark.parametrize(("width", "height"), [(160, 120), (240, 320), (480, 360)])
def test_the_engine_finds_the_shapes_in_frames_of_other_sizes_and_orientations(tiny_synthetic, width, height):
    """Scenes drawn at other sizes, a portrait one among them, are found about as well as at
    320x240 (on these frames recall 0.25-0.30, precision 0.23-0.25, HOTA 0.27-0.28; the floors
    about half): a mask scaled, cropped or transposed on its way back to the source frame would
    match nothing."""
    results = []
    for seed in TEST_SEEDS[:SEQUENCES]:
        sequence = generate_sequence(seed, width, height, num_frames=FRAMES)
        images, frames = map(list, zip(*sequence))
        prompts = sequence_prompts(seed, frames)
        step = concept_tracker_step(ConceptTracker(*tiny_synthetic, TrackerSettings()), [*prompts.present, prompts.absent])
        results += run_tracker(step, images, frames, prompts, occlusion_events(sequence.scene, frames))[0]
    overall = tracker_summary(results, 0.0, 1)["overall"]
    assert overall["recall"] >= 0.12 and overall["precision"] >= 0.12, overall
    assert overall["HOTA"] >= 0.12, overall
