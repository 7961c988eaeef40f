"""A tiny, randomly initialised SAM 3 built from transformers' own config classes.

The real model code runs on it (4 M parameters, tens of ms per frame on a laptop CPU), so tests,
CI and the demo can exercise the whole pipeline without the gated weights. Random weights find
nothing, so a few output biases are set to make every prompt detect exactly one confident object
(`num_queries=1`) that the tracker keeps seeing. Its masks mean nothing.
"""

from __future__ import annotations

import string
from pathlib import Path

import torch
from transformers import (
    CLIPTextConfig,
    CLIPTokenizer,
    Sam3Config,
    Sam3DETRDecoderConfig,
    Sam3DETREncoderConfig,
    Sam3GeometryEncoderConfig,
    Sam3MaskDecoderConfig,
    Sam3TrackerVideoConfig,
    Sam3VideoConfig,
    Sam3VisionConfig,
    Sam3ViTConfig,
)
from transformers.models.sam3_tracker_video.configuration_sam3_tracker_video import (
    Sam3TrackerVideoMaskDecoderConfig,
    Sam3TrackerVideoPromptEncoderConfig,
)

from sam3_ros.engine.streaming_sam3 import StreamingSam3VideoModel

TINY_MODEL_NAME = "tiny-random"
UNTRAINED_BANNER = "UNTRAINED tiny model: masks are meaningless"
_IMAGE_SIZE = 112


def build_tiny_tokenizer() -> CLIPTokenizer:
    """A character-level CLIP tokenizer held in memory (no hub download)."""
    vocab = {"<|startoftext|>": 0, "<|endoftext|>": 1}
    for char in string.ascii_lowercase + string.digits:
        vocab[char] = len(vocab)
        vocab[char + "</w>"] = len(vocab)
    return CLIPTokenizer(
        vocab=vocab,
        merges=[],
        unk_token="<|endoftext|>",
        bos_token="<|startoftext|>",
        eos_token="<|endoftext|>",
        pad_token="<|endoftext|>",
    )


def _vision_config() -> Sam3VisionConfig:
    backbone = Sam3ViTConfig(
        hidden_size=32,
        intermediate_size=64,
        num_hidden_layers=2,
        num_attention_heads=2,
        image_size=_IMAGE_SIZE,
        patch_size=14,
        pretrain_image_size=_IMAGE_SIZE,
        window_size=4,
        global_attn_indexes=[1],
    )
    return Sam3VisionConfig(
        backbone_config=backbone,
        fpn_hidden_size=128,
        backbone_feature_sizes=[[32, 32], [16, 16], [8, 8]],
        scale_factors=[4.0, 2.0, 1.0, 0.5],
    )


def tiny_sam3_config(vocab_size: int, num_queries: int = 1, **video_overrides) -> Sam3VideoConfig:
    small = dict(hidden_size=128, num_layers=1, num_attention_heads=2, intermediate_size=64)
    text = CLIPTextConfig(
        vocab_size=vocab_size,
        hidden_size=32,
        intermediate_size=64,
        projection_dim=32,
        num_hidden_layers=1,
        num_attention_heads=2,
        max_position_embeddings=32,
        bos_token_id=0,
        eos_token_id=1,
        pad_token_id=1,
    )
    detector = Sam3Config(
        vision_config=_vision_config(),
        text_config=text,
        geometry_encoder_config=Sam3GeometryEncoderConfig(**small),
        detr_encoder_config=Sam3DETREncoderConfig(**small),
        detr_decoder_config=Sam3DETRDecoderConfig(num_queries=num_queries, **small),
        mask_decoder_config=Sam3MaskDecoderConfig(hidden_size=128, num_attention_heads=2),
    )
    # The tracker's memory attention hard-codes 64 memory channels, and its hidden sizes must
    # be multiples of 64 above 64; image_size must be passed or __post_init__ resets it to 1008.
    tracker = Sam3TrackerVideoConfig(
        vision_config=_vision_config(),
        image_size=_IMAGE_SIZE,
        prompt_encoder_config=Sam3TrackerVideoPromptEncoderConfig(hidden_size=128, image_size=_IMAGE_SIZE),
        mask_decoder_config=Sam3TrackerVideoMaskDecoderConfig(hidden_size=128, mlp_dim=64, num_attention_heads=2, iou_head_hidden_dim=128),
        num_maskmem=3,
        max_object_pointers_in_encoder=4,
        memory_attention_hidden_size=128,
        memory_attention_num_layers=1,
        memory_attention_feed_forward_hidden_size=64,
        memory_encoder_hidden_size=128,
        memory_encoder_output_channels=64,
        mask_downsampler_embed_dim=128,
        memory_fuser_num_layers=1,
        memory_fuser_embed_dim=128,
        memory_fuser_intermediate_dim=64,
    )
    return Sam3VideoConfig(detector_config=detector, tracker_config=tracker, low_res_mask_size=32, **video_overrides)


@torch.no_grad()
def make_detections_confident(model) -> None:
    """Constant positive query/text scores, presence near 1, and tracked objects always present.

    Works on any randomly initialised SAM 3: the benchmark uses it on the full-size architecture.
    """
    scoring = model.detector_model.dot_product_scoring
    for projection in (scoring.text_proj, scoring.query_proj):
        projection.weight.zero_()
        projection.bias.fill_(1.0)
    model.detector_model.detr_decoder.presence_head.layer3.bias.fill_(8.0)
    model.tracker_model.mask_decoder.pred_obj_score_head.proj_out.bias.fill_(8.0)


def build_tiny_sam3(seed: int = 0, num_queries: int = 1, **video_overrides):
    """Return (model, tokenizer) for a tiny SAM 3 on the CPU in float32."""
    tokenizer = build_tiny_tokenizer()
    torch.manual_seed(seed)
    config = tiny_sam3_config(len(tokenizer.get_vocab()), num_queries=num_queries, **video_overrides)
    model = StreamingSam3VideoModel(config).eval()
    make_detections_confident(model)
    return model, tokenizer


def save_tiny_sam3(directory, seed: int = 0, num_queries: int = 1, **video_overrides) -> Path:
    """Write build_tiny_sam3(...)'s model and tokenizer as a local model folder; returns it.

    The folder is laid out as `hf download facebook/sam3 --local-dir` leaves the real one
    (config.json, model.safetensors, the tokenizer's files), so `load_sam3(str(directory))` takes
    the path of real weights (from_pretrained) and gives back the very same model.
    """
    model, tokenizer = build_tiny_sam3(seed, num_queries, **video_overrides)
    model.save_pretrained(directory)
    tokenizer.save_pretrained(directory)
    return Path(directory)
