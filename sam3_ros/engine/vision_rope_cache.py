"""The ViT's rotary position embeddings, computed once instead of in every layer of every frame.

Each of SAM 3's 32 ViT layers recomputes its rotary cos/sin from the layer's fixed grid of patch
positions on every forward: about 20 operators per layer, some 600 kernel launches per frame that
always give the same two tensors. `cache_vision_rotary_embeddings` swaps each layer's embedding
for a subclass that runs upstream's own forward once per device and buffer dtype and then hands
back the stored result, so the values are upstream's, bit for bit. Under torch.compile and
export (TensorRT's ONNX path) it computes as upstream does: a traced graph folds the values into
constants itself, and tracing stays free of a Python-side cache to guard on or to fill with the
tracer's fake tensors.
"""

from __future__ import annotations

import torch
from transformers.models.sam3.modeling_sam3 import Sam3ViTRotaryEmbedding


class FixedGridRotaryEmbedding(Sam3ViTRotaryEmbedding):
    """A ViT layer's rotary embedding, whose positions never change: computed once per device.

    The class name keeps "RotaryEmbedding" so that transformers initialises its frequency buffers
    exactly as it does upstream's.
    """

    def __init__(self, config):
        super().__init__(config)
        self._cached: tuple[tuple, tuple[torch.Tensor, torch.Tensor]] | None = None

    def forward(self, x, position_ids):
        if torch.compiler.is_compiling() or torch.onnx.is_in_onnx_export():
            return super().forward(x, position_ids)
        # What the result depends on besides the fixed grid: where it lands and the buffers'
        # precision (a model cast to bf16 rounds inv_freq and the positions).
        key = (x.device, self.inv_freq.dtype, position_ids.dtype)
        if self._cached is None or self._cached[0] != key:
            # Ordinary tensors even when the first frame runs under inference_mode: inference
            # tensors could not take part in a later forward that records gradients.
            with torch.inference_mode(False):
                self._cached = (key, super().forward(x, position_ids))
        return self._cached[1]


def cache_vision_rotary_embeddings(vision_encoder) -> None:
    """Give every ViT layer of `vision_encoder` (a Sam3VisionModel) a FixedGridRotaryEmbedding."""
    for layer in vision_encoder.backbone.layers:
        layer.rotary_emb = FixedGridRotaryEmbedding(layer.rotary_emb.config)
