"""sam3-ros-annotate-fleet on a local Ray with 2 CPUs: short recordings, a corrupt one, a killed worker.

One Ray instance serves the whole module (starting Ray takes seconds on two cores); the command
runs in this process and uses it, as it does in a notebook that has called ray.init. Ctrl-C in a
terminal: test_fleet_ctrl_c.py (a module of its own, so that test workers run the two at once).
"""

import json
import os
import signal
from pathlib import Path

import numpy as np
import pytest
from fleet_runs import (
    MAX_FRAMES,
    OUTPUT_FILES,
    by_name,
    fleet_args,
    read_manifest,
    run_fleet_said,
    single_tool_outputs_equal,
    when_journal_has,
)

from sam3_ros.annotate.checkpoint import load_checkpoint

# Starting Ray and its workers takes minutes on two cores shared with other test workers.
pytestmark = [pytest.mark.timeout(900), pytest.mark.usefixtures("local_ray")]


def _process_writing(path: Path) -> int:
    """The pid of the process that holds `path` open: the Ray worker running that recording's task."""
    for fd_folder in Path("/proc").glob("[0-9]*/fd"):
        try:
            if any(os.readlink(fd) == str(path) for fd in fd_folder.iterdir()):
                return int(fd_folder.parent.name)
        except OSError:
            continue  # a process that ended, or not ours to read
    raise AssertionError(f"no process has {path} open")


@pytest.fixture(scope="module")
def fleet_inputs(tmp_path_factory, small_bikes_frames, bag_messages, write_bag) -> Path:
    """A folder of recordings as robots leave them: two runs of the same name, a corrupt file, notes."""
    folder = tmp_path_factory.mktemp("fleet_inputs")
    stamps = [1_700_000_000_000_000_000 + i * 100_000_000 for i in range(len(small_bikes_frames))]
    write_bag(
        folder / "robot1" / "run_0412",
        {"/camera/image_raw": [bag_messages.image(f, "rgb8", s) for f, s in zip(small_bikes_frames, stamps)]},
    )
    write_bag(
        folder / "robot2" / "run_0412", {"/camera/image_raw": [bag_messages.compressed(f, s) for f, s in zip(small_bikes_frames, stamps)]}
    )
    grey = np.zeros((8, 8, 3), dtype=np.uint8)
    write_bag(folder / "robot3" / "yuv_camera", {"/camera/image_raw": [bag_messages.image(grey, "yuv422", s) for s in stamps[:3]]})
    (folder / "robot3" / "broken.mcap").write_bytes(b"\x89MCAP0\r\n truncated by a power cut")
    (folder / "robot3" / "notes.txt").write_text("not a recording")
    return folder


@pytest.fixture(scope="module")
def fleet_run(tmp_path_factory, bikes_path, fleet_inputs) -> dict:
    """One fleet run over bikes.mp4 and the folder, whose bikes task's worker is SIGKILLed at frame 12."""
    root = tmp_path_factory.mktemp("fleet_root")
    bikes_output = root / "bikes"
    killed = {}

    def kill_worker():
        killed["pid"] = _process_writing(bikes_output / "journal.jsonl")
        os.kill(killed["pid"], signal.SIGKILL)
        killed["checkpointed"] = load_checkpoint(bikes_output / "checkpoint.pt").frames_done

    watcher = when_journal_has(bikes_output, 12, kill_worker)
    code, said = run_fleet_said(*fleet_args([bikes_path, fleet_inputs], root, "--checkpoint-every", 5))
    watcher.join(timeout=1)
    return {"root": root, "code": code, "said": said, "killed": killed, "manifest": read_manifest(root)}


def test_readable_recordings_are_annotated_and_corrupt_ones_fail_alone(fleet_run, fleet_inputs, bikes_path):
    assert fleet_run["code"] == 1  # a failed recording makes the command fail, after all the others finished
    recordings = by_name(fleet_run["manifest"])
    assert sorted(recordings) == ["bikes", "broken", "run_0412", "run_0412-2", "yuv_camera"]
    assert recordings["bikes"]["input"] == str(bikes_path.resolve())
    assert recordings["run_0412"]["input"] == str(fleet_inputs / "robot1" / "run_0412")
    assert recordings["run_0412-2"]["input"] == str(fleet_inputs / "robot2" / "run_0412")
    for name, frames in (("bikes", MAX_FRAMES), ("run_0412", 15), ("run_0412-2", 15)):
        entry = recordings[name]
        assert (entry["status"], entry["reason"], entry["frames"]) == ("done", None, frames)
        vis = json.loads((Path(entry["output"]) / "annotations.json").read_text())
        assert entry["tracks"] == len(vis["annotations"]) > 0
        assert sorted(Path(file).name for file in entry["files"]) == list(OUTPUT_FILES)
        assert sorted(path.name for path in Path(entry["output"]).iterdir()) == list(OUTPUT_FILES)
    assert recordings["broken"]["status"] == "failed"
    assert "cannot read recording" in recordings["broken"]["reason"]
    assert recordings["yuv_camera"]["status"] == "failed"  # opens fine; its task fails on the first frame
    assert "unsupported image encoding 'yuv422'" in recordings["yuv_camera"]["reason"]
    summary = fleet_run["manifest"]["summary"]
    assert (summary["recordings"], summary["done"], summary["failed"]) == (5, 3, 2)
    assert summary["frames"] == MAX_FRAMES + 30
    assert fleet_run["manifest"]["settings"]["prompts"] == ["person", "bicycle"]


def test_progress_tells_each_recordings_outcome_and_sums_up_the_run(fleet_run):
    said, recordings = fleet_run["said"], by_name(fleet_run["manifest"])
    for name in ("bikes", "run_0412", "run_0412-2"):
        entry = recordings[name]
        assert f"done     {entry['input']} -> {entry['output']}: {entry['frames']} frames, {entry['tracks']} tracks" in said
    for name in ("broken", "yuv_camera"):  # found unreadable while planning, and by its task
        entry = recordings[name]
        assert f"failed   {entry['input']}: {entry['reason']}" in said
    assert (
        said[-1] == f"sam3-ros-annotate-fleet: 3 done, 0 skipped, 2 failed, 0 stopped, 0 pending -> {fleet_run['root'] / 'manifest.json'}"
    )
    # The bar, over the recordings given to Ray (the one refused while planning is not among them);
    # its rate reads "s/frame" below one frame a second (a loaded machine).
    assert any(
        line.startswith("4 recordings: 100%") and ("frame/s" in line or "s/frame" in line) and "done 3, failed 1" in line for line in said
    ), said


def test_outputs_equal_the_single_recording_tools(fleet_run, fleet_inputs, bikes_run, run_tool, tmp_path):
    recordings = by_name(fleet_run["manifest"])
    single_tool_outputs_equal(Path(recordings["bikes"]["output"]), bikes_run)
    for name in ("run_0412", "run_0412-2"):
        single = tmp_path / name
        assert run_tool(*fleet_args([recordings[name]["input"]], single)) == 0
        single_tool_outputs_equal(Path(recordings[name]["output"]), single)


def test_a_killed_worker_is_retried_and_resumes_from_its_checkpoint(fleet_run):
    killed = fleet_run["killed"]
    assert killed["pid"] and 10 <= killed["checkpointed"] < MAX_FRAMES
    with pytest.raises(ProcessLookupError):
        os.kill(killed["pid"], 0)
    bikes = by_name(fleet_run["manifest"])["bikes"]
    assert bikes["attempts"] == 2
    assert bikes["resumed_at"] == killed["checkpointed"]  # not from the first frame
    # ...and its outputs equal the uninterrupted single-tool run's (test_outputs_equal_the_single_recording_tools).


def test_a_second_run_skips_finished_recordings(fleet_run, bikes_path, fleet_inputs):
    root = fleet_run["root"]
    outputs = {path: path.stat().st_mtime_ns for path in root.glob("*/*")}
    code, said = run_fleet_said(*fleet_args([bikes_path, fleet_inputs], root))
    assert code == 1
    assert said[-1].startswith("sam3-ros-annotate-fleet: 0 done, 3 skipped, 2 failed, 0 stopped, 0 pending")
    recordings = by_name(read_manifest(root))
    for name in ("bikes", "run_0412", "run_0412-2"):
        before, after = by_name(fleet_run["manifest"])[name], recordings[name]
        assert after["status"] == "skipped"
        assert (after["frames"], after["tracks"], after["files"]) == (before["frames"], before["tracks"], before["files"])
    assert [recordings[name]["status"] for name in ("broken", "yuv_camera")] == ["failed", "failed"]
    assert {path: path.stat().st_mtime_ns for path in root.glob("*/*")} == outputs
