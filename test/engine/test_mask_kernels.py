"""Detection NMS and connected components without the hub kernel (sam3_ros.engine.mask_kernels).

Without `kernels-community/cv-utils` transformers' SAM 3 keeps every detection and every hole; the
engine's torch implementation must give the kernel's results: greedy NMS over the mask-IoU matrix
and 8-connected components with component sizes.
"""

import cv2
import numpy as np
import pytest
import torch
import torch.nn.functional as F
from transformers.models.sam3_video import modeling_sam3_video

from sam3_ros.engine.concept_tracker import ConceptTracker, TrackerSettings
from sam3_ros.engine.mask_kernels import (
    TORCH_KERNELS,
    TorchMaskKernels,
    install_mask_kernels,
)
from sam3_ros.engine.model_loading import load_sam3
from sam3_ros.engine.prompt_registry import PromptRequest
from sam3_ros.engine.tiny_model import TINY_MODEL_NAME, build_tiny_sam3


@pytest.fixture
def hub_kernel_state():
    """transformers keeps the kernel in a module global: put back what was there after the test."""
    saved = modeling_sam3_video.cv_utils_kernel
    yield
    modeling_sam3_video.cv_utils_kernel = saved


def reference_greedy_nms(ious: np.ndarray, scores: np.ndarray, threshold: float) -> list[int]:
    """Textbook greedy NMS: best score first, drop everything overlapping a kept one by more than threshold."""
    order = sorted(range(len(scores)), key=lambda i: -scores[i])  # stable: ties keep index order
    kept: list[int] = []
    for index in order:
        if all(ious[index, k] <= threshold for k in kept):
            kept.append(index)
    return kept


def random_blob_masks(count: int, height: int, width: int, generator: torch.Generator) -> torch.Tensor:
    """Smooth random blobs that overlap each other by varying amounts, as detections of a scene do."""
    noise = torch.rand(count, 1, height, width, generator=generator)
    return F.avg_pool2d(noise, 9, stride=1, padding=4).squeeze(1) > 0.5


@pytest.mark.parametrize("seed", range(6))
@pytest.mark.parametrize("threshold", [0.1, 0.5])
def test_nms_equals_a_reference_greedy_nms(seed, threshold):
    generator = torch.Generator().manual_seed(seed)
    masks = random_blob_masks(40, 24, 24, generator)
    ious = modeling_sam3_video.mask_iou(masks, masks)
    scores = torch.rand(40, generator=generator)
    scores[5] = scores[7]  # a tie: the lower index goes first, as in a stable sort

    kept = TorchMaskKernels.generic_nms(ious, scores, threshold, use_iou_matrix=True)

    assert kept.tolist() == reference_greedy_nms(ious.numpy(), scores.numpy(), threshold)


def test_nms_keeps_everything_that_does_not_overlap():
    ious = torch.eye(5)
    kept = TorchMaskKernels.generic_nms(ious, torch.tensor([0.1, 0.9, 0.5, 0.3, 0.7]), 0.5, use_iou_matrix=True)
    assert kept.tolist() == [1, 4, 2, 3, 0]


@pytest.mark.parametrize("height, width", [(32, 32), (31, 33), (17, 20), (288, 288), (1, 9)])
@pytest.mark.parametrize("density", [0.3, 0.55, 0.8])
def test_connected_components_equal_opencv_8_connectivity(height, width, density):
    generator = torch.Generator().manual_seed(height * 1000 + width)
    mask = (torch.rand(3, 1, height, width, generator=generator) < density).to(torch.uint8)

    labels, counts = TorchMaskKernels.cc_2d(mask, get_counts=True)

    assert labels.shape == counts.shape == mask.shape and labels.dtype == counts.dtype == torch.int32
    for image, image_labels, image_counts in zip(mask[:, 0].numpy(), labels[:, 0].numpy(), counts[:, 0].numpy()):
        components, cv_labels, stats, _ = cv2.connectedComponentsWithStats(image, connectivity=8)
        assert np.array_equal(image_counts, np.where(cv_labels > 0, stats[cv_labels, cv2.CC_STAT_AREA], 0))
        # The same partition: each OpenCV component has exactly one label of ours and vice versa.
        foreground = image > 0
        pairs = set(zip(image_labels[foreground].tolist(), cv_labels[foreground].tolist()))
        assert len(pairs) == len(set(image_labels[foreground].tolist())) == components - 1
        assert np.array_equal(image_labels > 0, foreground)


def test_hole_filling_uses_the_torch_kernel(hub_kernel_state):
    """SAM 3's own post-processor fills a small hole and removes a sprinkle with it."""
    install_mask_kernels(torch.device("cpu"))
    scores = torch.full((1, 1, 40, 40), -5.0)
    scores[0, 0, 5:30, 5:30] = 5.0
    scores[0, 0, 15:17, 15:17] = -5.0  # a 4-pixel hole
    scores[0, 0, 36, 36] = 5.0  # a 1-pixel sprinkle

    cleaned = modeling_sam3_video.fill_holes_in_mask_scores(scores, max_area=16)

    assert (cleaned[0, 0, 5:30, 5:30] > 0).all()
    assert (cleaned[0, 0, 36, 36] < 0).item()


def force_twin_detections(module, args, output):
    """The detector's second query: the first one's mask plus a 3x3 corner, scored just below it."""
    output.pred_masks[0, 1] = output.pred_masks[0, 0]
    output.pred_masks[0, 1, :3, :3] = 5.0
    output.pred_logits[0, 1] = output.pred_logits[0, 0] - 0.5


def track_ids_seen(frames) -> set[int]:
    model, tokenizer = build_tiny_sam3(num_queries=2)
    model.detector_model.register_forward_hook(force_twin_detections)
    tracker = ConceptTracker(model, tokenizer, TrackerSettings(confirm_frames=1))
    tracker.add_prompts([PromptRequest("person")])
    return {instance.track_id for frame in frames for instance in tracker.process(frame).instances}


def test_two_near_identical_detections_give_one_track(bikes_frames, hub_kernel_state):
    modeling_sam3_video.cv_utils_kernel = False  # what transformers does without the hub kernel
    assert track_ids_seen(bikes_frames[:4]) == {1, 2}  # upstream keeps the duplicate

    assert install_mask_kernels(torch.device("cpu")) == TORCH_KERNELS
    assert track_ids_seen(bikes_frames[:4]) == {1}


def test_loading_the_model_installs_the_torch_kernels_and_says_so(hub_kernel_state, caplog):
    modeling_sam3_video.cv_utils_kernel = False
    with caplog.at_level("INFO", logger="sam3_ros"):
        model, _ = load_sam3(TINY_MODEL_NAME, device="cpu")
    assert model.mask_kernels == TORCH_KERNELS
    assert isinstance(modeling_sam3_video.cv_utils_kernel, TorchMaskKernels)
    assert TORCH_KERNELS in caplog.text
