"""A frame is all or nothing: after an exception a stream's tracking state is exactly as before the frame.

Upstream's `Sam3VideoModel.forward` changes the session step by step: the new frame's pixels, new
objects' ids and indices, their mask inputs and tracker outputs, and only at the very end
`max_obj_id` and the per-object metadata. An error halfway (an out-of-memory error while new
objects are added is the likely one, as adding objects is where memory grows) leaves objects that
`max_obj_id` does not cover: the next frame loses them and hands their ids out again.

`SessionCheckpoint` copies the session's containers (dicts, lists, sets, the session and its
cache objects) before the frame and shares every tensor and other leaf with the live session:
a frame replaces tensors but never writes into the ones of earlier frames, so sharing is safe and
the copy costs a walk over a few thousand Python objects, no tensor memory.
"""

from __future__ import annotations

import copy
from collections import OrderedDict, defaultdict
from contextlib import contextmanager

from transformers.models.sam3_video.modeling_sam3_video import (
    Sam3VideoInferenceCache,
    Sam3VideoInferenceSession,
)

from sam3_ros.engine.stream.session import StreamState
from sam3_ros.engine.track_ids import TrackIdBook

_PLAIN_CONTAINERS = (dict, OrderedDict, list, set, tuple)
_STATE_OBJECTS = (Sam3VideoInferenceSession, Sam3VideoInferenceCache)


def copy_containers(value):
    """`value` with every container copied and every leaf (tensors, model outputs, numbers) shared."""
    kind = type(value)
    if kind is defaultdict:
        return defaultdict(value.default_factory, {key: copy_containers(item) for key, item in value.items()})
    if kind in (dict, OrderedDict):
        return kind((key, copy_containers(item)) for key, item in value.items())
    if kind in _PLAIN_CONTAINERS:
        return kind(copy_containers(item) for item in value)
    if kind in _STATE_OBJECTS:
        clone = copy.copy(value)
        clone.__dict__ = {name: copy_containers(item) for name, item in vars(value).items()}
        return clone
    return value


class SessionCheckpoint:
    """The session and the track id book as they were when it was taken."""

    def __init__(self, session: Sam3VideoInferenceSession, ids: TrackIdBook):
        self._session_state = copy_containers(vars(session))
        self._ids = copy.deepcopy(ids)

    def restore(self, session: Sam3VideoInferenceSession, ids: TrackIdBook) -> None:
        """Put `session` and `ids` back in place; public ids handed out since are not handed out again."""
        vars(session).clear()
        vars(session).update(self._session_state)
        ids.restore(self._ids)


@contextmanager
def all_or_nothing(stream: StreamState):
    """A change of a stream's tracking state (a frame, clicks) that either completes or, after any
    exception, leaves the stream exactly as before it; track ids handed out meanwhile stay used."""
    checkpoint = SessionCheckpoint(stream.session, stream.ids)
    before = (stream.next_frame, stream.frame_size, stream.idle_frame, dict(stream.held_until), dict(stream.visual_labels))
    try:
        yield
    except BaseException:
        checkpoint.restore(stream.session, stream.ids)
        stream.next_frame, stream.frame_size, stream.idle_frame, stream.held_until, stream.visual_labels = before
        raise
