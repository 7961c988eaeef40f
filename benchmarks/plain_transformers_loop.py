"""The baseline: SAM 3 on a live stream as transformers' documentation shows it, with nothing of sam3_ros.

transformers' "Streaming Video Inference" example (docs/source/en/model_doc/sam3_video.md) is:

    session = processor.init_video_session(inference_device=device, processing_device="cpu",
                                           video_storage_device="cpu")
    processor.add_text_prompt(inference_session=session, text=text)
    for frame in frames:
        inputs = processor(images=frame, device=device, return_tensors="pt")
        outputs = model(inference_session=session, frame=inputs.pixel_values[0], reverse=False)
        processed = processor.postprocess_outputs(session, outputs, original_sizes=inputs.original_sizes)

`PlainStreamingLoop` runs exactly that. Where torchvision is installed (the full torch set of
scripts/setup.sh), the processor is transformers' own `Sam3VideoProcessor`, built from its image
and video processors and the tokenizer (random weights have no hub checkpoint to load it from).
Only the session dtype is added (the example loads the model in float32; a bf16 model needs a bf16
session). Two pieces of the processor need torchvision, which the light torch set (CPU-only torch
2.13.0) lacks: the image processor (resize with antialias, rescale, normalise) and
`masks_to_boxes`. Without torchvision, `ProcessorWithoutTorchvision` keeps upstream's session,
prompt and post-processing methods and does those two in torch: `processor_kind` says which ran.
"""

from __future__ import annotations

import importlib

import numpy as np
import torch
import torch.nn.functional as F
from transformers import Sam3VideoModel
from transformers.feature_extraction_utils import BatchFeature
from transformers.utils import is_torchvision_available

TORCHVISION = is_torchvision_available()
# The module itself: without torchvision, transformers' lazy package hands out a placeholder that
# raises on any attribute, but the module imports and its class works (bar masks_to_boxes).
processing_sam3_video = importlib.import_module("transformers.models.sam3_video.processing_sam3_video")
Sam3VideoProcessor = processing_sam3_video.Sam3VideoProcessor


def _emulated_masks_to_boxes(masks: torch.Tensor) -> torch.Tensor:
    """torchvision.ops.masks_to_boxes as torchvision writes it: one torch.where (a sync) per mask."""
    boxes = torch.zeros((masks.shape[0], 4), device=masks.device, dtype=torch.float)
    for index, mask in enumerate(masks):
        y, x = torch.where(mask != 0)
        if len(x):
            boxes[index] = torch.stack([x.min(), y.min(), x.max(), y.max()]).float()
    return boxes


def documented_processor(tokenizer, image_size: int):
    """transformers' Sam3VideoProcessor where torchvision is installed, else ProcessorWithoutTorchvision."""
    if not TORCHVISION:
        return ProcessorWithoutTorchvision(tokenizer, image_size)
    from transformers.models.sam2_video.video_processing_sam2_video import Sam2VideoVideoProcessor
    from transformers.models.sam3.image_processing_sam3 import Sam3ImageProcessor

    size = {"height": image_size, "width": image_size}
    # The video processor is what facebook/sam3's processor config names; the streaming loop never calls it.
    return Sam3VideoProcessor(Sam3ImageProcessor(size=size), Sam2VideoVideoProcessor(size=size), tokenizer)


class ProcessorWithoutTorchvision(Sam3VideoProcessor):
    """Upstream's Sam3VideoProcessor methods with its two torchvision pieces done in torch."""

    def __init__(self, tokenizer, image_size: int):
        # ProcessorMixin.__init__ wants image and video processor objects, which need torchvision.
        self.tokenizer = tokenizer
        self.target_size = image_size
        if not hasattr(processing_sam3_video, "masks_to_boxes"):
            # upstream imports it from torchvision at module level only when torchvision exists
            processing_sam3_video.masks_to_boxes = _emulated_masks_to_boxes

    def __call__(self, images: np.ndarray, device=None, return_tensors="pt", **kwargs) -> BatchFeature:
        # Sam3ImageProcessor's steps: HWC uint8 -> CHW on `device`; torchvision resize of a uint8
        # tensor (bilinear, antialias: computed in float, rounded back to uint8); rescale 1/255 and
        # normalise mean = std = 0.5, fused into (x - 127.5) / 127.5 in float32.
        height, width = images.shape[:2]
        image = torch.from_numpy(images).permute(2, 0, 1).contiguous().to(device)
        size = (self.target_size, self.target_size)
        resized = F.interpolate(image[None].float(), size=size, mode="bilinear", align_corners=False, antialias=True)
        pixel_values = (resized.round().to(torch.uint8).float() - 127.5) / 127.5
        return BatchFeature({"pixel_values": pixel_values, "original_sizes": torch.tensor([[height, width]])})


def processor_kind() -> str:
    if TORCHVISION:
        return "transformers' own Sam3VideoProcessor (torchvision installed)"
    return (
        "transformers Sam3VideoProcessor methods; torchvision missing, so its image processor and "
        "masks_to_boxes are emulated in torch with the same steps"
    )


class PlainStreamingLoop:
    """One streaming session of a plain `Sam3VideoModel`, one documented loop step per frame."""

    def __init__(self, model, tokenizer, prompts: list[str]):
        parameter = next(model.parameters())
        self.model = model
        self.device = parameter.device
        self.processor = documented_processor(tokenizer, model.config.image_size)
        self.session = self.processor.init_video_session(
            inference_device=self.device,
            processing_device="cpu",
            video_storage_device="cpu",
            dtype=parameter.dtype,
        )
        self.processor.add_text_prompt(inference_session=self.session, text=prompts)

    @torch.inference_mode()
    def step(self, frame: np.ndarray) -> dict:
        inputs = self.processor(images=frame, device=self.device, return_tensors="pt")
        outputs = self.model(inference_session=self.session, frame=inputs.pixel_values[0], reverse=False)
        return self.processor.postprocess_outputs(self.session, outputs, original_sizes=inputs.original_sizes)

    def tracked_objects(self) -> int:
        return len(self.session.obj_ids)


def plain_copy(model) -> Sam3VideoModel:
    """transformers' own Sam3VideoModel with `model`'s weights, on its device and in its dtype."""
    parameter = next(model.parameters())
    with torch.device(parameter.device):
        plain = Sam3VideoModel(model.config)
    plain.load_state_dict(model.state_dict())
    return plain.to(parameter.device, parameter.dtype).eval()
