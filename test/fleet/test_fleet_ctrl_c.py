"""Ctrl-C in a terminal stops sam3-ros-annotate-fleet at a checkpoint, and the same command resumes.

The first run is the installed executable with its own Ray; the resumed one runs in this process on
the module's Ray (conftest.py).
"""

import os
import shutil
import signal
import subprocess
import tempfile
from pathlib import Path

import pytest
from fleet_runs import MAX_FRAMES, by_name, fleet_args, journal_lines, read_manifest, run_fleet, single_tool_outputs_equal, when_journal_has

from sam3_ros.annotate.checkpoint import load_checkpoint
from sam3_ros.node.node_process import executable_path

pytestmark = [pytest.mark.timeout(900), pytest.mark.usefixtures("local_ray")]


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
    args = fleet_args([bikes_path], root, "--checkpoint-every", 1000, "--num-cpus", 2)
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
    when_journal_has(root / "bikes", 3, lambda: os.killpg(command.pid, signal.SIGINT)).join()
    _, stderr = command.communicate(timeout=120)
    said = stderr.replace("\r", "\n").splitlines()
    assert command.returncode == 130, stderr
    bikes = by_name(read_manifest(root))["bikes"]
    assert bikes["status"] == "stopped"
    # The task finished its frame and checkpointed although no periodic checkpoint was due.
    checkpointed = load_checkpoint(root / "bikes" / "checkpoint.pt").frames_done
    assert bikes["frames"] == checkpointed == journal_lines(root / "bikes") >= 3
    assert f"stopped  {bikes['input']} after {checkpointed} frames; the next run resumes it" in said
    assert said[-2:] == [
        f"sam3-ros-annotate-fleet: 0 done, 0 skipped, 0 failed, 1 stopped, 0 pending -> {root / 'manifest.json'}",
        "sam3-ros-annotate-fleet: stopped; run the same command again to resume",
    ]

    assert run_fleet(*args) == 0  # here on this module's Ray
    bikes = by_name(read_manifest(root))["bikes"]
    assert (bikes["status"], bikes["resumed_at"], bikes["frames"]) == ("done", checkpointed, MAX_FRAMES)
    single_tool_outputs_equal(root / "bikes", bikes_run)
