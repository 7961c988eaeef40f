"""The node's state file: the active prompt texts, kept on disk so a killed node restarts with them.

JSON, `{"version": 1, "prompts": ["person", "red cup"]}`. Writes are atomic (a temporary file in
the same folder, fsync, os.replace, fsync of the folder): a crash or power cut mid-write leaves the
previous file or the new one, never half of one. No rclpy here; the node decides what to do with a
file that cannot be used (it logs and falls back to the `prompts` parameter).
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path

STATE_VERSION = 1


class StateFileError(ValueError):
    """A state file that cannot be read or written; the message names the file and the problem."""


def encode_prompt_state(texts) -> str:
    return json.dumps({"version": STATE_VERSION, "prompts": list(texts)}, ensure_ascii=False, indent=1) + "\n"


def decode_prompt_state(content: str, source: str = "state file") -> list[str]:
    """The prompt texts of a state file's content; raises StateFileError for anything else."""
    try:
        document = json.loads(content)
    except ValueError as error:  # JSONDecodeError, and UnicodeDecodeError from bytes
        raise StateFileError(f"{source} is not valid JSON: {error}") from error
    if not isinstance(document, dict):
        raise StateFileError(f"{source} holds a {type(document).__name__}, not an object with 'version' and 'prompts'")
    if document.get("version") != STATE_VERSION:
        raise StateFileError(f"{source} has version {document.get('version')!r}; this node reads version {STATE_VERSION}")
    prompts = document.get("prompts")
    if not isinstance(prompts, list) or not all(isinstance(text, str) for text in prompts):
        raise StateFileError(f"{source}: 'prompts' must be a list of strings, got {prompts!r:.200}")
    return prompts


def read_prompt_state(path: str | os.PathLike) -> list[str] | None:
    """The prompt texts stored at `path`; None if there is no file yet (first start)."""
    path = Path(path)
    try:
        content = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return None
    except (OSError, UnicodeDecodeError) as error:
        raise StateFileError(f"cannot read state file {path}: {error}") from error
    return decode_prompt_state(content, f"state file {path}")


def write_prompt_state(path: str | os.PathLike, texts) -> None:
    """Replace the file at `path` atomically with `texts`; raises StateFileError if it cannot."""
    path = Path(path)
    content = encode_prompt_state(texts).encode("utf-8")
    tmp_name = None
    try:
        # Same folder: os.replace is only atomic within one file system.
        fd, tmp_name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
        with os.fdopen(fd, "wb") as tmp:
            tmp.write(content)
            tmp.flush()
            os.fsync(tmp.fileno())
        os.replace(tmp_name, path)
        tmp_name = None
        _fsync_folder(path.parent)  # makes the rename itself durable
    except OSError as error:
        raise StateFileError(f"cannot write state file {path}: {error}") from error
    finally:
        if tmp_name is not None:
            Path(tmp_name).unlink(missing_ok=True)


def _fsync_folder(folder: Path) -> None:
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
