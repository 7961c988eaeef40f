"""sam3-ros-annotate-fleet on a local Ray with 2 CPUs: short recordings, a corrupt one, a killed worker, Ctrl-C.

One Ray instance serves the whole module (starting Ray takes seconds on two cores); the command
runs in this process and uses it, as it does in a notebook that has called ray.init.
"""

import contextlib
import io
import json
import os
import shutil
import signal
import subprocess
import tempfile
import threading
import time
from pathlib import Path

import numpy as np
import pytest
import ray
from rosbags.highlevel import AnyReader

from sam3_ros.annotate.checkpoint import load_checkpoint
from sam3_ros.annotate.fleet import main
from sam3_ros.node.node_process import executable_path

# Starting Ray and its workers takes minutes on two cores shared with other test workers.
pytestmark = pytest.mark.timeout(900)

MAX_FRAMES = 24  # bikes.mp4 is cut there (as the single tool's bikes_run); the written recordings are shorter
OUTPUT_FILES = ("annotated.mp4", "annotations.json", "instances.mcap")


@pytest.fixture(scope="module", autouse=True)
def local_ray():
    ray.init(address="local", num_cpus=2, include_dashboard=False, log_to_driver=False)
    yield
    ray.shutdown()


def _run_fleet(*args) -> int:
    try:
        main([str(arg) for arg in args])
    except SystemExit as exit_:
        return exit_.code
    return 0


def _run_fleet_said(*args) -> tuple[int, list[str]]:
    """The exit code and the lines the command wrote (all on stderr: bar, outcomes, summary)."""
    said = io.StringIO()
    with contextlib.redirect_stderr(said):
        code = _run_fleet(*args)
    return code, said.getvalue().replace("\r", "\n").splitlines()


def _fleet_args(inputs, root, *extra) -> list:
    return [
        *inputs,
        "--prompt",
        "person",
        "--prompt",
        "bicycle",
        "--model",
        "tiny-random",
        "--max-frames",
        MAX_FRAMES,
        "--output",
        root,
        *extra,
    ]


def _manifest(root: Path) -> dict:
    return json.loads((root / "manifest.json").read_text())


def _by_name(manifest: dict) -> dict:
    return {Path(entry["output"]).name: entry for entry in manifest["recordings"]}


def _journal_lines(output: Path) -> int:
    journal = output / "journal.jsonl"
    return journal.read_bytes().count(b"\n") if journal.exists() else 0


def _when_journal_has(output: Path, lines: int, action) -> threading.Thread:
    """A thread that calls action() once output's journal holds `lines` frames."""

    def watch():
        deadline = time.monotonic() + 300
        while _journal_lines(output) < lines and time.monotonic() < deadline:
            time.sleep(0.01)
        action()

    thread = threading.Thread(target=watch, daemon=True)
    thread.start()
    return thread


def _process_writing(path: Path) -> int:
    """The pid of the process that holds `path` open: the Ray worker running that recording's task."""
    for fd_folder in Path("/proc").glob("[0-9]*/fd"):
        try:
            if any(os.readlink(fd) == str(path) for fd in fd_folder.iterdir()):
                return int(fd_folder.parent.name)
        except OSError:
            continue  # a process that ended, or not ours to read
    raise AssertionError(f"no process has {path} open")


def _instance_messages(mcap: Path) -> list[tuple[int, bytes]]:
    """(log time, CDR) of every message, the CDR re-serialised: rclpy leaves its padding bytes undefined."""
    with AnyReader([mcap]) as reader:
        return [
            (log_time, reader.typestore.serialize_cdr(reader.deserialize(raw, c.msgtype), c.msgtype))
            for c, log_time, raw in reader.messages()
        ]


def _single_tool_outputs_equal(fleet_output: Path, single_output: Path) -> None:
    fleet_vis, single_vis = (json.loads((folder / "annotations.json").read_text()) for folder in (fleet_output, single_output))
    for vis in (fleet_vis, single_vis):
        del vis["info"]["date_created"]
    assert fleet_vis == single_vis
    assert _instance_messages(fleet_output / "instances.mcap") == _instance_messages(single_output / "instances.mcap")
    assert (fleet_output / "annotated.mp4").read_bytes() == (single_output / "annotated.mp4").read_bytes()


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

    watcher = _when_journal_has(bikes_output, 12, kill_worker)
    code, said = _run_fleet_said(*_fleet_args([bikes_path, fleet_inputs], root, "--checkpoint-every", 5))
    watcher.join(timeout=1)
    return {"root": root, "code": code, "said": said, "killed": killed, "manifest": _manifest(root)}


def test_readable_recordings_are_annotated_and_corrupt_ones_fail_alone(fleet_run, fleet_inputs, bikes_path):
    assert fleet_run["code"] == 1  # a failed recording makes the command fail, after all the others finished
    recordings = _by_name(fleet_run["manifest"])
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
    said, recordings = fleet_run["said"], _by_name(fleet_run["manifest"])
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
    recordings = _by_name(fleet_run["manifest"])
    _single_tool_outputs_equal(Path(recordings["bikes"]["output"]), bikes_run)
    for name in ("run_0412", "run_0412-2"):
        single = tmp_path / name
        assert run_tool(*_fleet_args([recordings[name]["input"]], single)) == 0
        _single_tool_outputs_equal(Path(recordings[name]["output"]), single)


def test_a_killed_worker_is_retried_and_resumes_from_its_checkpoint(fleet_run):
    killed = fleet_run["killed"]
    assert killed["pid"] and 10 <= killed["checkpointed"] < MAX_FRAMES
    with pytest.raises(ProcessLookupError):
        os.kill(killed["pid"], 0)
    bikes = _by_name(fleet_run["manifest"])["bikes"]
    assert bikes["attempts"] == 2
    assert bikes["resumed_at"] == killed["checkpointed"]  # not from the first frame
    # ...and its outputs equal the uninterrupted single-tool run's (test_outputs_equal_the_single_recording_tools).


def test_a_second_run_skips_finished_recordings(fleet_run, bikes_path, fleet_inputs):
    root = fleet_run["root"]
    outputs = {path: path.stat().st_mtime_ns for path in root.glob("*/*")}
    code, said = _run_fleet_said(*_fleet_args([bikes_path, fleet_inputs], root))
    assert code == 1
    assert said[-1].startswith("sam3-ros-annotate-fleet: 0 done, 3 skipped, 2 failed, 0 stopped, 0 pending")
    recordings = _by_name(_manifest(root))
    for name in ("bikes", "run_0412", "run_0412-2"):
        before, after = _by_name(fleet_run["manifest"])[name], recordings[name]
        assert after["status"] == "skipped"
        assert (after["frames"], after["tracks"], after["files"]) == (before["frames"], before["tracks"], before["files"])
    assert [recordings[name]["status"] for name in ("broken", "yuv_camera")] == ["failed", "failed"]
    assert {path: path.stat().st_mtime_ns for path in root.glob("*/*")} == outputs


@pytest.fixture
def ray_tmpdir_with_a_clusters_address():
    """A RAY_TMPDIR whose ray/ray_current_cluster names a cluster, as `ray start --head` leaves it.

    ray.init() without an address joins that cluster; the fleet command must start its own Ray.
    Short (not under tmp_path): Ray's socket paths inside it must stay under 108 characters.
    """
    folder = Path(tempfile.mkdtemp(prefix="ray"))
    (folder / "ray").mkdir()
    (folder / "ray" / "ray_current_cluster").write_text("127.0.0.1:6379")
    yield folder
    shutil.rmtree(folder, ignore_errors=True)


def test_ctrl_c_in_a_terminal_stops_at_a_checkpoint_and_the_same_command_resumes(
    tmp_path, tool_env, bikes_path, bikes_run, ray_tmpdir_with_a_clusters_address
):
    root = tmp_path / "root"
    args = _fleet_args([bikes_path], root, "--checkpoint-every", 1000, "--num-cpus", 2)
    # The installed executable with its own Ray, in its own session: Ctrl-C in a terminal reaches
    # the whole foreground process group, Ray's own processes included. It starts its own Ray
    # although `ray start` left a cluster's address on the machine.
    command = subprocess.Popen(
        [executable_path("sam3-ros-annotate-fleet"), *map(str, args)],
        env={**tool_env, "RAY_TMPDIR": str(ray_tmpdir_with_a_clusters_address)},
        start_new_session=True,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    _when_journal_has(root / "bikes", 3, lambda: os.killpg(command.pid, signal.SIGINT)).join()
    _, stderr = command.communicate(timeout=120)
    said = stderr.replace("\r", "\n").splitlines()
    assert command.returncode == 130, stderr
    bikes = _by_name(_manifest(root))["bikes"]
    assert bikes["status"] == "stopped"
    # The task finished its frame and checkpointed although no periodic checkpoint was due.
    checkpointed = load_checkpoint(root / "bikes" / "checkpoint.pt").frames_done
    assert bikes["frames"] == checkpointed == _journal_lines(root / "bikes") >= 3
    assert f"stopped  {bikes['input']} after {checkpointed} frames; the next run resumes it" in said
    assert said[-2:] == [
        f"sam3-ros-annotate-fleet: 0 done, 0 skipped, 0 failed, 1 stopped, 0 pending -> {root / 'manifest.json'}",
        "sam3-ros-annotate-fleet: stopped; run the same command again to resume",
    ]

    assert _run_fleet(*args) == 0  # here on this module's Ray
    bikes = _by_name(_manifest(root))["bikes"]
    assert (bikes["status"], bikes["resumed_at"], bikes["frames"]) == ("done", checkpointed, MAX_FRAMES)
    _single_tool_outputs_equal(root / "bikes", bikes_run)
