"""One tracker on one synthetic sequence, every prompt scored: what the tracking-quality benchmark
and the synthetic-scene demo report.

A tracker is a `Step`: a function from one RGB frame to, per prompt phrase, the masks it tracks by
id. `run_tracker` feeds it a sequence's frames and scores each phrase (sam3_ros.synthetic.
tracking_metrics); `tracker_summary` sums the scores of any number of sequences overall, for the
phrases that name nothing in their sequence (false positives only) and per phrase.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from sam3_ros.engine.concept_tracker import ConceptTracker
from sam3_ros.engine.prompt_registry import PromptRequest
from sam3_ros.synthetic.ground_truth import FrameAnnotations, ids_matching_prompt
from sam3_ros.synthetic.tracking_metrics import Masks, OcclusionEvent, PromptEvaluation, evaluate_prompt, frame_overlap, summarise
from sam3_ros.synthetic.vocabulary import all_prompt_phrases

Tracks = dict[str, Masks]  # phrase -> track id -> mask, one frame
Step = Callable[[np.ndarray], Tracks]


@dataclass(frozen=True)
class SequencePrompts:
    seed: int
    present: list[str]  # phrases naming an object seen in at least one frame
    absent: str  # a phrase naming none, drawn from the seed


def sequence_prompts(seed: int, frames: list[FrameAnnotations]) -> SequencePrompts:
    seen = [obj for frame in frames for obj in frame.objects]
    present = [phrase for phrase in all_prompt_phrases() if ids_matching_prompt(seen, phrase)]
    absent = [phrase for phrase in all_prompt_phrases() if phrase not in present]
    return SequencePrompts(seed, present, str(np.random.default_rng(seed).choice(absent)))


@dataclass(frozen=True)
class PromptResult:
    seed: int
    phrase: str
    present: bool
    evaluation: PromptEvaluation


def run_tracker(
    step: Step, images: list[np.ndarray], frames: list[FrameAnnotations], prompts: SequencePrompts, events: list[OcclusionEvent]
) -> tuple[list[PromptResult], float]:
    """Each prompt's evaluation on one sequence, and the seconds spent in the tracker's steps."""
    phrases = [*prompts.present, prompts.absent]
    overlaps: dict[str, list] = {phrase: [] for phrase in phrases}
    seconds = 0.0
    for image, frame in zip(images, frames):
        start = time.perf_counter()
        tracks = step(image)
        seconds += time.perf_counter() - start
        for phrase in phrases:
            truth = {obj.obj_id: obj.mask for obj in frame.matching(phrase)}
            overlaps[phrase].append(frame_overlap(truth, tracks[phrase]))
    results = []
    for phrase in phrases:
        named = {obj.obj_id for frame in frames for obj in frame.matching(phrase)}
        evaluation = evaluate_prompt(overlaps[phrase], [event for event in events if event.obj_id in named])
        results.append(PromptResult(prompts.seed, phrase, phrase != prompts.absent, evaluation))
    return results, seconds


def concept_tracker_step(tracker: ConceptTracker, phrases: list[str]) -> Step:
    """`tracker` (sam3_ros's engine, one stream) as a Step: the phrases become its prompts, each
    frame's instances are grouped by phrase."""
    added = tracker.add_prompts([PromptRequest(phrase) for phrase in phrases])
    phrase_of = {prompt.id: phrase for phrase, prompt in zip(phrases, added)}

    def step(frame: np.ndarray) -> Tracks:
        tracks: Tracks = {phrase: {} for phrase in phrases}
        for instance in tracker.process(frame).instances:
            tracks[phrase_of[instance.prompt_id]][instance.track_id] = instance.mask
        return tracks

    return step


def tracker_summary(results: list[PromptResult], seconds: float, frames: int) -> dict:
    present = sorted({r.phrase for r in results if r.present}, key=all_prompt_phrases().index)
    return {
        "overall": summarise([r.evaluation for r in results]),
        "absent_prompts": summarise([r.evaluation for r in results if not r.present]),
        "per_prompt": {
            phrase: {
                "sequences": sum(r.present and r.phrase == phrase for r in results),
                **summarise([r.evaluation for r in results if r.present and r.phrase == phrase]),
            }
            for phrase in present
        },
        "seconds_in_tracker": seconds,
        "ms_per_frame": 1000 * seconds / frames,
    }
