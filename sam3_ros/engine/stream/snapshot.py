"""A stream saved to bytes and continued from them, in another tracker or process, with the same track ids."""

from __future__ import annotations

import io
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
    state = torch.load(io.BytesIO(snapshot_bytes), weights_only=False)
    if state["settings"] != settings:
        raise ValueError(f"the snapshot was taken with {state['settings']}, this tracker has {settings}")
    stream = state["stream"]
    stream.ids.share_counter(track_ids)
    return stream
