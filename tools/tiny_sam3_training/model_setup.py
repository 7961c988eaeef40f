"""The model that is trained: the project's tiny SAM 3 config with 16 queries, a wider, deeper ViT
and a deeper DETR encoder and decoder.

The ViT runs on an 8x8 patch grid, so widening it costs little (the FPN and mask-decoder convolutions
dominate a training step) and it is what has to tell a 10-pixel circle from a triangle. A
one-layer decoder must regress each query's box from its learned anchor in a single step; three
layers refine it (with a loss on every layer), as DETR-style detectors need.
"""

from __future__ import annotations

from transformers import Sam3VideoConfig, Sam3VideoModel

from sam3_ros.engine.tiny_model import build_tiny_tokenizer, tiny_sam3_config

NUM_QUERIES = 16
VIT_HIDDEN_SIZE = 64
VIT_LAYERS = 4
VIT_HEADS = 4
DETR_ENCODER_LAYERS = 2
DETR_DECODER_LAYERS = 3
TEXT_TOKENS = 32  # the engine pads every prompt to 32 tokens


def training_config() -> Sam3VideoConfig:
    config = tiny_sam3_config(len(build_tiny_tokenizer().get_vocab()), num_queries=NUM_QUERIES)
    # The tracker's copy of the vision config must agree: its neck and prompt encoder are sized from it.
    for vision in (config.detector_config.vision_config, config.tracker_config.vision_config):
        backbone = vision.backbone_config
        backbone.hidden_size = VIT_HIDDEN_SIZE
        backbone.intermediate_size = 2 * VIT_HIDDEN_SIZE
        backbone.num_hidden_layers = VIT_LAYERS
        backbone.num_attention_heads = VIT_HEADS
        backbone.global_attn_indexes = list(range(1, VIT_LAYERS, 2))
    config.detector_config.detr_encoder_config.num_layers = DETR_ENCODER_LAYERS
    config.detector_config.detr_decoder_config.num_layers = DETR_DECODER_LAYERS
    return config


def build_model(config: Sam3VideoConfig | None = None) -> Sam3VideoModel:
    """transformers' plain Sam3VideoModel (not the engine's streaming subclass, whose per-stream
    `_get_coords` stand-in breaks a training forward)."""
    return Sam3VideoModel(config or training_config())


def tokenize(tokenizer, phrases: list[str]):
    return tokenizer(phrases, return_tensors="pt", padding="max_length", max_length=TEXT_TOKENS, truncation=True)
