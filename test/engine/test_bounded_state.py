"""A long stream must not grow the engine's state: a node runs for days at camera rate."""

import itertools

import torch

PROMPTS = ("person", "bicycle")


def _tensors(value):
    if isinstance(value, torch.Tensor):
        yield value
    elif isinstance(value, dict):
        for item in value.values():
            yield from _tensors(item)
    elif isinstance(value, (list, tuple)):
        for item in value:
            yield from _tensors(item)


def session_size(session) -> dict[str, int]:
    """Everything in a transformers SAM 3 session that upstream grows by frame."""
    reachable = {id(t): t for t in _tensors([session.output_dict_per_obj, session.processed_frames or {}])}
    return {
        "pixel frames": len(session.processed_frames or {}),
        "tracker outputs": sum(
            len(outputs["cond_frame_outputs"]) + len(outputs["non_cond_frame_outputs"]) for outputs in session.output_dict_per_obj.values()
        ),
        "frames tracked": sum(len(frames) for frames in session.frames_tracked_per_obj.values()),
        "tracker scores by frame": len(session.obj_id_to_tracker_score_frame_wise),
        "suppressed by frame": len(session.suppressed_obj_ids),
        "unmatched frames": sum(len(frames) for frames in session.unmatched_frame_inds.values()),
        "detection scores": len(session.obj_id_to_score),
        "tensor bytes": sum(t.numel() * t.element_size() for t in reachable.values()),
    }


def sizes_after(step, session, frames, checkpoints) -> dict[int, dict[str, int]]:
    """Feed `frames` one by one and measure the session after each checkpoint frame count."""
    sizes = {}
    for count, frame in enumerate(frames, start=1):
        step(frame)
        if count in checkpoints:
            sizes[count] = session_size(session())
    return sizes


def test_engine_state_stays_flat_over_300_frames(make_tracker, reconditioning_sam3, bikes_frames):
    tracker = make_tracker(*PROMPTS, model=reconditioning_sam3, confirm_frames=1)
    frames = itertools.islice(itertools.cycle(bikes_frames), 300)

    sizes = sizes_after(tracker.process, lambda: tracker.session, frames, checkpoints=(100, 300))

    print(sizes)
    assert sizes[100]["pixel frames"] == 1
    assert sizes[300] == sizes[100]
    reconditioned = [len(outputs["cond_frame_outputs"]) for outputs in tracker.session.output_dict_per_obj.values()]
    assert reconditioned and min(reconditioned) > 1, "the stream should have re-conditioned its tracks"


def test_without_pruning_the_same_measure_grows(reconditioning_sam3, plain_stream, bikes_frames):
    """The measure above can see growth: on transformers' own session it grows with every frame."""
    model, tokenizer = reconditioning_sam3
    plain = plain_stream(model, tokenizer, dict(enumerate(PROMPTS, start=1)))

    # 30 frames are enough to show growth; upstream's cost per frame grows with its state.
    sizes = sizes_after(plain.step, lambda: plain.session, bikes_frames, checkpoints=(10, 30))

    print(sizes)
    grown = [name for name in sizes[10] if sizes[30][name] > sizes[10][name]]
    assert grown == [name for name in sizes[10] if name != "detection scores"]
