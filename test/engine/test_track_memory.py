"""TrackMemory.prune on a real transformers session that re-conditions every second frame."""

import pytest

from sam3_ros.engine.track_memory import TrackMemory

FRAMES = 16  # 8 conditioning frames per object, well over what the tracker reads


def frames_held(session, kind: str) -> dict[int, list[int]]:
    return {obj: sorted(outputs[kind]) for obj, outputs in session.output_dict_per_obj.items()}


@pytest.fixture(scope="module")
def pruned_stream(reconditioning_sam3, plain_stream, bikes_frames):
    """Stream, pruning after every frame; per frame, what the session held before and after pruning."""
    model, tokenizer = reconditioning_sam3
    config = model.config.tracker_config
    memory = TrackMemory(config.num_maskmem, config.max_object_pointers_in_encoder, config.max_cond_frame_num)
    plain = plain_stream(model, tokenizer, {1: "person", 2: "bicycle"})
    history = []
    for frame_idx, frame in enumerate(bikes_frames[:FRAMES]):
        plain.step(frame)
        conditioning_before = frames_held(plain.session, "cond_frame_outputs")
        other_before = frames_held(plain.session, "non_cond_frame_outputs")
        memory.prune(plain.session, frame_idx)
        history.append(
            {
                "conditioning before": conditioning_before,
                "other before": other_before,
                "conditioning after": frames_held(plain.session, "cond_frame_outputs"),
                "other after": frames_held(plain.session, "non_cond_frame_outputs"),
                "pixel frames after": sorted(plain.session.processed_frames),
            }
        )
    return config, history


def test_prune_keeps_the_first_and_the_newest_conditioning_frames(pruned_stream):
    config, history = pruned_stream
    ever_created: dict[int, set[int]] = {}

    for held in history:
        for obj, frames in held["conditioning before"].items():
            ever_created.setdefault(obj, set()).update(frames)
            first, *later = sorted(ever_created[obj])
            assert held["conditioning after"][obj] == [first] + later[-config.max_cond_frame_num :]

    assert all(len(frames) == FRAMES // 2 for frames in ever_created.values()), "every second frame re-conditions"


def test_prune_keeps_the_recent_frames_the_next_frame_reads_and_no_older_ones(pruned_stream):
    config, history = pruned_stream
    reach = max(config.num_maskmem, config.max_object_pointers_in_encoder)

    for frame_idx, held in enumerate(history):
        assert held["pixel frames after"] == [frame_idx]
        for obj, frames in held["other after"].items():
            # The next frame reads memories and object pointers of up to reach - 1 frames back from it.
            still_read = [f for f in held["other before"][obj] if f > frame_idx + 1 - reach]
            assert set(still_read) <= set(frames)
            # TrackMemory keeps the outputs of the last `reach` frames, and no older ones.
            assert all(f >= frame_idx - reach for f in frames)
