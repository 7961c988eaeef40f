"""An interrupted sam3-ros-annotate run resumes where its checkpoint is, with the same track ids."""

import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from rosbags.highlevel import AnyReader

from sam3_ros.annotate.checkpoint import load_checkpoint
from sam3_ros.engine.concept_tracker import ConceptTracker

CHECKPOINT_EVERY = 5


def _start_tool(args, env) -> subprocess.Popen:
    """`python -m sam3_ros.annotate` in its own process."""
    command = [sys.executable, "-m", "sam3_ros.annotate", *map(str, args)]
    return subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)


def _journal_lines(output: Path) -> int:
    journal = output / "journal.jsonl"
    return journal.read_bytes().count(b"\n") if journal.exists() else 0


def _signal_when(process: subprocess.Popen, output: Path, lines: int, signum: int) -> None:
    deadline = time.monotonic() + 120
    while _journal_lines(output) < lines:
        assert process.poll() is None, f"the tool ended before {lines} frames: {process.stderr.read()}"
        assert time.monotonic() < deadline, "the tool was too slow to start"
        time.sleep(0.01)
    process.send_signal(signum)
    process.wait(timeout=60)


@pytest.fixture
def count_processed_frames(monkeypatch):
    """A list that receives one entry per frame the engine processes in this process."""
    calls = []
    process = ConceptTracker.process

    def counting(self, frame, stamp=None):
        calls.append(stamp)
        return process(self, frame, stamp)

    monkeypatch.setattr(ConceptTracker, "process", counting)
    return calls


def test_killed_run_resumes_without_redoing_frames_and_keeps_track_ids(
    tmp_path, tool_env, run_tool, bikes_args, bikes_run, bikes_expected, count_processed_frames
):
    output = tmp_path / "out"
    args = bikes_args(output, "--checkpoint-every", CHECKPOINT_EVERY)
    process = _start_tool(args, tool_env)
    _signal_when(process, output, 12, signal.SIGKILL)
    assert process.returncode == -signal.SIGKILL
    checkpoint = load_checkpoint(output / "checkpoint.pt")
    assert 10 <= checkpoint.frames_done < bikes_expected.frames
    assert checkpoint.frames_done % CHECKPOINT_EVERY == 0

    # The same command without --resume, or with other prompts, is refused and changes nothing.
    assert "add --resume" in run_tool(*args)
    other = [arg if arg != "bicycle" else "car" for arg in args]
    assert "another run" in run_tool(*other, "--resume")
    assert not count_processed_frames

    assert run_tool(*args, "--resume") == 0
    assert len(count_processed_frames) == bikes_expected.frames - checkpoint.frames_done

    with AnyReader([output / "instances.mcap"]) as reader:
        stamps = [t for _, t, _ in reader.messages()]
    assert stamps == bikes_expected.stamps_ns  # every frame exactly once, in order
    resumed = json.loads((output / "annotations.json").read_text())
    uninterrupted = json.loads((bikes_run / "annotations.json").read_text())
    assert [a["track_id"] for a in resumed["annotations"]] == [a["track_id"] for a in uninterrupted["annotations"]]
    # Same ids on the same frames with the same masks: the engine went on exactly where it was.
    assert resumed["annotations"] == uninterrupted["annotations"]
    assert resumed["videos"] == uninterrupted["videos"]


def test_ctrl_c_checkpoints_the_frames_done_and_says_how_to_resume(tmp_path, tool_env, bikes_args, bikes_expected):
    output = tmp_path / "out"
    process = _start_tool(bikes_args(output, "--checkpoint-every", 1000), tool_env)
    _signal_when(process, output, 3, signal.SIGINT)
    assert process.returncode == 130
    assert "--resume" in process.stderr.read().splitlines()[-1]
    checkpoint = load_checkpoint(output / "checkpoint.pt")
    # Nothing finished is lost although no periodic checkpoint was due.
    assert checkpoint.frames_done == _journal_lines(output) >= 3
    assert checkpoint.frames_done < bikes_expected.frames
