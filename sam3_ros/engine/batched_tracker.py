"""One SAM 3 tracker step for many objects at once.

transformers' `Sam3TrackerVideoModel.forward` runs `_run_single_frame_inference` once per object
(batch size 1), so every tracked object costs a full memory-attention and mask-decoder pass of
kernel launches. Here all objects without new inputs are stacked along the batch dimension and run
in one pass; their memory tensors and positional encodings are gathered exactly as upstream
gathers them per object. Objects whose memories are shorter (young objects: fewer spatial memory
frames and object pointers) are padded to the longest, and a key mask in the memory attention's
cross-attention (`MemoryCrossAttention`) keeps each object to its own memory, so each object's
result is what its own batch-1 pass computes (up to float summation order) and a frame costs one
pass however many objects joined at different times. Objects that receive inputs on this frame
(new masks, clicks) take upstream's per-object path, as upstream does.

With capture shapes on (`compile_tracker_pass`), the pass sees few distinct shapes, as
torch.compile without dynamic shapes and CUDA graphs need: the object count is rounded up to a
power of two (the extra rows repeat the last object and are dropped), and memories are padded to
the longest an object can have (`_longest_memory`). A stream then runs one shape per object-count
bucket.
"""

from __future__ import annotations

from contextlib import contextmanager

import torch
import torch.nn.functional as F
from transformers.modeling_utils import ALL_ATTENTION_FUNCTIONS
from transformers.models.sam3_tracker_video.modeling_sam3_tracker_video import (
    NO_OBJ_SCORE,
    Sam3TrackerVideoRoPEAttention,
    apply_rotary_pos_emb_2d,
    eager_attention_forward,
    get_1d_sine_pe,
)


class MemoryCrossAttention(Sam3TrackerVideoRoPEAttention):
    """The memory attention's cross-attention to the memory, with a mask over padding keys.

    Upstream's forward attends to every key (it passes attention_mask=None); this is that forward
    with `key_mask` (additive, (batch, 1, 1, keys), set only while a padded batch runs) as the mask.
    """

    key_mask: torch.Tensor | None = None

    def forward(self, query, key, value, position_embeddings, num_k_exclude_rope: int = 0, **kwargs):
        batch_size, point_batch_size = query.shape[:2]
        new_shape = (batch_size * point_batch_size, -1, self.num_attention_heads, self.head_dim)
        query = self.q_proj(query).view(*new_shape).transpose(1, 2)
        key = self.k_proj(key).view(*new_shape).transpose(1, 2)
        value = self.v_proj(value).view(*new_shape).transpose(1, 2)
        cos, sin = position_embeddings
        query, key = apply_rotary_pos_emb_2d(query, key, cos, sin, repeat_freqs_k=self.rope_k_repeat, num_k_exclude_rope=num_k_exclude_rope)
        attention = ALL_ATTENTION_FUNCTIONS.get_interface(self.config._attn_implementation, eager_attention_forward)
        output, weights = attention(
            self,
            query,
            key,
            value,
            attention_mask=self.key_mask,
            dropout=0.0 if not self.training else self.dropout_p,
            scaling=self.scaling,
            is_causal=False,
            **kwargs,
        )
        output = output.reshape(batch_size, point_batch_size, -1, self.num_attention_heads * self.head_dim).contiguous()
        return self.o_proj(output), weights


def install_batched_tracker(tracker) -> None:
    """Make each memory-attention layer's cross-attention of `tracker` a MemoryCrossAttention, and
    run the batched pass eagerly at the shapes it is given (undoes `compile_tracker_pass`).

    The modules keep their weights, device and names; only their class changes (no new module is
    built, so no random initialisation draws from the seed that the tiny test models depend on).
    """
    for layer in tracker.memory_attention.layers:
        layer.cross_attn_image.__class__ = MemoryCrossAttention
    tracker.batched_pass = memory_conditioned_masks
    tracker.capture_shapes = False


def compile_tracker_pass(tracker, mode: str | None = None, backend: str = "inductor") -> None:
    """Run the batched pass (memory attention and mask decoder) under torch.compile, at capture shapes.

    `mode` is torch.compile's (on a GPU "reduce-overhead" replays the pass as a CUDA graph). Shapes
    are static (dynamic=False): one compilation per object-count bucket, each the first time it is
    met (a stall of seconds on a GPU, which is why the node does not offer it yet: that needs every
    bucket compiled at start-up).
    """
    tracker.batched_pass = torch.compile(memory_conditioned_masks, mode=mode, backend=backend, dynamic=False)
    tracker.capture_shapes = True


def object_bucket(count: int) -> int:
    """The object count a capture-shaped pass runs: the next power of two."""
    return 1 << (count - 1).bit_length()


def tracker_step(tracker, session, frame_idx: int, reverse: bool, run_mem_encoder: bool):
    """`Sam3TrackerVideoModel.forward(inference_session, frame_idx, reverse, run_mem_encoder)` for a stream.

    Returns (pred_masks (N, 1, h, w), object_score_logits (N, 1)) in the session's object order, as upstream.
    """
    count = session.get_obj_num()
    outputs: list[dict | None] = [None] * count
    propagated: list[int] = []
    per_object: list[tuple[int, bool, dict | None, torch.Tensor | None]] = []  # obj_idx, init cond, points, masks
    for obj_idx in range(count):
        obj_id = session.obj_idx_to_id(obj_idx)
        has_new_inputs = obj_id in session.obj_with_new_inputs
        if not has_new_inputs and frame_idx in session.output_dict_per_obj[obj_idx]["cond_frame_outputs"]:
            outputs[obj_idx] = session.output_dict_per_obj[obj_idx]["cond_frame_outputs"][frame_idx]
            continue
        if not has_new_inputs:
            propagated.append(obj_idx)
            continue
        is_init_cond_frame = frame_idx not in session.frames_tracked_per_obj[obj_idx]
        points = session.point_inputs_per_obj[obj_idx].get(frame_idx)
        masks = session.mask_inputs_per_obj[obj_idx].get(frame_idx)
        if points is not None or masks is not None:
            session.obj_with_new_inputs.remove(obj_id)
        per_object.append((obj_idx, is_init_cond_frame, points, masks))

    memory_inputs: list[tuple[int, bool]] = []  # obj_idx, whether its mask came from inputs
    for obj_idx, is_init_cond_frame, points, masks in per_object:
        out = step_with_inputs(tracker, session, frame_idx, obj_idx, is_init_cond_frame, points, masks, reverse)
        session.store_output(obj_idx, frame_idx, output_value=out, is_conditioning_frame=is_init_cond_frame)
        if not is_init_cond_frame:
            session.frames_tracked_per_obj[obj_idx][frame_idx] = {"reverse": reverse}
        outputs[obj_idx] = out
        memory_inputs.append((obj_idx, points is not None or masks is not None))

    for obj_idx, out in propagate(tracker, session, frame_idx, propagated, reverse).items():
        session.store_output(obj_idx, frame_idx, output_value=out, is_conditioning_frame=False)
        session.frames_tracked_per_obj[obj_idx][frame_idx] = {"reverse": reverse}
        outputs[obj_idx] = out
        memory_inputs.append((obj_idx, False))

    if run_mem_encoder and tracker.num_maskmem > 0 and memory_inputs:
        memory_inputs.sort()
        tracker._batch_encode_memories(
            inference_session=session,
            frame_idx=frame_idx,
            objects_needing_memory_encoding=[obj_idx for obj_idx, _ in memory_inputs],
            high_res_masks_for_memory=[outputs[obj_idx]["high_res_masks"] for obj_idx, _ in memory_inputs],
            object_score_logits_for_memory=[outputs[obj_idx]["object_score_logits"] for obj_idx, _ in memory_inputs],
            is_mask_from_pts_per_obj=[from_inputs for _, from_inputs in memory_inputs],
        )
    pred_masks = torch.cat([out["pred_masks"] for out in outputs])
    object_score_logits = torch.cat([out["object_score_logits"] for out in outputs]).squeeze(-1)
    return pred_masks, object_score_logits


def step_with_inputs(tracker, session, frame_idx: int, obj_idx: int, is_init_cond_frame: bool, points, masks, reverse: bool) -> dict:
    """Upstream's batch-1 tracker step of one object with its inputs on this frame (clicks or a mask)."""
    with _stream_length(session, frame_idx + 1):
        return tracker._run_single_frame_inference(
            inference_session=session,
            obj_idx=obj_idx,
            frame_idx=frame_idx,
            batch_size=1,
            is_init_cond_frame=is_init_cond_frame,
            point_inputs=points,
            mask_inputs=masks,
            reverse=False if is_init_cond_frame else reverse,
            streaming=False,
        )


class _FramesOfAStream(dict):
    """A pruned session's frames, counted as the stream has seen them."""

    def __init__(self, frames: dict, count: int):
        super().__init__(frames)
        self._count = count

    def __len__(self) -> int:
        return self._count


@contextmanager
def _stream_length(session, num_frames: int):
    """Make `session.num_frames` the number of frames the stream has seen, for one upstream step.

    Upstream's single-object step takes `session.num_frames` (len(processed_frames)) as the video's
    length and scales the object pointers' temporal offsets by min(length, pointer window) - 1.
    The engine keeps only the latest frame's pixels (TrackMemory), so that length would be 1 and a
    step with inputs that reads memory (a refinement) would divide by zero (NaN masks). `propagate`
    passes the stream's count itself.
    """
    frames = session.processed_frames
    session.processed_frames = _FramesOfAStream(frames, num_frames)
    try:
        yield
    finally:
        session.processed_frames = frames


def propagate(tracker, session, frame_idx: int, obj_indices: list[int], reverse: bool) -> dict[int, dict]:
    """Track objects without new inputs onto `frame_idx`, in one batched pass."""
    if not obj_indices:
        return {}
    members: list[tuple[int, list, list, list]] = []
    # A stream has seen frame_idx + 1 frames; the session's own count is no guide once old frames are pruned.
    num_frames = frame_idx + 1
    device = session.inference_device
    for obj_idx in obj_indices:
        slots = [
            (offset, out) for offset, out in tracker._gather_memory_frame_outputs(session, obj_idx, frame_idx, reverse) if out is not None
        ]
        offsets, pointers, max_pointers = tracker._get_object_pointers(
            session, obj_idx, frame_idx, num_frames, device, reverse, streaming=False
        )
        members.append((obj_idx, slots, offsets, pointers))
    return _propagate_batch(tracker, session, frame_idx, members, max_pointers)


def _propagate_batch(tracker, session, frame_idx: int, members, max_pointers: int) -> dict[int, dict]:
    objects = len(members)
    if tracker.capture_shapes:
        members = members + [members[-1]] * (object_bucket(objects) - objects)
    batch = len(members)
    vision = session.cache.get_vision_features(frame_idx)
    vision_feats, vision_pos = vision["vision_feats"], vision["vision_pos_embeds"]
    channels = tracker.hidden_dim
    slot_counts = [len(slots) for _, slots, _, _ in members]
    pointer_counts = [len(pointers) for _, _, _, pointers in members]
    num_slots, num_pointers = max(slot_counts), max(pointer_counts)
    if tracker.capture_shapes:
        most_slots, most_pointers = _longest_memory(tracker)
        num_slots, num_pointers = max(num_slots, most_slots), max(num_pointers, most_pointers)

    # Spatial memories, (frames x HW, batch, mem_dim): per object its frames in upstream's order,
    # then zeros up to the longest memory (masked out below).
    slots = [[out for _, out in member_slots] for _, member_slots, _, _ in members]
    first = next(row[0] for row in slots if row)
    features = torch.stack(_padded([[out["maskmem_features"] for out in row] for row in slots], first["maskmem_features"], num_slots))
    positions = torch.stack(_padded([[out["maskmem_pos_enc"] for out in row] for row in slots], first["maskmem_pos_enc"], num_slots))
    # Offset 0 (a conditioning frame) takes the last temporal encoding, as upstream's [-1].
    # non_blocking: a plain host-to-device copy would wait for all queued device work.
    offsets = [[offset - 1 for offset, _ in member_slots] for _, member_slots, _, _ in members]
    temporal_index = torch.tensor(_padded(offsets, 0, num_slots))
    temporal_index = temporal_index.to(features.device, non_blocking=True)
    positions = positions + tracker.memory_temporal_positional_encoding[temporal_index]
    memory = _batch_second(features, batch, num_slots).to(session.dtype)
    memory_positions = _batch_second(positions, batch, num_slots)

    num_pointer_tokens = 0
    if num_pointers:
        pointers, pointer_positions = _object_pointers(tracker, members, num_pointers, max_pointers, channels)
        memory = torch.cat([memory, pointers.to(memory.dtype)])
        memory_positions = torch.cat([memory_positions, pointer_positions])
        num_pointer_tokens = pointers.shape[0]

    key_mask = None
    if tracker.capture_shapes or min(slot_counts) < num_slots or min(pointer_counts) < num_pointers:
        key_mask = _memory_key_mask(
            slot_counts, pointer_counts, num_slots, first["maskmem_features"].shape[0], num_pointer_tokens // max(num_pointers, 1), memory
        )
    high_res_features = [
        feat.permute(1, 2, 0).reshape(1, feat.size(2), *size).expand(batch, -1, -1, -1)
        for feat, size in zip(vision_feats[:-1], tracker.backbone_feature_sizes[:-1])
    ]
    outputs = tracker.batched_pass(
        tracker, vision_feats[-1], vision_pos[-1], memory, memory_positions, key_mask, num_pointer_tokens, high_res_features
    )
    results = {}
    for row, (obj_idx, _, _, _) in enumerate(members[:objects]):
        results[obj_idx] = {key: value[row : row + 1] for key, value in outputs.items()}
    return results


def _longest_memory(tracker) -> tuple[int, int]:
    """The most memory frames and object pointers an object reads once the engine's TrackMemory has
    pruned: max_cond_frame_num conditioning frames and num_maskmem - 1 recent frames; the first and
    the newest max_cond_frame_num conditioning frames' pointers and max_object_pointers_in_encoder - 1 recent ones."""
    conditioning = max(tracker.config.max_cond_frame_num, 1)
    return conditioning + tracker.num_maskmem - 1, conditioning + tracker.config.max_object_pointers_in_encoder


def memory_conditioned_masks(
    tracker, vision_features, vision_positions, memory, memory_positions, key_mask, num_pointer_tokens: int, high_res_features
) -> dict[str, torch.Tensor]:
    """The batched pass: the frame's features conditioned on each object's memory, then its mask.

    Tensors only (what torch.compile captures): `memory` and `memory_positions` (keys, batch, C),
    `key_mask` None or as `_memory_key_mask`; the frame's features are shared by all objects.
    """
    batch = memory.shape[1]
    cross_attentions = [layer.cross_attn_image for layer in tracker.memory_attention.layers]
    for attention in cross_attentions:
        attention.key_mask = key_mask
    try:
        conditioned = tracker.memory_attention(
            current_vision_features=vision_features.expand(-1, batch, -1),
            current_vision_position_embeddings=vision_positions.expand(-1, batch, -1),
            memory=memory,
            memory_posision_embeddings=memory_positions,
            num_object_pointer_tokens=num_pointer_tokens,
        )
    finally:
        for attention in cross_attentions:
            attention.key_mask = None
    height, width = tracker.backbone_feature_sizes[-1]
    pix_feat = conditioned.squeeze(0).transpose(1, 2).reshape(batch, tracker.hidden_dim, height, width)
    return _decode(tracker, high_res_features + [pix_feat])


def _decode(tracker, image_embeddings: list[torch.Tensor]) -> dict[str, torch.Tensor]:
    """The SAM head of `_single_frame_forward` without clicks, for a batch of objects.

    Upstream's version picks the best of the multimask outputs with indexing that is only right
    for a batch of one (it broadcasts to batch x batch masks), so the selection is done per row here.
    """
    batch = image_embeddings[-1].shape[0]
    device, dtype = image_embeddings[-1].device, image_embeddings[-1].dtype
    multimask = tracker._use_multimask(False, None)
    sparse, dense = tracker.prompt_encoder(
        input_points=torch.zeros(batch, 1, 1, 2, dtype=dtype, device=device),
        input_labels=-torch.ones(batch, 1, 1, dtype=torch.int32, device=device),
        input_boxes=None,
        input_masks=None,
    )
    multimasks, iou_scores, output_tokens, object_score_logits = tracker.mask_decoder(
        image_embeddings=image_embeddings[-1],
        image_positional_embeddings=tracker.get_image_wide_positional_embeddings().expand(batch, -1, -1, -1),
        sparse_prompt_embeddings=sparse,
        dense_prompt_embeddings=dense,
        multimask_output=multimask,
        high_resolution_features=image_embeddings[:-1],
    )
    is_obj_appearing = object_score_logits > 0
    multimasks = torch.where(is_obj_appearing[:, None, None], multimasks, NO_OBJ_SCORE)
    token = output_tokens[:, :, 0]
    if multimask:
        rows, best = torch.arange(batch, device=device), iou_scores.argmax(dim=-1)[:, 0]
        low_res = multimasks[rows, 0, best].unsqueeze(1)
        if output_tokens.size(2) > 1:
            token = output_tokens[rows, 0, best].unsqueeze(1)
    else:
        low_res = multimasks[:, :, 0]
    size = (tracker.image_size, tracker.image_size)
    high_res = F.interpolate(low_res.float(), size=size, mode="bilinear", align_corners=False).to(low_res.dtype)
    appearing = is_obj_appearing.to(dtype)
    pointer = appearing * tracker.object_pointer_proj(token) + (1 - appearing) * tracker.no_object_pointer
    return {
        "pred_masks": low_res,
        "object_pointer": pointer,
        "high_res_masks": high_res,
        "object_score_logits": object_score_logits,
    }


def _batch_second(stacked: torch.Tensor, batch: int, slots: int) -> torch.Tensor:
    """(batch x slots, L, 1, C) stacked per object -> (slots x L, batch, C), upstream's concatenation per object."""
    length, channels = stacked.shape[1], stacked.shape[-1]
    return stacked.reshape(batch, slots * length, channels).transpose(0, 1)


def _padded(rows: list[list], like, length: int) -> list:
    """The rows' items in order, each row filled up to `length`: with zeros shaped like `like` (a
    tensor), or with `like` itself (a number). The zeros are made once, and only if a row is short."""
    if all(len(row) == length for row in rows):
        return [item for row in rows for item in row]
    filler = like.new_zeros(like.shape) if isinstance(like, torch.Tensor) else like
    return [item for row in rows for item in row + [filler] * (length - len(row))]


def _memory_key_mask(slot_counts, pointer_counts, num_slots: int, slot_tokens: int, tokens_per_pointer: int, memory):
    """Additive (batch, 1, 1, keys) mask: 0 on each object's own memory keys, the dtype's minimum on padding.

    Keys are num_slots x slot_tokens spatial tokens, then num_pointers x tokens_per_pointer pointer tokens.
    """
    spatial_keys = num_slots * slot_tokens
    counts = torch.tensor([[s * slot_tokens, spatial_keys + p * tokens_per_pointer] for s, p in zip(slot_counts, pointer_counts)])
    counts = counts.to(memory.device, non_blocking=True)
    keys = torch.arange(memory.shape[0], device=memory.device)
    own = (keys < counts[:, :1]) | ((keys >= spatial_keys) & (keys < counts[:, 1:]))
    padding = torch.zeros(own.shape, dtype=memory.dtype, device=memory.device).masked_fill_(~own, torch.finfo(memory.dtype).min)
    return padding[:, None, None, :]


def _object_pointers(tracker, members, count: int, max_pointers: int, channels: int):
    """Object-pointer tokens and their temporal encodings, as `_process_object_pointers` per object.

    Each object's tokens are padded with zeros to `count` (masked out in the attention).
    """
    batch = len(members)
    example = next(tokens[0] for _, _, _, tokens in members if tokens)
    pointers = torch.stack(_padded([tokens for _, _, _, tokens in members], example, count))
    pointers = pointers.reshape(batch, count, channels).transpose(0, 1)  # (count, batch, C)
    mem_dim = tracker.mem_dim
    if tracker.config.enable_temporal_pos_encoding_for_object_pointers:
        offsets = torch.tensor(_padded([member_offsets for _, _, member_offsets, _ in members], 0, count), dtype=torch.float32)
        offsets = offsets.to(pointers.device, non_blocking=True) / float(max_pointers - 1)
        sine = get_1d_sine_pe(offsets, dim=channels).to(pointers.dtype)
        positions = tracker.temporal_positional_encoding_projection_layer(sine).reshape(batch, count, mem_dim).transpose(0, 1)
    else:
        positions = pointers.new_zeros(count, batch, mem_dim)
    if mem_dim < channels:
        splits = channels // mem_dim
        pointers = pointers.reshape(count, batch, splits, mem_dim).permute(0, 2, 1, 3).flatten(0, 1)
        positions = positions.repeat_interleave(splits, dim=0)
    return pointers, positions
