"""IdCounters: a tracker built after another (the node's lifecycle cleanup and configure) never reuses its ids."""

from sam3_ros.engine.concept_tracker import ConceptTracker, IdCounters
from sam3_ros.engine.prompt_registry import PromptRequest


def test_a_successor_tracker_continues_the_prompt_and_track_ids(tiny_sam3, make_tracker, bikes_frames):
    first = make_tracker("person", "bicycle", confirm_frames=1)
    result = first.process(bikes_frames[0])
    old_tracks = {i.track_id for i in result.instances}
    old_prompts = {p.id for p in first.active_prompts()}
    assert old_tracks and first.id_counters() == IdCounters(max(old_prompts) + 1, max(old_tracks) + 1)

    model, tokenizer = tiny_sam3
    second = ConceptTracker(model, tokenizer, first.settings, first.id_counters())
    second.add_prompts([PromptRequest("person"), PromptRequest("bicycle")])
    assert min(p.id for p in second.active_prompts()) > max(old_prompts)
    result = second.process(bikes_frames[1])
    assert result.instances and min(i.track_id for i in result.instances) > max(old_tracks)


def test_a_fresh_tracker_counts_from_one(make_tracker):
    assert make_tracker().id_counters() == IdCounters(1, 1)
