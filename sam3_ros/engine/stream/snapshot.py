"""A stream saved to bytes and continued from them, in another tracker or process, with the same track ids."""

from __future__ import annotations

import io
import pickle
from dataclasses import replace

import torch

from sam3_ros.engine.stream.session import StreamState
from sam3_ros.engine.track_ids import TrackIdAllocator


def snapshot(stream: StreamState, settings) -> bytes:
    """Everything the stream needs to go on, with the settings it ran under. The model and
    tokenizer are not in it. It is a torch pickle: restore only your own."""
    buffer = io.BytesIO()
    torch.save({"settings": settings, "stream": replace(stream, idle_frame=None)}, buffer)
    return buffer.getvalue()


def restored(snapshot_bytes: bytes, settings, track_ids: TrackIdAllocator) -> StreamState:
    """The stream saved by `snapshot`, drawing its new track ids from `track_ids` (moved past the
    ids the saved stream had handed out); raises ValueError for a snapshot of other settings."""
    try:
        state = torch.load(io.BytesIO(snapshot_bytes), weights_only=False)
    except (AttributeError, ModuleNotFoundError, pickle.UnpicklingError, EOFError) as error:
        # classes that moved or changed since it was written, or a truncated file
        raise ValueError(f"the snapshot cannot be read by this sam3_ros version ({error})") from error
    if not isinstance(state, dict) or "stream" not in state:
        raise ValueError("the snapshot was written by an earlier sam3_ros version (before streams had their own state)")
    if state["settings"] != settings:
        raise ValueError(f"the snapshot was taken with {state['settings']}, this tracker has {settings}")
    stream = state["stream"]
    stream.ids.share_counter(track_ids)
    return stream
