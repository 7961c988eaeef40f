"""The tracker pass at capture shapes: object counts rounded up to a power of two and memories
padded to the longest an object can have, so that torch.compile without dynamic shapes (and CUDA
graphs) compile a stream's tracker once per object-count bucket instead of once per object count
and memory length. Padding must not change what is computed."""

import pytest
import torch
import torch._dynamo

from sam3_ros.engine.batched_tracker import (
    compile_tracker_pass,
    install_batched_tracker,
    object_bucket,
)
from sam3_ros.engine.concept_tracker import ConceptTracker, TrackerSettings
from sam3_ros.engine.prompt_registry import PromptRequest

PROMPTS = {1: "person", 2: "bicycle"}


@pytest.fixture
def fresh_dynamo():
    torch._dynamo.reset()
    yield
    torch._dynamo.reset()


def test_object_buckets_are_powers_of_two():
    assert [object_bucket(n) for n in (1, 2, 3, 4, 5, 8, 9, 30, 33)] == [1, 2, 4, 4, 8, 8, 16, 32, 64]


def test_capture_shaped_tracker_tracks_as_transformers(crowded_sam3, bikes_frames, engine_model_stream, plain_stream, fresh_dynamo):
    """Mask logits within 1e-4 of their range, as the eager batched tracker (test_equivalence.py);
    the pass runs traced by torch.compile (its "eager" backend: the captured graph, no code generation)."""
    engine, plain = engine_model_stream(*crowded_sam3, PROMPTS), plain_stream(*crowded_sam3, PROMPTS)
    compile_tracker_pass(engine.model.tracker_model, backend="eager")
    worst = 0.0
    # Without the engine's TrackMemory, conditioning frames pile up and memories outgrow the padding:
    # more shapes than a pruned stream has, so more recompilations than torch's default limit.
    with torch._dynamo.config.patch(recompile_limit=64):
        for frame in bikes_frames:
            engine.step(frame)
            plain.step(frame)
            worst = max(worst, engine.logit_difference(plain))
    print(f"largest relative logit difference {worst:.2e} over {len(plain.mask_logits)} objects")
    assert worst <= 1e-4


@pytest.fixture
def compiled_crowded_sam3(crowded_sam3):
    """crowded_sam3 whose tracker pass is compiled by a backend that records each graph's inputs."""
    graphs = []

    def recording_backend(graph, example_inputs):
        graphs.append({node.name: tuple(node.meta["example_value"].shape) for node in graph.graph.find_nodes(op="placeholder")})
        return graph.forward

    compile_tracker_pass(crowded_sam3[0].tracker_model, backend=recording_backend)
    yield crowded_sam3, graphs
    install_batched_tracker(crowded_sam3[0].tracker_model)


def test_a_stream_compiles_the_tracker_once_per_object_bucket(compiled_crowded_sam3, bikes_frames, fresh_dynamo):
    """Objects join on many frames (6 to 40 of them here, re-conditioned every second frame), yet
    the tracker pass is compiled only for the buckets 8, 16, 32 and 64, all with one memory length,
    and without graph breaks."""
    (sam3, tokenizer), graphs = compiled_crowded_sam3
    tracker = ConceptTracker(sam3, tokenizer, TrackerSettings(confirm_frames=1, max_lost_frames=1000))
    tracker.add_prompts([PromptRequest(text) for text in PROMPTS.values()])
    torch._dynamo.utils.counters.clear()
    objects = [len(tracker.process(frame).instances) for frame in bikes_frames]

    memories = [shape for graph in graphs for name, shape in graph.items() if name.endswith("memory_")]
    assert len(memories) == len(graphs), graphs
    assert len({keys for keys, _, _ in memories}) == 1, memories  # one memory length
    batches = sorted(batch for _, batch, _ in memories)
    assert batches == sorted({object_bucket(batch) for batch in batches}), batches  # one graph per bucket
    assert len(batches) <= max(objects).bit_length() + 1
    assert not torch._dynamo.utils.counters["graph_break"]
