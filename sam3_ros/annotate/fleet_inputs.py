"""Which recordings a sam3-ros-annotate-fleet command names, and the output folder of each.

An argument is a recording (a video file, a .mcap/.db3 file, a rosbag2 folder), a folder that is
searched for recordings, or a glob pattern (`**` included) whose matches are taken the same way.
A folder is searched recursively: a rosbag2 folder (it has metadata.yaml) is one recording and is
not searched further; outside those, .mcap/.db3 files and video files (by suffix) are recordings.
"""

from __future__ import annotations

import glob
from pathlib import Path

from sam3_ros.annotate.recording_frames import BAG_SUFFIXES

VIDEO_SUFFIXES = (".mp4", ".avi", ".mov", ".mkv", ".webm", ".m4v", ".mpg", ".mpeg", ".mjpeg", ".wmv")
_GLOB_CHARACTERS = set("*?[")


class InputError(ValueError):
    """An argument names no recording; the message says which and why."""


def find_recordings(arguments: list[str]) -> list[Path]:
    """The recordings the arguments name, as absolute paths, sorted, each once."""
    found: set[Path] = set()
    for argument in arguments:
        if _GLOB_CHARACTERS & set(argument):
            matches = [Path(match) for match in sorted(glob.glob(argument, recursive=True))]
            recordings = [recording for match in matches for recording in _recordings_at(match, named=False)]
        else:
            path = Path(argument)
            if not path.exists():
                raise InputError(f"input '{argument}' does not exist")
            recordings = _recordings_at(path, named=True)
        if not recordings:
            raise InputError(f"'{argument}' names no recording (video files, .mcap/.db3 files, rosbag2 folders)")
        found.update(recording.resolve() for recording in recordings)
    return sorted(found)


def _recordings_at(path: Path, named: bool) -> list[Path]:
    """path itself when it is a recording; the recordings under it when it is a plain folder.

    A file named on the command line is taken whatever its suffix (it fails alone if it is not a
    recording); a file found by a glob or in a folder only with a known suffix.
    """
    if path.is_file():
        return [path] if named or _is_recording_file(path) else []
    if (path / "metadata.yaml").is_file():
        return [path]
    recordings = []
    for child in sorted(path.iterdir()):
        if child.is_dir():
            recordings.extend(_recordings_at(child, named=False))
        elif _is_recording_file(child):
            recordings.append(child)
    return recordings


def _is_recording_file(path: Path) -> bool:
    return path.suffix.lower() in BAG_SUFFIXES + VIDEO_SUFFIXES


def output_names(recordings: list[Path], earlier: dict[Path, str]) -> dict[Path, str]:
    """A folder name under the output root for each recording.

    A recording an earlier run of this root named keeps its name, so adding recordings to a command
    never moves finished outputs. Others get the recording's name without suffix; recordings of
    the same name get -2, -3, ... in the order of their paths.
    """
    names = {recording: earlier[recording] for recording in recordings if recording in earlier}
    taken = set(earlier.values())
    for recording in recordings:
        if recording in names:
            continue
        stem = recording.name if recording.is_dir() else recording.stem
        name, number = stem, 1
        while name in taken:
            number += 1
            name = f"{stem}-{number}"
        names[recording] = name
        taken.add(name)
    return names
