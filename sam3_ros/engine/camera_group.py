"""The streams of one node's cameras on one model: prompts node-wide, track ids unique over all cameras."""

from __future__ import annotations

import threading

from sam3_ros.engine.concept_tracker import ConceptTracker, IdCounters, TrackerSettings
from sam3_ros.engine.prompt_registry import Prompt, PromptRequest
from sam3_ros.engine.track_ids import TrackIdAllocator
from sam3_ros.engine.visual_prompts import VisualPrompt, VisualPromptError


class CameraGroup:
    """One ConceptTracker per camera, all on `model`, all drawing track ids from `track_ids`.

    A prompt change goes to every camera (an operator says "forklift" once); the changes are made
    one at a time and in the same order in every tracker, so a prompt has the same id in all of
    them. A visual object starts on the camera whose image its pixels are in; it is refined or
    removed on whichever camera tracks it, as track ids are unique.
    """

    def __init__(self, model, tokenizer, cameras, settings: TrackerSettings, ids: IdCounters, track_ids: TrackIdAllocator):
        if not cameras:
            raise ValueError("a camera group needs at least one camera")
        self.trackers = {camera: ConceptTracker(model, tokenizer, settings, ids, track_ids) for camera in cameras}
        self.first = next(iter(self.trackers.values()))
        self.device, self.dtype = self.first.device, self.first.dtype
        self._prompt_changes = threading.Lock()

    def active_prompts(self) -> list[Prompt]:
        return self.first.active_prompts()

    def add_prompts(self, requests: list[PromptRequest]) -> list[Prompt]:
        return self._everywhere(lambda tracker: tracker.add_prompts(requests))

    def remove_prompts(self, prompt_ids=(), texts=()) -> list[Prompt]:
        return self._everywhere(lambda tracker: tracker.remove_prompts(prompt_ids, texts))

    def replace_prompts(self, requests: list[PromptRequest]) -> list[Prompt]:
        return self._everywhere(lambda tracker: tracker.replace_prompts(requests))

    def _everywhere(self, change):
        """`change` on every tracker; the first's answer. Every tracker validates a request alike
        (same settings, same prompts), so a refused one is refused by the first, before any change."""
        with self._prompt_changes:
            return [change(tracker) for tracker in self.trackers.values()][0]

    def track_object(self, prompt: VisualPrompt, label: str = "", camera: str = "") -> int:
        """A new visual object on `camera` ("" on a group of one camera); raises VisualPromptError for
        a camera the group does not have."""
        return self._tracker_of(camera).track_object(prompt, label)

    def _tracker_of(self, camera: str) -> ConceptTracker:
        if camera in self.trackers:
            return self.trackers[camera]
        names = ", ".join(f"'{name}'" for name in self.trackers)
        if not camera:
            raise VisualPromptError(f"this node has the cameras {names}: say in `camera` whose image the pixels are in")
        raise VisualPromptError(f"no camera '{camera}': this node's cameras are {names}")

    def refine_object(self, track_id: int, prompt: VisualPrompt) -> None:
        self._tracking(track_id).refine_object(track_id, prompt)

    def remove_object(self, track_id: int) -> None:
        self._tracking(track_id).remove_object(track_id)

    def visual_objects(self) -> dict[int, tuple[str, str]]:
        """Track id -> (camera, label) of every visual object of every camera."""
        return {
            track_id: (camera, label) for camera, tracker in self.trackers.items() for track_id, label in tracker.visual_objects().items()
        }

    def _tracking(self, track_id: int) -> ConceptTracker:
        """The tracker with the live track `track_id`; the first if none has it (it then refuses the id)."""
        return next((tracker for tracker in self.trackers.values() if tracker.is_live(track_id)), self.first)

    def id_counters(self) -> IdCounters:
        counters = [tracker.id_counters() for tracker in self.trackers.values()]
        return IdCounters(max(c.next_prompt_id for c in counters), max(c.next_track_id for c in counters))
