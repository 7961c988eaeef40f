"""The ViT's rotary embeddings computed once: upstream's values, bit for bit, without its per-layer work."""

import pytest
import torch
from torch.utils._python_dispatch import TorchDispatchMode
from transformers.models.sam3.modeling_sam3 import Sam3VisionModel, Sam3ViTRotaryEmbedding

from sam3_ros.engine.tiny_model import build_tiny_sam3


class OperatorCount(TorchDispatchMode):
    def __init__(self):
        super().__init__()
        self.calls = 0

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        self.calls += 1
        return func(*args, **(kwargs or {}))


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
def test_every_layer_gives_upstreams_cos_and_sin_on_every_call(dtype):
    model, _ = build_tiny_sam3()
    layers = model.detector_model.vision_encoder.backbone.layers
    for layer in layers:  # cached in float32 first
        layer.rotary_emb(torch.zeros(1), layer.position_ids)
    model.to(dtype)  # a bf16 model rounds the frequency buffers: the cache must follow
    x = torch.zeros(1, dtype=dtype)
    for layer in layers:
        upstream = Sam3ViTRotaryEmbedding.forward(layer.rotary_emb, x, layer.position_ids)
        for _ in range(2):  # computed, then from the cache
            cos, sin = layer.rotary_emb(x, layer.position_ids)
            assert torch.equal(cos, upstream[0]) and torch.equal(sin, upstream[1])
            assert cos.dtype == upstream[0].dtype == torch.float32


def test_the_vision_encoder_gives_upstreams_features_with_less_work_per_frame():
    model, _ = build_tiny_sam3()
    ours = model.detector_model.vision_encoder
    upstream = Sam3VisionModel(model.config.detector_config.vision_config).eval()
    upstream.load_state_dict(ours.state_dict())
    size = model.config.image_size
    frames = torch.randn(2, 1, 3, size, size)

    def features_and_operators(encoder, frame):
        with torch.inference_mode(), OperatorCount() as count:
            features = encoder(frame)
        return features, count.calls

    ours(frames[0])  # the first frame fills the cache
    for frame in frames:
        expected, upstream_calls = features_and_operators(upstream, frame)
        got, our_calls = features_and_operators(ours, frame)
        assert torch.equal(got.last_hidden_state, expected.last_hidden_state)
        assert all(torch.equal(a, b) for a, b in zip(got.fpn_hidden_states, expected.fpn_hidden_states))
        assert upstream_calls - our_calls >= 10 * len(ours.backbone.layers)


def test_an_export_before_the_first_frame_leaves_the_cache_to_real_frames():
    """TensorRT's ONNX export traces the encoder with fake tensors at start-up, before any frame."""
    model, _ = build_tiny_sam3()
    ours = model.detector_model.vision_encoder
    frame = torch.randn(1, 3, model.config.image_size, model.config.image_size)
    with torch.inference_mode():
        exported = torch.export.export(ours, (frame,))
        features = ours(frame)
    layer = ours.backbone.layers[0]
    upstream = Sam3ViTRotaryEmbedding.forward(layer.rotary_emb, frame, layer.position_ids)
    assert torch.equal(layer.rotary_emb(frame, layer.position_ids)[0], upstream[0])
    assert torch.equal(exported.module()(frame).last_hidden_state, features.last_hidden_state)
