"""Running sam3-ros-annotate-fleet in a test and reading what it wrote (test_fleet*.py)."""

import contextlib
import io
import json
import threading
import time
from pathlib import Path

from rosbags.highlevel import AnyReader

from sam3_ros.annotate.fleet import main

MAX_FRAMES = 24  # bikes.mp4 is cut there (as the single tool's bikes_run); the written recordings are shorter
OUTPUT_FILES = ("annotated.mp4", "annotations.json", "instances.mcap")


def run_fleet(*args) -> int:
    try:
        main([str(arg) for arg in args])
    except SystemExit as exit_:
        return exit_.code
    return 0


def run_fleet_said(*args) -> tuple[int, list[str]]:
    """The exit code and the lines the command wrote (all on stderr: bar, outcomes, summary)."""
    said = io.StringIO()
    with contextlib.redirect_stderr(said):
        code = run_fleet(*args)
    return code, said.getvalue().replace("\r", "\n").splitlines()


def fleet_args(inputs, root, *extra) -> list:
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


def read_manifest(root: Path) -> dict:
    return json.loads((root / "manifest.json").read_text())


def by_name(manifest: dict) -> dict:
    return {Path(entry["output"]).name: entry for entry in manifest["recordings"]}


def journal_lines(output: Path) -> int:
    journal = output / "journal.jsonl"
    return journal.read_bytes().count(b"\n") if journal.exists() else 0


def when_journal_has(output: Path, lines: int, action) -> threading.Thread:
    """A thread that calls action() once output's journal holds `lines` frames."""

    def watch():
        deadline = time.monotonic() + 300
        while journal_lines(output) < lines and time.monotonic() < deadline:
            time.sleep(0.01)
        action()

    thread = threading.Thread(target=watch, daemon=True)
    thread.start()
    return thread


def _instance_messages(mcap: Path) -> list[tuple[int, bytes]]:
    """(log time, CDR) of every message, the CDR re-serialised: rclpy leaves its padding bytes undefined."""
    with AnyReader([mcap]) as reader:
        return [
            (log_time, reader.typestore.serialize_cdr(reader.deserialize(raw, c.msgtype), c.msgtype))
            for c, log_time, raw in reader.messages()
        ]


def single_tool_outputs_equal(fleet_output: Path, single_output: Path) -> None:
    fleet_vis, single_vis = (json.loads((folder / "annotations.json").read_text()) for folder in (fleet_output, single_output))
    for vis in (fleet_vis, single_vis):
        del vis["info"]["date_created"]
    assert fleet_vis == single_vis
    assert _instance_messages(fleet_output / "instances.mcap") == _instance_messages(single_output / "instances.mcap")
    assert (fleet_output / "annotated.mp4").read_bytes() == (single_output / "annotated.mp4").read_bytes()
