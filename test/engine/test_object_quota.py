"""Object caps: per prompt and in total, dealt out so that no prompt starves another."""

from collections import Counter

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sam3_ros.engine.object_quota import admit_new_detections
from sam3_ros.engine.tiny_model import build_tiny_sam3


@pytest.fixture(scope="module")
def four_detections_per_prompt():
    return build_tiny_sam3(num_queries=4)


def test_a_busy_first_prompt_does_not_starve_the_second(make_tracker, four_detections_per_prompt, bikes_frames):
    tracker = make_tracker(
        "person", "bicycle", model=four_detections_per_prompt, confirm_frames=1, max_objects_per_prompt=2, max_objects_total=3
    )
    prompt_ids = [p.id for p in tracker.active_prompts()]

    for frame in bikes_frames[:6]:
        per_prompt = Counter(instance.prompt_id for instance in tracker.process(frame).instances)

        assert all(1 <= per_prompt[prompt_id] <= 2 for prompt_id in prompt_ids), per_prompt
        assert sum(per_prompt.values()) <= 3


def admit(detections: list[tuple[int, float]], tracked_prompts=(), max_per_prompt=10, max_total=10) -> list[int]:
    """admit_new_detections on (prompt, score) pairs; detection i has index i."""
    return admit_new_detections(
        candidates=list(range(len(detections))),
        scores=[score for _, score in detections],
        candidate_prompts=[prompt for prompt, _ in detections],
        tracked_prompts=list(tracked_prompts),
        max_per_prompt=max_per_prompt,
        max_total=max_total,
    )


def test_admits_everything_when_under_both_caps():
    assert admit([(1, 0.9), (1, 0.8), (2, 0.7)]) == [0, 1, 2]


def test_per_prompt_cap_keeps_the_best_scoring_detections():
    detections = [(1, 0.5), (1, 0.9), (1, 0.7), (2, 0.6)]

    assert admit(detections, max_per_prompt=2) == [1, 2, 3]


def test_per_prompt_cap_counts_objects_already_tracked():
    assert admit([(1, 0.9), (1, 0.8), (2, 0.7)], tracked_prompts=[1], max_per_prompt=2) == [0, 2]


def test_total_cap_is_dealt_round_robin_over_prompts():
    # Prompt 1 has the three best scores; a first-come cap would give it every free slot.
    detections = [(1, 0.99), (1, 0.98), (1, 0.97), (2, 0.2), (3, 0.1)]

    assert admit(detections, max_total=3) == [0, 3, 4]


def test_prompts_with_fewer_tracked_objects_are_served_first():
    detections = [(1, 0.9), (2, 0.1)]

    assert admit(detections, tracked_prompts=[1, 1], max_total=3) == [1]


def test_nothing_is_admitted_when_the_total_cap_is_already_reached():
    assert admit([(1, 0.9)], tracked_prompts=[2, 2, 3], max_total=3) == []


@st.composite
def quota_problems(draw):
    prompts = st.integers(min_value=1, max_value=4)
    detections = draw(st.lists(st.tuples(prompts, st.floats(0.0, 1.0)), max_size=12))
    tracked = draw(st.lists(prompts, max_size=6))
    return detections, tracked, draw(st.integers(1, 4)), draw(st.integers(1, 10))


@settings(max_examples=300, deadline=None)
@given(quota_problems())
def test_admission_respects_both_caps_fairly(problem):
    detections, tracked, max_per_prompt, max_total = problem

    admitted = admit(detections, tracked, max_per_prompt, max_total)

    tracked_count = Counter(tracked)
    room = {p: max(0, max_per_prompt - tracked_count[p]) for p, _ in detections}
    offered = Counter(p for p, _ in detections)
    got = Counter(detections[i][0] for i in admitted)
    free = max(0, max_total - len(tracked))
    assert len(set(admitted)) == len(admitted) and set(admitted) <= set(range(len(detections)))
    assert all(got[p] <= room[p] for p in got)
    assert len(admitted) <= free
    # Nothing is refused that both caps allow.
    assert len(admitted) == min(free, sum(min(offered[p], room[p]) for p in offered))
    # Round robin: a prompt that could take a detection gets one before any prompt gets a second.
    hungry = [p for p in offered if room[p] > 0]
    if any(got[p] == 0 for p in hungry):
        assert max(got.values(), default=0) <= 1
    if free >= len(hungry):
        assert all(got[p] >= 1 for p in hungry)
