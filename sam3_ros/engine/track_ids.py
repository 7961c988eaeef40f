"""Public track ids: one counter per node (`TrackIdAllocator`), and per stream the confirmation of
new tracks, occlusion tolerance and retirement of lost ones (`TrackIdBook`)."""

from __future__ import annotations

import threading
from dataclasses import dataclass


class TrackIdAllocator:
    """The public track ids of every stream of a node: one counter, never reset, so that no two
    cameras report the same id and no id comes back after a reset or with a new engine."""

    def __init__(self, first_id: int = 1):
        self._next_id = first_id
        self._lock = threading.Lock()  # streams of one node take ids from different threads

    @property
    def next_id(self) -> int:
        return self._next_id

    def take(self) -> int:
        with self._lock:
            self._next_id += 1
            return self._next_id - 1

    def skip_to(self, next_id: int) -> None:
        """Never hand out an id below `next_id` (ids another counter has handed out)."""
        with self._lock:
            self._next_id = max(self._next_id, next_id)

    def __deepcopy__(self, memo):
        # Shared, not part of what is copied: a book's checkpoint must draw from the same counter.
        return self

    def __reduce__(self):
        # A snapshot keeps the count; `TrackIdBook.share_counter` joins it to a live counter.
        return TrackIdAllocator, (self._next_id,)


@dataclass
class _TrackState:
    first_frame: int
    frames_seen: int = 0
    frames_lost: int = 0
    public_id: int | None = None
    max_lost_frames: int | None = None  # None: the book's; -1: never ends while unseen


@dataclass(frozen=True)
class TrackUpdate:
    reported: dict[int, int]  # model object id -> public id, for tracks to publish this frame
    retired: list[int]  # model object ids to remove from the tracker


class TrackIdBook:
    """Maps the model's object ids to the ids the robot sees.

    Streaming mode turns off SAM 3's hotstart de-duplication and never drops a track on its
    own, so this book does both jobs: a track is reported (and given its public id) only after
    `confirm_frames` consecutive visible frames, a track lost before confirmation is retired at
    once as a likely duplicate or false positive, and a confirmed track survives up to
    `max_lost_frames` frames of occlusion before it is retired. Public ids come from one counter
    that is never reset (`TrackIdAllocator`, shared by a node's streams), so an id is never reused,
    also not across engine resets.
    """

    def __init__(self, confirm_frames: int = 3, max_lost_frames: int = 30, allocator: TrackIdAllocator | None = None):
        if confirm_frames < 1:
            raise ValueError("confirm_frames must be at least 1")
        if max_lost_frames < 0:
            raise ValueError("max_lost_frames must be >= 0")
        self.confirm_frames = confirm_frames
        self.max_lost_frames = max_lost_frames
        self._tracks: dict[int, _TrackState] = {}
        self._allocator = TrackIdAllocator() if allocator is None else allocator

    @property
    def next_public_id(self) -> int:
        return self._allocator.next_id

    def share_counter(self, allocator: TrackIdAllocator) -> None:
        """Draw ids from `allocator` from now on, past every id this book has handed out."""
        allocator.skip_to(self._allocator.next_id)
        self._allocator = allocator

    def update(self, frame_index: int, visible: dict[int, bool]) -> TrackUpdate:
        """Record which of the tracker's current objects have a non-empty mask on this frame."""
        for gone in set(self._tracks) - set(visible):
            del self._tracks[gone]
        reported: dict[int, int] = {}
        retired: list[int] = []
        for obj_id, is_visible in visible.items():
            state = self._tracks.setdefault(obj_id, _TrackState(first_frame=frame_index))
            if is_visible:
                state.frames_seen += 1
                state.frames_lost = 0
                if state.public_id is None and state.frames_seen >= self.confirm_frames:
                    state.public_id = self._allocator.take()
                if state.public_id is not None:
                    reported[obj_id] = state.public_id
            else:
                state.frames_lost += 1
                limit = self.max_lost_frames if state.max_lost_frames is None else state.max_lost_frames
                if state.public_id is None or 0 <= limit < state.frames_lost:
                    retired.append(obj_id)
        self.forget(retired)
        return TrackUpdate(reported, retired)

    def adopt(self, obj_id: int, frame_index: int, max_lost_frames: int | None = None) -> int:
        """Confirm an object at once (one the operator pointed at needs no confirmation); its public id.

        `max_lost_frames` replaces the book's for this track (-1: it ends only when forgotten).
        """
        self._tracks[obj_id] = _TrackState(
            first_frame=frame_index, frames_seen=1, public_id=self._allocator.take(), max_lost_frames=max_lost_frames
        )
        return self._tracks[obj_id].public_id

    def object_of(self, public_id: int) -> int | None:
        """The model object id of a live reported track, None if no live track has that public id."""
        return next((obj_id for obj_id, state in self._tracks.items() if state.public_id == public_id), None)

    def public_of(self, obj_id: int) -> int | None:
        state = self._tracks.get(obj_id)
        return state.public_id if state else None

    def frames_tracked(self, obj_id: int, frame_index: int) -> int:
        return frame_index - self._tracks[obj_id].first_frame

    def forget(self, obj_ids) -> None:
        for obj_id in obj_ids:
            self._tracks.pop(obj_id, None)

    def restore(self, earlier: TrackIdBook) -> None:
        """Go back to the tracks of `earlier` (a copy of this book) but keep counting public ids from here."""
        self._tracks = earlier._tracks
        self.confirm_frames, self.max_lost_frames = earlier.confirm_frames, earlier.max_lost_frames

    def clear(self) -> None:
        """Forget every track but keep counting ids, so none is ever handed out twice."""
        self._tracks.clear()
