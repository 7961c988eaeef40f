"""Prompt requests the engine refuses, with a message naming the parameter, and changing nothing."""

import pytest

from sam3_ros.engine.prompt_registry import PromptError, PromptRequest


@pytest.fixture
def tracker(make_tracker):
    """Two active prompts out of at most three, each at most 20 characters long."""
    return make_tracker("person", "bicycle", max_prompts=3, max_prompt_length=20)


def requests(*texts):
    return [PromptRequest(text) for text in texts]


ADD_OR_REPLACE = pytest.mark.parametrize("operation", ["add_prompts", "replace_prompts"])


@ADD_OR_REPLACE
def test_more_prompts_than_max_prompts_are_refused(tracker, operation):
    before = tracker.active_prompts()

    with pytest.raises(PromptError, match="max_prompts"):
        getattr(tracker, operation)(requests("person", "car", "dog", "cat"))

    assert tracker.active_prompts() == before


@ADD_OR_REPLACE
def test_a_prompt_longer_than_max_prompt_length_is_refused(tracker, operation):
    before = tracker.active_prompts()

    with pytest.raises(PromptError, match="max_prompt_length"):
        getattr(tracker, operation)(requests("car", "a" * 21))

    assert tracker.active_prompts() == before


@ADD_OR_REPLACE
@pytest.mark.parametrize("text", ["", "   ", "\t\n"])
def test_an_empty_prompt_is_refused(tracker, operation, text):
    before = tracker.active_prompts()

    with pytest.raises(PromptError, match="empty"):
        getattr(tracker, operation)(requests("car", text))

    assert tracker.active_prompts() == before


def test_counting_toward_max_prompts_ignores_texts_already_active(tracker):
    tracker.add_prompts(requests("Person", "car"))

    assert [p.text for p in tracker.active_prompts()] == ["person", "bicycle", "car"]


def test_removing_an_inactive_prompt_is_refused_and_removes_nothing(tracker):
    before = tracker.active_prompts()

    with pytest.raises(PromptError, match="dog"):
        tracker.remove_prompts(texts=["person", "dog"])

    assert tracker.active_prompts() == before
