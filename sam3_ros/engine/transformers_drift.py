"""Every transformers internal the engine builds on, and a check that it is what the engine was written against.

The engine subclasses Sam3VideoModel and overrides its hooks, re-implements upstream code batched
(detector, tracker, association), swaps a module's class and a module global, and reads and writes
the inference session's fields directly. None of that is public API, so a new transformers release
can change any of it, and most such changes would not fail a test: the engine would silently
compute something else than upstream. Hence the pin (requirements-runtime.txt) and this guard.

`DEPENDENCIES` lists each upstream function, method or class with the sha256 of its source at
`TRANSFORMERS_VERSION` (`inspect.getsource`, not normalised: any edit counts, a comment or a
docstring too, as re-reading costs less than missing a change), the engine places that depend on it
and what they rely on. `changed_upstream()` returns the entries whose installed source differs or no
longer exists; test/engine/test_transformers_drift.py fails on them. Only after re-reading each
changed definition against its engine places (docs/transformers-upgrade.md) record the installed
sources with `python -m sam3_ros.engine.transformers_drift --refresh`.
"""

from __future__ import annotations

import argparse
import hashlib
import importlib.metadata
import inspect
import pkgutil
import re
import sys
from dataclasses import dataclass
from pathlib import Path

TRANSFORMERS_VERSION = "5.23.0"  # the release the hashes below were taken from (written by --refresh)


@dataclass(frozen=True)
class Dependency:
    upstream: str  # dotted name of a transformers function, method or class
    sha256: str  # of its source at TRANSFORMERS_VERSION (written by --refresh)
    engine: tuple[str, ...]  # dotted names of the engine code that depends on it
    recheck: str  # what that code relies on, to compare with the new source


# Each entry's name and hash stay on consecutive lines: --refresh finds the hash after the name.
DEPENDENCIES = (
    # -- Sam3VideoModel: the hooks the engine overrides, and the code that calls them --------------
    Dependency(
        "transformers.models.sam3_video.modeling_sam3_video.Sam3VideoModel.__init__",
        "41388a89b636db5614a3c64b785a51587cb0cd3fa7fd1c96f91030ba61fc05f0",
        (
            "sam3_ros.engine.streaming_sam3.StreamingSam3VideoModel.__init__",
            "sam3_ros.engine.stream.session.DetectionLimits.of_config",
            "sam3_ros.engine.association.associate",
        ),
        "the submodules detector_model and tracker_model; the cap the engine sets (max_num_objects, "
        "infinite: a stream's caps are its session's) and the attributes it reads (assoc_iou_thresh, "
        "trk_assoc_iou_thresh, high_conf_thresh, high_iou_thresh, init_trk_keep_alive), and that the cap "
        "and the thresholds score_threshold_detection and new_det_thresh come from the config",
    ),
    Dependency(
        "transformers.models.sam3_video.modeling_sam3_video.Sam3VideoModel.run_detection",
        "28881164c002b2d9214fcb95599fc9c33e88d731a851bad88bd214a680732243",
        (
            "sam3_ros.engine.streaming_sam3.StreamingSam3VideoModel.run_detection",
            "sam3_ros.engine.batched_detector.detect",
        ),
        "re-implemented batched over prompts: text features cached in prompt_embeddings, probabilities "
        "sigmoid(logits) x sigmoid(presence), NMS, the score threshold, {bbox, mask, scores} per prompt id",
    ),
    Dependency(
        "transformers.models.sam3_video.modeling_sam3_video.Sam3VideoModel.run_tracker_propagation",
        "eaaa8585fb64a85dd03a4b8542f6e19c5a4e46b6e7dfc97436357f351299558a",
        ("sam3_ros.engine.streaming_sam3.StreamingSam3VideoModel.run_tracker_propagation",),
        "re-implemented on the batched tracker step: hole filling, output shapes, the no-object case "
        "(the engine hands the score logits on in float32)",
    ),
    Dependency(
        "transformers.models.sam3_video.modeling_sam3_video.Sam3VideoModel._associate_det_trk",
        "15100be36fd976414245c0d1b1b8e23a85225f432bd56a0a8b4404653d819cab",
        (
            "sam3_ros.engine.streaming_sam3.StreamingSam3VideoModel._associate_det_trk",
            "sam3_ros.engine.association.associate",
        ),
        "re-implemented with one host transfer: the thresholds, the tie rule (argmax takes the first "
        "maximum), the empty cases and the five values returned",
    ),
    Dependency(
        "transformers.models.sam3_video.modeling_sam3_video.Sam3VideoModel._process_hotstart",
        "7ad7ee4268baf8b01c2a305df954af53be6e381bb0e184bdd309431ffc0ab651",
        (
            "sam3_ros.engine.track_ids.TrackIdBook",
            "sam3_ros.engine.track_memory.TrackMemory.forget_dead_objects",
            "sam3_ros.engine.stream.visual_objects.track_object",
        ),
        "removes no object when streaming (TrackIdBook confirms and retires tracks instead); the "
        "per-object metadata it grows, which TrackMemory trims; it reads trk_keep_alive of every matched object",
    ),
    Dependency(
        "transformers.models.sam3_video.modeling_sam3_video.Sam3VideoModel._prepare_recondition_masks",
        "8fe6f697dccd6eb0d1b697ccf1d271bc0a6b58427c74ecc343b596b973d967e0",
        ("sam3_ros.engine.streaming_sam3.StreamingSam3VideoModel._prepare_recondition_masks",),
        "wrapped: the engine drops held objects from trk_id_to_max_iou_high_conf_det before calling it; "
        "its signature and what that mapping means",
    ),
    Dependency(
        "transformers.models.sam3_video.modeling_sam3_video.Sam3VideoModel._suppress_overlapping_based_on_recent_occlusion",
        "be9652fca729d8ef98e6a64c972b940dd941efd6bd91039cd6d14918d39de806",
        ("sam3_ros.engine.streaming_sam3.StreamingSam3VideoModel._suppress_overlapping_based_on_recent_occlusion",),
        "re-implemented without host synchronisation: NEVER_OCCLUDED, ALWAYS_OCCLUDED and NO_OBJ_LOGIT, "
        "grouping by prompt, the obj_id_to_last_occluded it writes, the in-place update of the masks",
    ),
    Dependency(
        "transformers.models.sam3_video.modeling_sam3_video.Sam3VideoModel._suppress_object_pw_area_shrinkage",
        "de27dda4b41cbf87acb7968be1c996b0cb21aa8b4368ca61da3e011c28b50030",
        ("sam3_ros.engine.streaming_sam3.StreamingSam3VideoModel._suppress_object_pw_area_shrinkage",),
        "re-implemented with prompt groups from the host: _suppress_object_pw_area_shrinkage_impl per prompt",
    ),
    Dependency(
        "transformers.models.sam3_video.modeling_sam3_video.Sam3VideoModel._tracker_update_memories",
        "d9a4cf44a593ac988b3ebd84efd762caa8a1dae508cf0f2bf680eef2f30b4a84",
        ("sam3_ros.engine.streaming_sam3.StreamingSam3VideoModel._suppress_object_pw_area_shrinkage",),
        "calls the overridden area-shrinkage suppression with prompt_ids as a host list",
    ),
    Dependency(
        "transformers.models.sam3_video.modeling_sam3_video.Sam3VideoModel._tracker_add_new_objects",
        "121750202c1015008f9b0da148fc721ae72f7d2410ed0ff1a5caf973f190bd0b",
        ("sam3_ros.engine.streaming_sam3.StreamingSam3VideoModel._tracker_add_new_objects",),
        "re-implemented: masks >= 0.5 as mask inputs, obj_with_new_inputs, one tracker step with memory encoding",
    ),
    Dependency(
        "transformers.models.sam3_video.modeling_sam3_video.Sam3VideoModel.run_tracker_update_planning_phase",
        "6c4b324a94a175d3a8652f05c5afde11a95ab244cea3b78283bac06f72e117f6",
        (
            "sam3_ros.engine.streaming_sam3.StreamingSam3VideoModel._associate_det_trk",
            "sam3_ros.engine.stream.visual_objects.track_object",
        ),
        "how it calls the overridden association (without the session, which the engine's forward "
        "provides), re-conditioning and suppression; its global object cap must stay a no-op after the engine's quota; the metadata it sets for a new object, which "
        "track_object sets for a visual one",
    ),
    Dependency(
        "transformers.models.sam3_video.modeling_sam3_video.Sam3VideoModel.run_tracker_update_execution_phase",
        "dbb1f9623f0f7d755b64f5d29c4376a712b9d416ba82d65254b641a9cca01ea7",
        ("sam3_ros.engine.streaming_sam3.StreamingSam3VideoModel._tracker_add_new_objects",),
        "passes the new objects' detector mask logits to the overridden _tracker_add_new_objects",
    ),
    Dependency(
        "transformers.models.sam3_video.modeling_sam3_video.Sam3VideoModel._det_track_one_frame",
        "feecc5da31111478c827612fbb407f7c43ef7511fbd02bfe211d5dd2529f02b6",
        (
            "sam3_ros.engine.streaming_sam3.StreamingSam3VideoModel.run_tracker_propagation",
            "sam3_ros.engine.stream.visual_objects.clicked_frame",
        ),
        "the order of the overridden hooks, the sigmoid it applies to the tracker score logits, and the "
        "vision-feature cache entry (vision_feats, vision_pos_embeds) that clicked_frame fills the same way",
    ),
    Dependency(
        "transformers.models.sam3_video.modeling_sam3_video.Sam3VideoModel.forward",
        "61a6685a0fa95ea18ca8e706f401a991f0c1e8ce961255b6ef645f8c70172bfe",
        (
            "sam3_ros.engine.stream.rollback.SessionCheckpoint",
            "sam3_ros.engine.stream.session.run_frame",
            "sam3_ros.engine.streaming_sam3.StreamingSam3VideoModel.forward",
        ),
        "which session fields a frame replaces and which it changes in place (the checkpoint copies "
        "containers and shares tensors), and its arguments (inference_session, frame, frame_idx)",
    ),
    # -- the streaming session, whose fields the engine reads, writes, prunes and copies -----------
    Dependency(
        "transformers.models.sam3_video.modeling_sam3_video.Sam3VideoInferenceSession.__init__",
        "17594756eae14fe4e4d13ecc14d98d7b75e68c8aeab7509e6c582aafe087e443",
        (
            "sam3_ros.engine.track_memory.TrackMemory.prune",
            "sam3_ros.engine.track_memory.TrackMemory.forget_dead_objects",
            "sam3_ros.engine.track_memory.session_footprint",
            "sam3_ros.engine.stream.rollback.copy_containers",
            "sam3_ros.engine.stream.prompts.register",
            "sam3_ros.engine.stream.session.StreamSession",
        ),
        "the names and container types of the session's fields; a new growing field needs pruning, and "
        "obj_with_new_inputs is still not set here",
    ),
    Dependency(
        "transformers.models.sam3_video.modeling_sam3_video.Sam3VideoInferenceSession.add_prompt",
        "951db192f084d7deaffd9f55a0897f564ae4b5a7df09e5cadfd021e22d46106c",
        ("sam3_ros.engine.stream.prompts.register",),
        "bypassed (it numbers prompts with len(prompts), which reuses a live id after a removal): the "
        "engine writes prompts itself, so add_prompt must do nothing else",
    ),
    Dependency(
        "transformers.models.sam3_video.modeling_sam3_video.Sam3VideoInferenceSession.obj_id_to_idx",
        "d50f47fafde2ecb76dbcaf84dbbc5a519b0afd7576aa897ed9fe098042d5faf7",
        (
            "sam3_ros.engine.stream.visual_objects.track_object",
            "sam3_ros.engine.batched_tracker.tracker_step",
        ),
        "creates an object's per-object tables on first use, with the cond_frame_outputs and "
        "non_cond_frame_outputs dicts the engine reads and prunes",
    ),
    Dependency(
        "transformers.models.sam3_video.modeling_sam3_video.Sam3VideoInferenceSession.remove_object",
        "0c68ecf8069125aec35ce21a93111f0c57d124179481e683c88f306fd84e06b1",
        (
            "sam3_ros.engine.track_memory.TrackMemory.remove_objects",
            "sam3_ros.engine.stream.visual_objects.clicked_frame",
        ),
        "re-indexes the per-object tables but leaves the per-object metadata (forget_dead_objects drops "
        "it); removing the last object resets the session and empties its feature cache",
    ),
    Dependency(
        "transformers.models.sam3_video.modeling_sam3_video.Sam3VideoInferenceSession.num_frames",
        "d172e46ab6c35de5ca2ddd9d2a33a7f822588741ba1e3e22b84c0c674df9686d",
        ("sam3_ros.engine.batched_tracker._stream_length",),
        "is len(processed_frames), which the engine makes the stream's frame count for one step",
    ),
    Dependency(
        "transformers.models.sam3_video.modeling_sam3_video.Sam3VideoInferenceCache.__init__",
        "d7fe5d660945ce2398611e65947722977654c9ba8c270a5ef239efdf3324493a",
        ("sam3_ros.engine.stream.rollback.copy_containers",),
        "its state is plain containers of tensors, which the checkpoint copies",
    ),
    # -- NMS and hole filling, whose hub kernel the engine replaces --------------------------------
    Dependency(
        "transformers.models.sam3_video.modeling_sam3_video._load_cv_utils_kernel_once",
        "caeb37a083d357db670a6ea19152e3ba6e97b42c568db675600422e0ba148504",
        (
            "sam3_ros.engine.mask_kernels.install_mask_kernels",
            "sam3_ros.engine.batched_detector._suppress_duplicates",
        ),
        "the module global cv_utils_kernel (None: not tried, False: failed, else the kernel) that the engine reads and replaces",
    ),
    Dependency(
        "transformers.models.sam3_video.modeling_sam3_video.nms_masks",
        "bb2ef3703b8d3a04a900ed45e79e434d5c2ddd481f75e080e53000a114df5c57",
        (
            "sam3_ros.engine.batched_detector._suppress_duplicates",
            "sam3_ros.engine.mask_kernels.TorchMaskKernels.generic_nms",
        ),
        "re-implemented for all prompts at once: threshold first, mask IoU matrix, the kernel's "
        "generic_nms call and result, skipped without a kernel",
    ),
    Dependency(
        "transformers.models.sam3_video.modeling_sam3_video._get_connected_components_with_padding",
        "5aed79d687578479642d802c7d15f15e1bb213f6cbe3d81b8cabd09f2cf45a84",
        ("sam3_ros.engine.mask_kernels.TorchMaskKernels.cc_2d",),
        "how it calls cc_2d (uint8 (N, 1, H, W) padded to even sizes, get_counts=True) and uses its counts",
    ),
    # -- the streaming processor, whose steps the engine does itself -------------------------------
    Dependency(
        "transformers.models.sam3_video.processing_sam3_video.Sam3VideoProcessor.add_text_prompt",
        "2a181dc500bbf9849c8b54ea678ed0ba192886e03694097433b58fd2d92832de",
        ("sam3_ros.engine.stream.prompts.register",),
        "the tokenisation the engine repeats: padding to max_length 32 (the engine also truncates)",
    ),
    Dependency(
        "transformers.models.sam3_video.processing_sam3_video.Sam3VideoProcessor.postprocess_outputs",
        "a45988ab2cbb5f9fa57048a914cba5974597800fd8e32b05432087ba8940610d",
        (
            "sam3_ros.engine.mask_postprocessing.masks_at_source_size",
            "sam3_ros.engine.mask_postprocessing.keep_one_owner_per_pixel",
        ),
        "bilinear upsampling (align_corners=False) then > 0, and one owner per pixel within a prompt "
        "by tracker score (the engine decides ownership at low resolution)",
    ),
    Dependency(
        "transformers.models.sam3_video.processing_sam3_video.Sam3VideoProcessor._apply_object_wise_non_overlapping_constraints_impl",
        "58e85b6732b45d306463017be1eee215ab5d7361e0ee81bb9b31af3aae7d370e",
        ("sam3_ros.engine.mask_postprocessing.keep_one_owner_per_pixel",),
        "the highest-scoring claimant keeps a pixel; the others are clamped to the background value",
    ),
    Dependency(
        "transformers.models.sam3.image_processing_sam3.Sam3ImageProcessor",
        "81e9c62add4b480ff01ebc5377936594bcfe48c28c2fd9e3eff086e2d8395c75",
        ("sam3_ros.engine.frame_preprocessing.frame_to_pixel_values",),
        "its defaults: bilinear resize to a square, rescale by 1/255, normalise with mean = std = 0.5",
    ),
    Dependency(
        "transformers.image_processing_backends.TorchvisionBackend.resize",
        "3f84c32c17b2f8d659e41a2e0bf6f2bb6cae383d2c52a92b9cbf9d98ade07041",
        ("sam3_ros.engine.frame_preprocessing.frame_to_pixel_values",),
        "antialiased bilinear resize (upstream resizes the uint8 image, the engine the float one)",
    ),
    # -- the tracker, run batched over objects -----------------------------------------------------
    Dependency(
        "transformers.models.sam3_tracker_video.modeling_sam3_tracker_video.Sam3TrackerVideoModel.forward",
        "e37c6d9fece86d07ff707de95d007a55a9f68737043b540ee56e2d5fdce2e84f",
        (
            "sam3_ros.engine.batched_tracker.tracker_step",
            "sam3_ros.engine.visual_prompts.condition_on_clicks",
        ),
        "re-implemented for many objects: reuse of conditioning outputs, obj_with_new_inputs, the "
        "is_init_cond_frame and reverse rules, frames_tracked_per_obj, batched memory encoding, output order",
    ),
    Dependency(
        "transformers.models.sam3_tracker_video.modeling_sam3_tracker_video.Sam3TrackerVideoModel._run_single_frame_inference",
        "2fd96a44f62ead460f218151ce772d0218d053812ad6ca5d45d63e1c4943abe3",
        (
            "sam3_ros.engine.batched_tracker.step_with_inputs",
            "sam3_ros.engine.batched_tracker._propagate_batch",
        ),
        "called for objects with inputs (it reads session.num_frames); its propagation branch is what "
        "_propagate_batch computes for many objects",
    ),
    Dependency(
        "transformers.models.sam3_tracker_video.modeling_sam3_tracker_video.Sam3TrackerVideoModel._prepare_memory_conditioned_features",
        "f15945261c2853c239a9d4ac59ad333783f4be7f8ea75f67ae3cf081fc36da6a",
        ("sam3_ros.engine.batched_tracker._propagate_batch",),
        "re-implemented batched: order of the memories, the cast to the session dtype, object-pointer "
        "tokens and their count, the reshape of the result",
    ),
    Dependency(
        "transformers.models.sam3_tracker_video.modeling_sam3_tracker_video.Sam3TrackerVideoModel._gather_memory_frame_outputs",
        "820b9866837295745b56c895519a27ee3128a0fa13dfb2a787d091b5f224287a",
        ("sam3_ros.engine.batched_tracker.propagate",),
        "called: (temporal offset, output or None) pairs, the conditioning frames first at offset 0",
    ),
    Dependency(
        "transformers.models.sam3_tracker_video.modeling_sam3_tracker_video.Sam3TrackerVideoModel._build_memory_attention_inputs",
        "2766c01b529cfead66c8d22b539ac484bed534f7b2e7c27cc7b6812805f85e3a",
        ("sam3_ros.engine.batched_tracker._propagate_batch",),
        "re-implemented: slots without output skipped, temporal encoding [offset - 1] (offset 0 takes the last)",
    ),
    Dependency(
        "transformers.models.sam3_tracker_video.modeling_sam3_tracker_video.Sam3TrackerVideoModel._get_object_pointers",
        "edba069925550702aad09176adaf08489a6eb53c7cdd162c1f36d50798d62fb0",
        ("sam3_ros.engine.batched_tracker.propagate",),
        "called with streaming=False and the stream's frame count; returns (offsets, pointers, max pointers)",
    ),
    Dependency(
        "transformers.models.sam3_tracker_video.modeling_sam3_tracker_video.Sam3TrackerVideoModel._process_object_pointers",
        "02f91e7416ea9f101c741dae8ba3266d83b596131e71f4debeb07afb46881678",
        ("sam3_ros.engine.batched_tracker._object_pointers",),
        "re-implemented: sine encoding of offsets / (max pointers - 1), its projection, the split into mem_dim tokens",
    ),
    Dependency(
        "transformers.models.sam3_tracker_video.modeling_sam3_tracker_video.Sam3TrackerVideoModel._single_frame_forward",
        "29116bc31e2f3bf255c3a9dbfcc353f817fc2c2837fc0eaa8af23973710fd640",
        ("sam3_ros.engine.batched_tracker._decode",),
        "its SAM head without clicks, re-implemented per row (upstream's multimask selection is right for "
        "one object only): NO_OBJ_SCORE, the high-resolution interpolation, the object pointer",
    ),
    Dependency(
        "transformers.models.sam3_tracker_video.modeling_sam3_tracker_video.Sam3TrackerVideoModel._batch_encode_memories",
        "5b95678b7b1fdcd946552e0d2f04d61e5e4ca8674e166793f20bd8d1d2a0cd6c",
        (
            "sam3_ros.engine.batched_tracker.tracker_step",
            "sam3_ros.engine.visual_prompts.condition_on_clicks",
        ),
        "called: its arguments, and that it stores into whichever of the frame's outputs holds the frame",
    ),
    Dependency(
        "transformers.models.sam3_tracker_video.modeling_sam3_tracker_video.Sam3TrackerVideoModel._select_closest_cond_frames",
        "f36f069f8c6e3d19fb0a02528fc7cf90629dca1d1d2b572f79ea47231f1a4510",
        (
            "sam3_ros.engine.track_memory.TrackMemory.prune",
            "sam3_ros.engine.batched_tracker._longest_memory",
        ),
        "which conditioning frames the memory attention reads (max_cond_frame_num): pruning keeps the "
        "first and the newest, and capture shapes assume that count",
    ),
    Dependency(
        "transformers.models.sam3_tracker_video.modeling_sam3_tracker_video.Sam3TrackerVideoRoPEAttention.forward",
        "1bf6bd8f338adaa1df74314a897a06f9705b37e08adce0486b2b3f6d721ddbe6",
        ("sam3_ros.engine.batched_tracker.MemoryCrossAttention.forward",),
        "copied with attention_mask=key_mask instead of None: carry every change over",
    ),
    Dependency(
        "transformers.models.sam3_tracker_video.modeling_sam3_tracker_video.Sam3TrackerVideoMemoryAttentionLayer",
        "34f0cf3dcc6739f71d89e5882e60156484b390a004e2929329face7f86eec06d",
        ("sam3_ros.engine.batched_tracker.install_batched_tracker",),
        "cross_attn_image is the attention to the memory (a Sam3TrackerVideoRoPEAttention, whose class the engine swaps)",
    ),
    Dependency(
        "transformers.models.sam3_tracker_video.modeling_sam3_tracker_video.Sam3TrackerVideoMemoryAttention.forward",
        "d22a500b02b7e1db39ca02bfa5bf4e75e332d01f224d392a32f604e85b41a72d",
        ("sam3_ros.engine.batched_tracker.memory_conditioned_masks",),
        "run with a batch of objects: the memory layout (keys, batch, C) and its transposes",
    ),
    Dependency(
        "transformers.models.sam3_tracker_video.modeling_sam3_tracker_video.Sam3TrackerVideoPromptEncoder",
        "ddcf34eeb2f45f42b2cc308d5e8a7aae7ddc73076a95bbd728f2df739a5e46d8",
        ("sam3_ros.engine.visual_prompts.VisualPrompt.point_inputs",),
        "point labels 1 and 0 for clicks, 2 and 3 for box corners (as _embed_boxes), -1 for no point; "
        "coordinates at the model's input size",
    ),
    # -- the detector and the vision backbone ------------------------------------------------------
    Dependency(
        "transformers.models.sam3.modeling_sam3.Sam3Model.forward",
        "4fa7559c328787ad96f7798a89c4704a4e5e9ece7ff4f142dc4060c2c9cbb87b",
        ("sam3_ros.engine.batched_detector._detector_pass",),
        "it reads only fpn_hidden_states and fpn_position_encoding of vision_embeds and pooler_output "
        "of text_embeds; the DETR runs on the last FPN level but one",
    ),
    Dependency(
        "transformers.models.sam3.modeling_sam3.Sam3DetrDecoder._get_coords",
        "05de9c7bf4da94ad2ece3058e1e04d85e019f29c4745260f58a84233a7267f44",
        ("sam3_ros.engine.batched_detector.HostSizedCoords",),
        "replaced by an instance attribute: the same grids (arange / size) from the size the host knows",
    ),
    Dependency(
        "transformers.models.sam3.modeling_sam3.Sam3DetrDecoder._get_rpb_matrix",
        "223c200503a5510cc5f7530f166c77d98bd70ded4abe29cabb8022f2647ed770",
        ("sam3_ros.engine.batched_detector.HostSizedCoords",),
        "calls _get_coords(height, width, dtype=, device=) with the feature map's size",
    ),
    Dependency(
        "transformers.models.sam3.modeling_sam3.Sam3GeometryEncoder._encode_boxes",
        "1d1a0dadf8bccc6052c108fd6c8d28186abb75d526a5aa35d772800d2fbe9e7b",
        ("sam3_ros.engine.stream.prompts.EXEMPLARS_SUPPORTED",),
        "exemplar boxes are pooled with torchvision's roi_align, imported only where torchvision is available",
    ),
    Dependency(
        "transformers.models.sam3.modeling_sam3.Sam3VisionModel.forward",
        "90e5acec74df49db192ec2d27590082f67c871e850405a42626430fbe065a4f1",
        (
            "sam3_ros.engine.tensorrt_vision.TensorRTVisionEncoder",
            "sam3_ros.engine.vision_backends.vision_feature_tensors",
        ),
        "the TensorRT engine stands in for it: what it returns (last_hidden_state, fpn_hidden_states, fpn_position_encoding)",
    ),
    Dependency(
        "transformers.models.sam3.modeling_sam3.Sam3VisionEncoderOutput",
        "6b8bb19d21ec573875452714424a07bee18716695e40dca65e0a15f494a4dc17",
        (
            "sam3_ros.engine.batched_detector._detector_pass",
            "sam3_ros.engine.tensorrt_vision.TensorRTVisionEncoder",
        ),
        "the fields the engine builds it from",
    ),
    Dependency(
        "transformers.models.sam3.modeling_sam3.Sam3ViTRotaryEmbedding",
        "2f550b5bb9373f7d976bc7beed40fcbf134d9a5b4c2b5d9bcc212fb9dc64102f",
        ("sam3_ros.engine.vision_rope_cache.FixedGridRotaryEmbedding",),
        "subclassed with a cache: its result must depend on nothing but the device, the buffers' dtype and position_ids",
    ),
    Dependency(
        "transformers.models.sam3.modeling_sam3.Sam3ViTLayer",
        "d6ad6264c0c470d6dbacf55f27fa6a7367ccf2f04e142bf3e43897bf97477ce8",
        ("sam3_ros.engine.vision_rope_cache.cache_vision_rotary_embeddings",),
        "each layer calls self.rotary_emb(hidden_states, self.position_ids), a fixed grid per layer",
    ),
    Dependency(
        "transformers.modeling_utils.PreTrainedModel._init_weights",
        "a315e7d7cb0006e74605453465a4909e692153af80773bd8f734a859ed2b31bd",
        ("sam3_ros.engine.vision_rope_cache.FixedGridRotaryEmbedding",),
        'rotary buffers are initialised by class name ("RotaryEmbedding") and original_inv_freq',
    ),
)


def resolve(dotted: str):
    """What a dotted name (a module, then attributes) names; raises ImportError or AttributeError."""
    found = pkgutil.resolve_name(dotted)
    return found.fget if isinstance(found, property) else found


def source_sha256(upstream: str) -> str | None:
    """The sha256 of the installed source of `upstream`, None where it is gone or has no source."""
    try:
        source = inspect.getsource(resolve(upstream))
    except (ImportError, AttributeError, TypeError, OSError):
        return None
    return hashlib.sha256(source.encode()).hexdigest()


def changed_upstream() -> list[Dependency]:
    """The entries whose installed source differs from the recorded one or no longer exists."""
    return [dependency for dependency in DEPENDENCIES if source_sha256(dependency.upstream) != dependency.sha256]


def missing_engine_places() -> list[str]:
    """The engine places named in DEPENDENCIES that do not exist (renamed or removed)."""
    missing = []
    for place in dict.fromkeys(place for dependency in DEPENDENCIES for place in dependency.engine):
        try:
            resolve(place)
        except (ImportError, AttributeError):
            missing.append(place)
    return missing


def drift_report(changed: list[Dependency]) -> str:
    installed = importlib.metadata.version("transformers")
    lines = [
        f"The installed transformers {installed} differs from the transformers {TRANSFORMERS_VERSION} the engine was checked against, in:"
    ]
    for dependency in changed:
        state = "changed" if source_sha256(dependency.upstream) else "no longer exists"
        lines.append(f"- {dependency.upstream} ({state})")
        lines.append(f"    re-check {', '.join(dependency.engine)}: {dependency.recheck}")
    lines.append(
        "Re-read each against its engine code (docs/transformers-upgrade.md), run test/engine/test_equivalence.py, "
        "then record the new sources: python -m sam3_ros.engine.transformers_drift --refresh"
    )
    return "\n".join(lines)


def with_hashes(text: str, hashes: dict[str, str], version: str) -> str:
    """This module's source `text` with each upstream name's hash and TRANSFORMERS_VERSION replaced."""
    for upstream, sha256 in hashes.items():
        text, count = re.subn(rf'("{re.escape(upstream)}",\s*")[0-9a-f]{{64}}"', rf'\g<1>{sha256}"', text)
        if count != 1:
            raise ValueError(f"{upstream}: its hash must follow its name once in this module, found {count}")
    return re.sub(r'^TRANSFORMERS_VERSION = "[^"]*"', f'TRANSFORMERS_VERSION = "{version}"', text, count=1, flags=re.M)


def refresh() -> list[Dependency]:
    """Record the installed sources' hashes and version in this file; the entries that changed."""
    changed = changed_upstream()
    hashes = {dependency.upstream: source_sha256(dependency.upstream) for dependency in DEPENDENCIES}
    gone = [upstream for upstream, sha256 in hashes.items() if sha256 is None]
    if gone:
        raise SystemExit(
            f"gone from transformers, nothing to record: {', '.join(gone)}; move the engine off them and update their entries first"
        )
    path = Path(__file__)
    path.write_text(with_hashes(path.read_text(), hashes, importlib.metadata.version("transformers")))
    return changed


def markdown_table() -> str:
    """The table of docs/transformers-upgrade.md."""
    rows = ["| transformers | engine | what the engine relies on |", "| --- | --- | --- |"]
    for dependency in DEPENDENCIES:
        places = "<br>".join(f"`{place}`" for place in dependency.engine)
        rows.append(f"| `{dependency.upstream}` | {places} | {dependency.recheck} |")
    return "\n".join(rows) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m sam3_ros.engine.transformers_drift",
        description="Check the transformers internals the engine builds on against the installed transformers.",
    )
    action = parser.add_mutually_exclusive_group()
    action.add_argument(
        "--refresh",
        action="store_true",
        help="record the installed sources' hashes; only after re-reading each changed one against its engine code",
    )
    action.add_argument("--markdown", action="store_true", help="print the table of docs/transformers-upgrade.md")
    args = parser.parse_args(argv)
    if args.markdown:
        print(markdown_table(), end="")
        return 0
    if args.refresh:
        changed = refresh()
        print("\n".join([f"recorded {len(changed)} new hash(es)"] + [f"- {d.upstream}" for d in changed]))
        return 0
    changed = changed_upstream()
    print(drift_report(changed) if changed else f"no drift: all {len(DEPENDENCIES)} definitions match transformers {TRANSFORMERS_VERSION}")
    return 1 if changed else 0


if __name__ == "__main__":
    sys.exit(main())
