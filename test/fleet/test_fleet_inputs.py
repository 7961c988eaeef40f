"""Which recordings a sam3-ros-annotate-fleet command names, their output folders, and its refusals (no Ray)."""

import socket
from pathlib import Path

import pytest
import ray

from sam3_ros.annotate.fleet import main
from sam3_ros.annotate.fleet_inputs import InputError, find_recordings, output_names


@pytest.fixture
def tree(tmp_path) -> Path:
    """robot1/ with a rosbag2 folder (its .mcap inside is part of it) and a video; robot2/ with loose files."""
    for path in (
        "robot1/day1/metadata.yaml",
        "robot1/day1/day1_0.mcap",
        "robot1/front.mp4",
        "robot2/day1.mcap",
        "robot2/old.db3",
        "robot2/notes.txt",
    ):
        (tmp_path / path).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / path).write_bytes(b"")
    return tmp_path


def test_a_folder_is_searched_and_a_rosbag2_folder_is_one_recording(tree):
    assert find_recordings([str(tree)]) == [
        tree / "robot1/day1",
        tree / "robot1/front.mp4",
        tree / "robot2/day1.mcap",
        tree / "robot2/old.db3",
    ]


def test_globs_and_files_are_taken_once_each(tree):
    recordings = find_recordings([str(tree / "*" / "*.mcap"), str(tree / "robot2/day1.mcap"), str(tree / "**/day1")])
    assert recordings == [tree / "robot1/day1", tree / "robot2/day1.mcap"]


def test_a_file_named_on_the_command_line_is_taken_whatever_its_suffix(tree):
    assert find_recordings([str(tree / "robot2/notes.txt")]) == [tree / "robot2/notes.txt"]


def test_arguments_that_name_no_recording_are_refused(tree):
    with pytest.raises(InputError, match="does not exist"):
        find_recordings([str(tree / "robot9")])
    with pytest.raises(InputError, match="names no recording"):
        find_recordings([str(tree / "*.bag")])
    (tree / "empty").mkdir()
    with pytest.raises(InputError, match="names no recording"):
        find_recordings([str(tree / "empty")])


def test_output_names_are_unique_and_stable_across_runs(tree):
    first = output_names([tree / "robot1/day1", tree / "robot2/day1.mcap"], {})
    assert first == {tree / "robot1/day1": "day1", tree / "robot2/day1.mcap": "day1-2"}
    # A later run that adds a recording sorting first keeps the earlier names.
    later = output_names([tree / "a/day1.mp4", tree / "robot1/day1", tree / "robot2/day1.mcap"], first)
    assert later == {**first, tree / "a/day1.mp4": "day1-3"}


def _refusal(*args) -> str:
    with pytest.raises(SystemExit) as exit_:
        main([str(arg) for arg in args])
    return exit_.value.code


def test_a_missing_input_an_empty_prompt_and_an_output_root_of_other_settings_are_refused(tmp_path, bikes_path):
    assert _refusal(tmp_path / "nowhere.mp4", "--prompt", "person", "--output", tmp_path / "out") == (
        f"sam3-ros-annotate-fleet: input '{tmp_path / 'nowhere.mp4'}' does not exist"
    )
    assert not (tmp_path / "out").exists()
    assert "empty" in _refusal(bikes_path, "--prompt", " ", "--output", tmp_path / "out")
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "manifest.json").write_text(
        '{"version": 1, "settings": {"prompts": ["person"], "topic": null, "model": "tiny-random", '
        '"device": "auto", "dtype": "auto", "max_frames": null}, "recordings": []}'
    )
    reason = _refusal(bikes_path, "--prompt", "forklift", "--model", "tiny-random", "--output", tmp_path / "out")
    assert "other settings (prompts: ['person'] -> ['forklift'])" in reason and "another --output" in reason


def _port_where_nothing_listens() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def test_a_ray_address_where_nothing_listens_is_refused_at_once_with_what_to_check(tmp_path, bikes_path):
    address = f"127.0.0.1:{_port_where_nothing_listens()}"
    reason = _refusal(bikes_path, "--prompt", "person", "--output", tmp_path / "out", "--ray-address", address)
    assert reason.startswith(f"sam3-ros-annotate-fleet: cannot join the Ray cluster at {address}: nothing answers at {address} (")
    assert "Connection refused" in reason
    for what_to_check in ("--ray-address, else $RAY_ADDRESS", "HOST:PORT", "`ray status`", f"runs Ray {ray.__version__}"):
        assert what_to_check in reason
    assert "\n" not in reason
    assert not ray.is_initialized()


def test_a_malformed_ray_address_is_refused_with_rays_reason(tmp_path, bikes_path, monkeypatch):
    monkeypatch.setenv("RAY_ADDRESS", "head-node")  # no port; taken when --ray-address is not given
    reason = _refusal(bikes_path, "--prompt", "person", "--output", tmp_path / "out")
    assert reason.startswith(
        "sam3-ros-annotate-fleet: cannot join the Ray cluster at head-node: Invalid address format: head-node; check the address"
    )
    assert not ray.is_initialized()
